package main_test

// End-to-end tests of how accounts are named and chosen, on the real
// binary: emails match without regard to case, logout passes the default
// account on, status lists only the accounts that still have a session.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// hostFolder is the auth host's cache folder.
func (w *world) hostFolder() string { return filepath.Dir(w.sessionPath(alice)) }

// files lists the names in the auth host's cache folder, sorted.
func (w *world) files() []string {
	w.t.Helper()
	entries, err := os.ReadDir(w.hostFolder())
	if err != nil {
		w.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// session reads the session file at path as JSON.
func (w *world) session(path string) map[string]any {
	w.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		w.t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		w.t.Fatal(err)
	}
	return s
}

// Work@Example.com and work@example.com are one account: one login, one
// session file and one lock, named by the lower-case email; the login
// speaks to the person (and Akiflow) in the spelling typed.
func TestEmailsMatchWithoutRegardToCase(t *testing.T) {
	w := newWorld(t)
	const typed, key = "Work@Example.com", "work@example.com"
	r := w.start("login", "-e", typed)
	r.expect("A 6-digit code was sent to " + typed + ".")
	r.expect("Code: ")
	r.typeLine(w.srv.Code(typed))
	res := r.wait()
	check(t, "login exit", res.code, 0)
	if !strings.Contains(res.stderr, "logged in as "+typed) {
		t.Errorf("the login's terminal:\n%s", redact(res.stderr))
	}
	check(t, "files", w.files(), []string{"current.json", key + ".json", key + ".lock"})
	s := w.session(w.cacheFile(key))
	check(t, "the session's email", s["email"], key)
	if at, err := time.Parse(time.RFC3339, s["logged_in_at"].(string)); err != nil || time.Since(at) > time.Minute {
		t.Errorf("logged_in_at %v (%v): want the login's time", s["logged_in_at"], err)
	}
	data, _ := os.ReadFile(filepath.Join(w.hostFolder(), "current.json"))
	check(t, "current.json", string(data), key+"\n")

	// Every spelling is a cache hit on that one session.
	before := w.counts()
	token := w.tokenOf(w.run("-e", typed))
	for _, spelling := range []string{key, "WORK@EXAMPLE.COM", "work@EXAMPLE.com"} {
		check(t, "-e "+spelling, w.tokenOf(w.run("-e", spelling)), token)
	}
	check(t, "AKIFLOW_EMAIL", w.tokenOf(w.runEnv([]string{"AKIFLOW_EMAIL=WORK@example.com"})), token)
	w.checkRequests(before, map[string]int{})

	// A refresh under another spelling rotates the one refresh token.
	w.expire(key)
	fresh := w.tokenOf(w.run("-e", "WORK@example.COM"))
	checkChanged(t, "the refreshed token", fresh, token)
	check(t, "after the refresh", w.tokenOf(w.run("-e", typed)), fresh)
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	check(t, "files after the refresh", w.files(), []string{"current.json", key + ".json", key + ".lock"})

	st := w.run("status", "-e", typed)
	check(t, "status exit", st.code, 0)
	if !strings.HasPrefix(st.stdout, "account: "+key+" on ") || strings.Contains(st.stdout, "other:") {
		t.Errorf("status:\n%s", redact(st.stdout))
	}
}

// logout of the default account makes the account that logged in last
// among those that still have a session the default; when none is left,
// there is no default. logout of an unknown account says so and creates
// nothing; status lists no logged-out account; lock files stay.
func TestLogoutPassesTheDefaultOn(t *testing.T) {
	w := newWorld(t)
	const bob, carol = "bob@example.com", "carol@example.com"
	tokens := map[string]string{}
	for _, email := range []string{alice, bob, carol} {
		tokens[email] = w.login(email)
	}
	// Logins a second apart may share logged_in_at: spell out the order.
	for email, ago := range map[string]time.Duration{alice: 3 * time.Hour, bob: time.Hour, carol: 30 * time.Minute} {
		w.editSession(email, func(s map[string]any) {
			s["logged_in_at"] = time.Now().Add(-ago).UTC().Format(time.RFC3339)
		})
	}
	check(t, "the default: the last login", w.tokenOf(w.run()), tokens[carol])

	res := w.run("logout")
	check(t, "logout exit", res.code, 0)
	check(t, "logout stderr", res.stderr, "logged out carol@example.com\nthe default account is now bob@example.com\n")
	check(t, "the default after carol's logout", w.tokenOf(w.run()), tokens[bob])

	st := w.run("status")
	check(t, "status exit", st.code, 0)
	if !strings.HasPrefix(st.stdout, "account: "+bob+" on ") || !strings.Contains(st.stdout, "other:   "+alice+"\n") ||
		strings.Contains(st.stdout, carol) {
		t.Errorf("status lists the logged-out carol, or not alice:\n%s", redact(st.stdout))
	}

	// An account with no session at all: said, exit 0, nothing created.
	res = w.run("logout", "-e", "Unknown@X.example")
	check(t, "logout of an unknown account: exit", res.code, 0)
	check(t, "logout of an unknown account: stderr", res.stderr, "no session for Unknown@X.example\n")
	for _, f := range w.files() {
		if strings.Contains(strings.ToLower(f), "unknown") {
			t.Errorf("logout of an unknown account made %s", f)
		}
	}
	// Logged out already: the same words.
	res = w.run("logout", "-e", carol)
	check(t, "logout of carol again", res.stderr, "no session for carol@example.com\n")

	res = w.run("logout")
	check(t, "logout of bob", res.stderr, "logged out bob@example.com\nthe default account is now alice@example.com\n")
	st = w.run("status", "-o", "json")
	var j struct {
		Email  string   `json:"email"`
		Others []string `json:"other_accounts"`
	}
	json.Unmarshal([]byte(st.stdout), &j)
	check(t, "status -o json", j, struct {
		Email  string   `json:"email"`
		Others []string `json:"other_accounts"`
	}{alice, []string{}})

	res = w.run("logout")
	check(t, "logout of alice, the last", res.stderr, "logged out alice@example.com\n")
	if _, err := os.Stat(filepath.Join(w.hostFolder(), "current.json")); !os.IsNotExist(err) {
		t.Errorf("current.json outlived every session: %v", err)
	}
	st = w.run("status")
	check(t, "status with nobody logged in: exit", st.code, 3)
	if !strings.HasPrefix(st.stdout, "account: none on ") || strings.Contains(st.stdout, "other:") {
		t.Errorf("status:\n%s", redact(st.stdout))
	}
	check(t, "no default: exit", w.run().code, 3)
	for _, email := range []string{alice, bob, carol} {
		if _, err := os.Stat(filepath.Join(w.hostFolder(), email+".lock")); err != nil {
			t.Errorf("%s's lock file: %v", email, err)
		}
	}
	w.checkRequests(map[string]int{}, map[string]int{akiflowtest.RouteCSRF: 3, akiflowtest.RouteLogin: 3,
		akiflowtest.RouteCode: 3, akiflowtest.RouteMe: 3})
}
