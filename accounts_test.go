//go:build unix

// End-to-end tests of several accounts on one machine, logged in for real:
// the last login is the default, --email and AKIFLOW_EMAIL choose, emails
// match without regard to case, logout passes the default on. What status
// and logout print, for sessions written by hand, is in status.txtar and
// logout.txtar; the order in which logout passes the default on is
// helper's TestLogoutPassesOnTheDefault.
package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// files lists the names in the auth host's cache folder, sorted.
func (w *world) files() []string {
	w.t.Helper()
	entries, err := os.ReadDir(filepath.Dir(w.sessionPath(alice)))
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

func TestAccounts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// Work@Example.com and work@example.com are one account: one login, one
	// session file and one lock, named by the lower-case email; the login
	// speaks to the person (and Akiflow) in the spelling typed.
	const typed, bob = "Work@Example.com", "work@example.com"
	a := w.login(alice)
	loginStart := time.Now().UTC().Truncate(time.Second)
	r := w.start("login", "-e", typed)
	r.expect("A 6-digit code was sent to " + typed + ".")
	r.expect("Code: ")
	r.typeLine(w.srv.Code(typed))
	res := r.wait()
	check(t, "login exit", res.code, 0)
	if !strings.Contains(res.stderr, "logged in as "+typed) {
		t.Errorf("the login's terminal:\n%s", redact(res.stderr))
	}
	check(t, "files", w.files(), []string{".partial", alice + "%2Flogin.lock", alice + ".json", alice + ".lock", "current.json", bob + "%2Flogin.lock", bob + ".json", bob + ".lock"})
	s := w.session(bob)
	check(t, "the session's email", s["email"], bob)
	if at, err := time.Parse(time.RFC3339, fmt.Sprint(s["logged_in_at"])); err != nil || at.Before(loginStart) || at.After(time.Now()) {
		t.Errorf("logged_in_at %v (%v): want the login's time, after %s", s["logged_in_at"], err, loginStart)
	}

	// The default is the last login; --email and AKIFLOW_EMAIL choose, in
	// any spelling.
	before := w.counts()
	b := w.tokenOf(w.run())
	checkChanged(t, "the default: bob's token, not alice's", b, a)
	for _, spelling := range []string{typed, bob, "WORK@EXAMPLE.COM"} {
		check(t, "-e "+spelling, w.tokenOf(w.run("-e", spelling)), b)
	}
	check(t, "AKIFLOW_EMAIL", w.tokenOf(w.runEnv([]string{"AKIFLOW_EMAIL=WORK@example.com"})), b)
	check(t, "-e alice", w.tokenOf(w.run("-e", alice)), a)
	check(t, "AKIFLOW_EMAIL alice", w.tokenOf(w.runEnv([]string{"AKIFLOW_EMAIL=" + alice})), a)
	w.checkRequests(before, map[string]int{})

	// A refresh under another spelling rotates the one refresh token.
	w.expire(bob)
	fresh := w.tokenOf(w.run("-e", "WORK@example.COM"))
	checkChanged(t, "the refreshed token", fresh, b)
	check(t, "after the refresh", w.tokenOf(w.run("-e", typed)), fresh)
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	check(t, "files after the refresh", w.files(), []string{".partial", alice + "%2Flogin.lock", alice + ".json", alice + ".lock", "current.json", bob + "%2Flogin.lock", bob + ".json", bob + ".lock"})

	st := w.run("status")
	check(t, "status exit", st.code, 0)
	w.checkNoSecrets("status", st.stdout)
	for _, want := range []string{"account: " + bob + " on ", "refresh: held", "other:   " + alice, w.cacheFile(bob)} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, redact(st.stdout))
		}
	}

	// Logging out the default (bob) leaves alice alone, and makes her the
	// default; logout --all logs her out too.
	res = w.run("logout", "-e", typed)
	check(t, "logout stderr", res.stderr, "logged out "+typed+"\nthe default account is now "+alice+"\n")
	check(t, "bob's token is gone", w.run("-e", bob).code, 3)
	check(t, "alice is the default now", w.tokenOf(w.run()), a)
	res = w.run("logout", "--all")
	check(t, "logout --all exit", res.code, 0)
	check(t, "alice is logged out too", w.run("-e", alice).code, 3)
	check(t, "no default is left", w.run("status").code, 3)
}
