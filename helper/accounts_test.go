package helper

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// The unit tests of how accounts are named and chosen: emails match without
// regard to case (one key per account, records under other spellings
// merged), logout passes the default on, status lists only accounts that
// have not been logged out.

// putAs writes s to the store under the record name, as it is (an older
// akiflow-token wrote records under the email as typed).
func (f *flow) putAs(name string, s *Session) {
	f.t.Helper()
	if err := f.store.Replace(name, func() ([]byte, error) { return s.marshal(), nil }); err != nil {
		f.t.Fatal(err)
	}
}

// storedAs is the session in the record name, or nil.
func (f *flow) storedAs(name string) *Session {
	f.t.Helper()
	data, ok := f.store.record(name)
	if !ok {
		return nil
	}
	s, err := ParseSession(data)
	if err != nil {
		f.t.Fatalf("the record %s: %v", name, err)
	}
	return s
}

// names is the store's record names, sorted.
func (f *flow) names() []string {
	names, _ := f.store.Names()
	slices.Sort(names)
	return names
}

func setCurrent(f *flow, email string) {
	f.store.Replace(currentRecord, func() ([]byte, error) { return []byte(email + "\n"), nil })
}

func currentOf(f *flow) string {
	data, ok := f.store.record(currentRecord)
	if !ok {
		return "(none)"
	}
	return string(data)
}

const adaTyped = "Ada@Example.COM" // flowEmail as a person may type it

func TestAccountKeyIsTheLowerCaseEmail(t *testing.T) {
	for in, want := range map[string]string{
		"ada@example.com":      "ada@example.com",
		"Ada@Example.COM":      "ada@example.com",
		"ADA+Work@EXAMPLE.org": "ada+work@example.org",
		// Only ASCII letters fold: Unicode's lower-casing would make
		// different addresses one account (İnfo@ and info@).
		"Ünal@Straße.example":      "Ünal@straße.example",
		"KELVIN\u212a@example.com": "kelvin\u212a@example.com",
		"\u0130nfo@x.co":           "\u0130nfo@x.co",
	} {
		if got := accountKey(in); got != want {
			t.Errorf("accountKey(%q) = %q, want %q", in, got, want)
		}
	}
	f := newFlow(t, func(c *Config) { c.Email = adaTyped })
	if got, err := f.h.account(); got != flowEmail || err != nil {
		t.Errorf("account() with --email %s: %q, %v; want %q", adaTyped, got, err, flowEmail)
	}
	if got := f.h.shown(flowEmail); got != adaTyped {
		t.Errorf("shown(key) = %q, want --email as typed, %q", got, adaTyped)
	}
	if got := f.h.shown("bob@example.com"); got != "bob@example.com" {
		t.Errorf("shown(another account) = %q", got)
	}
	// The current record of an older akiflow-token, as typed: the key.
	f = newFlow(t, func(c *Config) { c.Email = "" })
	setCurrent(f, adaTyped)
	if got, _ := f.h.account(); got != flowEmail {
		t.Errorf("account() from a current record %q: %q, want %q", adaTyped, got, flowEmail)
	}
}

// Any spelling of the email is one account: one login, one record, and the
// next call with another spelling is a cache hit.
func TestEmailsMatchWithoutCase(t *testing.T) {
	f := newFlow(t, func(c *Config) { c.Email = adaTyped })
	f.withTerminal(func() string { return f.srv.Code(adaTyped) })
	got, err := f.h.Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteLogin: 1, akiflowtest.RouteCode: 1, akiflowtest.RouteMe: 1})
	if got.Email != flowEmail || !got.LoggedInAt.Equal(flowT0) {
		t.Errorf("the session: email %q, logged in at %s; want %q, %s", got.Email, got.LoggedInAt, flowEmail, flowT0)
	}
	if names := f.names(); !slices.Equal(names, []string{flowEmail, currentRecord}) {
		t.Errorf("records %q, want [%s current]", names, flowEmail)
	}
	if cur := currentOf(f); cur != flowEmail+"\n" {
		t.Errorf("current record %q, want the key", cur)
	}
	wantSession(t, "stored", f.stored(), got)
	// Akiflow was sent the email as typed, and messages show it.
	f.wantStderr("logged in as " + adaTyped)
	if !strings.Contains(f.tty.transcript(), "A 6-digit code was sent to "+adaTyped+".") {
		t.Errorf("the terminal shows:\n%s", f.tty.transcript())
	}

	for _, spelling := range []string{flowEmail, "ADA@EXAMPLE.COM"} {
		h, err := New(Config{BaseURL: f.srv.URL, Email: spelling, MinTTL: flowMinTTL, Timeout: time.Second,
			Stderr: f.stderr, Now: func() time.Time { return f.now }}, f.store)
		if err != nil {
			t.Fatal(err)
		}
		f.store.lockings = 0
		again, err := h.Token(context.Background())
		if err != nil {
			t.Fatalf("-e %s: %v", spelling, err)
		}
		wantSession(t, "-e "+spelling, again, got)
		if f.store.lockings != 0 {
			t.Errorf("-e %s: not a cache hit (%d locks)", spelling, f.store.lockings)
		}
	}
	f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteLogin: 1, akiflowtest.RouteCode: 1, akiflowtest.RouteMe: 1})
}

// logout of the default account makes the other account that logged in
// last, and can still give a token, the default; with none left, there is
// no default. Lock files are never removed (the store has no way to).
func TestLogoutPassesOnTheDefault(t *testing.T) {
	f := newFlow(t, func(c *Config) { c.Email = "" })
	at := func(email string, loggedIn time.Time, left time.Duration, tokens bool) {
		s := f.serverSession(left)
		s.Email, s.LoggedInAt = email, loggedIn
		if !tokens {
			s.forget()
		}
		f.putAs(email, s)
	}
	at("ada@example.com", flowT0.Add(-1*time.Hour), time.Hour, true)
	at("bob@example.com", flowT0.Add(-3*time.Hour), time.Hour, true)
	at("cy@example.com", flowT0.Add(-2*time.Hour), time.Hour, true)
	at("dee@example.com", flowT0.Add(-time.Minute), time.Hour, false)    // logged out
	at("eve@example.com", flowT0.Add(-2*time.Minute), -time.Hour, false) // logged out
	setCurrent(f, "Ada@Example.com")

	logout := func(want ...string) {
		t.Helper()
		f.stderr.Reset()
		if err := f.h.Logout(false); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		f.wantStderr(want...)
	}
	logout("logged out ada@example.com", "the default account is now cy@example.com")
	if cur := currentOf(f); cur != "cy@example.com\n" {
		t.Errorf("current: %q", cur)
	}
	if s := f.storedAs("ada@example.com"); s.hasTokens() || s.ClientID == "" {
		t.Errorf("ada's record: tokens %v, client id kept %v", s.hasTokens(), s.ClientID != "")
	}
	logout("logged out cy@example.com", "the default account is now bob@example.com")
	logout("logged out bob@example.com")
	if cur := currentOf(f); cur != "(none)" {
		t.Errorf("current after the last account with a session: %q", cur)
	}
	// No default, several accounts, none with a session: nothing to do.
	logout("no session for " + f.h.base.Host)

	// Sessions from before logged_in_at: the latest expiry stands for it.
	g := newFlow(t, func(c *Config) { c.Email = "" })
	for email, left := range map[string]time.Duration{"ada@example.com": time.Hour, "bob@example.com": 10 * time.Minute, "cy@example.com": 20 * time.Minute} {
		s := g.serverSession(left)
		s.Email = email
		g.putAs(email, s)
	}
	setCurrent(g, "ada@example.com")
	if err := g.h.Logout(false); err != nil {
		t.Fatal(err)
	}
	if cur := currentOf(g); cur != "cy@example.com\n" {
		t.Errorf("current without logged_in_at: %q, want the latest expiry's", cur)
	}

	// logout of another account than the default leaves the default.
	g.h.cfg.Email = "BOB@example.com"
	g.stderr.Reset()
	if err := g.h.Logout(false); err != nil {
		t.Fatal(err)
	}
	g.wantStderr("logged out BOB@example.com")
	if cur := currentOf(g); cur != "cy@example.com\n" {
		t.Errorf("current after logging out another account: %q", cur)
	}

	// --all: every account, and no default left.
	g.h.cfg.Email = ""
	g.stderr.Reset()
	if err := g.h.Logout(true); err != nil {
		t.Fatal(err)
	}
	g.wantStderr("logged out cy@example.com")
	if cur := currentOf(g); cur != "(none)" {
		t.Errorf("current after --all: %q", cur)
	}
}

// A login that rewrites the current record while logout passes the default
// on wins: logout does not overwrite it.
func TestLogoutLeavesAConcurrentLoginsDefault(t *testing.T) {
	f := newFlow(t, func(c *Config) { c.Email = "" })
	for _, email := range []string{"ada@example.com", "bob@example.com"} {
		s := f.serverSession(time.Hour)
		s.Email = email
		f.putAs(email, s)
	}
	setCurrent(f, "ada@example.com")
	f.store.onReplace = func(name string) {
		if name == currentRecord {
			f.store.onReplace = nil
			setCurrent(f, "zed@example.com") // another process's login
		}
	}
	if err := f.h.Logout(false); err != nil {
		t.Fatal(err)
	}
	if cur := currentOf(f); cur != "zed@example.com\n" {
		t.Errorf("current: %q, want the concurrent login's", cur)
	}
	f.wantStderr("logged out ada@example.com")
}

// logout of an account with no session says so, exits 0, and takes no lock
// when there is no record at all (it creates nothing).
func TestLogoutOfAnAccountWithoutSession(t *testing.T) {
	f := newFlow(t, func(c *Config) { c.Email = "Unknown@X.example" })
	f.seed(time.Hour)
	setCurrent(f, flowEmail)
	if err := f.h.Logout(false); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	f.wantStderr("no session for Unknown@X.example")
	if f.store.lockings != 0 {
		t.Errorf("locks taken: %d", f.store.lockings)
	}
	if cur := currentOf(f); cur != flowEmail+"\n" {
		t.Errorf("current: %q", cur)
	}
	// An account logged out already: the same words.
	f.h.cfg.Email = flowEmail
	f.stderr.Reset()
	if err := f.h.Logout(false); err != nil {
		t.Fatal(err)
	}
	f.wantStderr("logged out " + flowEmail)
	f.stderr.Reset()
	if err := f.h.Logout(false); err != nil {
		t.Fatal(err)
	}
	f.wantStderr("no session for " + flowEmail)
}

// status lists as other accounts only those that have not been logged out:
// an expired token without a refresh token is listed (a login is needed),
// no token at all is not. Each account once, by its key.
func TestStatusListsOnlyAccountsWithTokens(t *testing.T) {
	f := newFlow(t, func(c *Config) { c.Email = ""; c.Output = FormatJSON })
	put := func(name string, left time.Duration, refresh, tokens bool) {
		s := f.serverSession(left)
		s.Email = name
		if !refresh {
			s.RefreshToken = ""
		}
		if !tokens {
			s.forget()
		}
		f.putAs(name, s)
	}
	put("ada@example.com", time.Hour, true, true)
	put("Bob@Example.com", time.Hour, true, true)
	put("bob@example.com", time.Hour, true, true)
	put("cy@example.com", -time.Hour, false, true)
	put("dee@example.com", 0, false, false)
	setCurrent(f, "ada@example.com")
	var out bytes.Buffer
	if err := f.h.Status(&out); err != nil {
		t.Fatalf("Status: %v", err)
	}
	if !strings.Contains(out.String(), `"other_accounts": [
    "bob@example.com",
    "cy@example.com"
  ]`) {
		t.Errorf("status:\n%s", out.String())
	}
	if f.store.lockings != 0 {
		t.Errorf("status took %d locks", f.store.lockings)
	}
}
