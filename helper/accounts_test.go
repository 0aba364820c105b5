package helper

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The unit tests of how accounts are named and chosen: emails match without
// regard to case (the key is the lower-case email), logout passes the
// default on, switch makes an account with a session the default, status
// lists only accounts that have not been logged out.

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
	f := newFlow(t, nil)
	req := Request{Account: adaTyped}
	if got, err := f.h.account(req); got != flowEmail || err != nil {
		t.Errorf("account() with -e %s: %q, %v; want %q", adaTyped, got, err, flowEmail)
	}
	c := f.h.newCall(req)
	if got := c.shown(flowEmail); got != adaTyped {
		t.Errorf("shown(key) = %q, want the account as typed, %q", got, adaTyped)
	}
	if got := c.shown("bob@example.com"); got != "bob@example.com" {
		t.Errorf("shown(another account) = %q", got)
	}
	// A current record in another case (written by hand): the key.
	f.setCurrent(adaTyped)
	if got, _ := f.h.account(Request{}); got != flowEmail {
		t.Errorf("account() from a current record %q: %q, want %q", adaTyped, got, flowEmail)
	}
	// No current record, one account cached: that one.
	f = newFlow(t, nil)
	f.seed(time.Hour)
	if got, _ := f.h.account(Request{}); got != flowEmail {
		t.Errorf("account() with one account cached: %q, want %q", got, flowEmail)
	}
	f.put(f.sessionOf("bob@example.com", flowT0, time.Hour))
	if got, _ := f.h.account(Request{}); got != "" {
		t.Errorf("account() with two accounts cached and no default: %q, want none", got)
	}
}

// Any spelling of the email is one account: one login, one record under
// the key, and the next call with another spelling is a cache hit.
func TestEmailsMatchWithoutCase(t *testing.T) {
	f := newFlow(t, nil)
	f.req.Account = adaTyped
	f.withTerminal(func() string { return f.srv.Code(adaTyped) })
	got, err := f.token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	f.wantRequests(loggedIn)
	if got.Email != flowEmail || !got.LoggedInAt.Equal(flowT0) {
		t.Errorf("the session: email %q, logged in at %s; want %q, %s", got.Email, got.LoggedInAt, flowEmail, flowT0)
	}
	if names, _ := f.store.List(); !slices.Equal(names, []string{flowEmail, currentRecord}) {
		t.Errorf("records %q, want [%s %s]", names, flowEmail, currentRecord)
	}
	if cur := f.current(); cur != flowEmail+"\n" {
		t.Errorf("current record %q, want the key", cur)
	}
	wantSession(t, "stored", f.stored(), got)
	// Akiflow was sent the email as typed, and messages show it.
	f.wantStderr("logged in as " + adaTyped)
	if !strings.Contains(f.tty.transcript(), "A 6-digit code was sent to "+adaTyped+".") {
		t.Errorf("the terminal shows:\n%s", f.tty.transcript())
	}

	for _, spelling := range []string{flowEmail, "ADA@EXAMPLE.COM"} {
		f.resetCounts()
		again, err := f.h.Token(context.Background(), Request{Account: spelling, MinTTL: flowMinTTL})
		if err != nil {
			t.Fatalf("-e %s: %v", spelling, err)
		}
		wantSession(t, "-e "+spelling, again, got)
		if n := f.lockings(); n != 0 {
			t.Errorf("-e %s: not a cache hit (%d locks)", spelling, n)
		}
	}
	f.wantRequests(loggedIn)
}

// logout reports what it did: each account it looked at, whether it had
// tokens, and the account that became the default.
func wantLogout(t *testing.T, what string, got LogoutResult, err error, want LogoutResult) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if !slices.Equal(got.Accounts, want.Accounts) || got.NewDefault != want.NewDefault || got.None != want.None {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}

// logout of the default account makes the other account that logged in
// last, and can still give a token, the default; with none left, there is
// no default. Printing is the caller's: the Helper writes nothing.
func TestLogoutPassesOnTheDefault(t *testing.T) {
	f := newFlow(t, nil)
	at := func(email string, loggedIn time.Time, left time.Duration, tokens bool) {
		s := f.sessionOf(email, loggedIn, left)
		if !tokens {
			s.forget()
		}
		f.put(s)
	}
	at("ada@example.com", flowT0.Add(-1*time.Hour), time.Hour, true)
	at("bob@example.com", flowT0.Add(-3*time.Hour), time.Hour, true)
	at("cy@example.com", flowT0.Add(-2*time.Hour), time.Hour, true)
	at("dee@example.com", flowT0.Add(-time.Minute), time.Hour, false)    // logged out
	at("eve@example.com", flowT0.Add(-2*time.Minute), -time.Hour, false) // logged out
	f.setCurrent("Ada@Example.com")

	logout := func(want LogoutResult) {
		t.Helper()
		res, err := f.h.Logout(Request{}, false)
		wantLogout(t, "Logout", res, err, want)
	}
	logout(LogoutResult{Accounts: []LoggedOut{{"ada@example.com", true}}, NewDefault: "cy@example.com"})
	if cur := f.current(); cur != "cy@example.com\n" {
		t.Errorf("current: %q", cur)
	}
	if s := f.storedAs("ada@example.com"); s.hasTokens() || s.ClientID == "" {
		t.Errorf("ada's record: tokens %v, client id kept %v", s.hasTokens(), s.ClientID != "")
	}
	logout(LogoutResult{Accounts: []LoggedOut{{"cy@example.com", true}}, NewDefault: "bob@example.com"})
	logout(LogoutResult{Accounts: []LoggedOut{{"bob@example.com", true}}})
	if cur := f.current(); cur != "(none)" {
		t.Errorf("current after the last account with a session: %q", cur)
	}
	// No default, several accounts, none with a session: nothing to do.
	logout(LogoutResult{None: true})
	f.wantStderr()

	// Sessions from before logged_in_at: the latest expiry stands for it.
	g := newFlow(t, nil)
	for email, left := range map[string]time.Duration{"ada@example.com": time.Hour, "bob@example.com": 10 * time.Minute, "cy@example.com": 20 * time.Minute} {
		g.put(g.sessionOf(email, time.Time{}, left))
	}
	g.setCurrent("ada@example.com")
	res, err := g.h.Logout(Request{}, false)
	wantLogout(t, "Logout without logged_in_at", res, err,
		LogoutResult{Accounts: []LoggedOut{{"ada@example.com", true}}, NewDefault: "cy@example.com"})
	if cur := g.current(); cur != "cy@example.com\n" {
		t.Errorf("current without logged_in_at: %q, want the latest expiry's", cur)
	}

	// logout of another account than the default leaves the default; the
	// account is named as the request spelt it.
	res, err = g.h.Logout(Request{Account: "BOB@example.com"}, false)
	wantLogout(t, "Logout of another account", res, err, LogoutResult{Accounts: []LoggedOut{{"BOB@example.com", true}}})
	if cur := g.current(); cur != "cy@example.com\n" {
		t.Errorf("current after logging out another account: %q", cur)
	}

	// all: every account, those with tokens reported, and no default left.
	res, err = g.h.Logout(Request{}, true)
	wantLogout(t, "Logout all", res, err, LogoutResult{Accounts: []LoggedOut{{"cy@example.com", true}}})
	if cur := g.current(); cur != "(none)" {
		t.Errorf("current after all: %q", cur)
	}
	for _, email := range []string{"ada@example.com", "bob@example.com", "cy@example.com"} {
		if s := g.storedAs(email); s == nil || s.hasTokens() {
			t.Errorf("%s after all: a record %v, with tokens %v", email, s != nil, s.hasTokens())
		}
	}
	g.wantStderr()
}

// With no default and several accounts with a session, logout names none
// of them: a usage error that lists them.
func TestLogoutNeedsAnAccountAmongSeveral(t *testing.T) {
	f := newFlow(t, nil)
	for _, email := range []string{"ada@example.com", "bob@example.com"} {
		f.put(f.sessionOf(email, flowT0, time.Hour))
	}
	res, err := f.h.Logout(Request{}, false)
	if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "ada@example.com, bob@example.com") {
		t.Errorf("Logout: exit %d (%v), want %d naming both accounts", ExitCode(err), err, ExitUsage)
	}
	if len(res.Accounts) != 0 || res.None || res.NewDefault != "" {
		t.Errorf("Logout's result: %+v, want none", res)
	}
	for _, email := range []string{"ada@example.com", "bob@example.com"} {
		if !f.storedAs(email).hasTokens() {
			t.Errorf("%s was logged out", email)
		}
	}
	if _, err := f.h.Logout(Request{Account: "a b"}, false); ExitCode(err) != ExitUsage {
		t.Errorf("Logout of a bad email: exit %d (%v), want %d", ExitCode(err), err, ExitUsage)
	}
}

// A login that rewrites the current record while logout passes the default
// on wins: logout does not overwrite it.
func TestLogoutLeavesAConcurrentLoginsDefault(t *testing.T) {
	f := newFlow(t, nil)
	for _, email := range []string{"ada@example.com", "bob@example.com"} {
		f.put(f.sessionOf(email, time.Time{}, time.Hour))
	}
	f.setCurrent("ada@example.com")
	f.store.OnPrepare = func(name string) {
		if name == currentRecord {
			f.store.Do(func() { f.store.OnPrepare = nil })
			f.setCurrent("zed@example.com") // another process's login
		}
	}
	res, err := f.h.Logout(Request{}, false)
	wantLogout(t, "Logout", res, err, LogoutResult{Accounts: []LoggedOut{{"ada@example.com", true}}})
	if cur := f.current(); cur != "zed@example.com\n" {
		t.Errorf("current: %q, want the concurrent login's", cur)
	}
	f.wantStderr()
}

// logout of an account with no session says so, without an error, and
// takes no lock when there is no record at all (it creates nothing).
func TestLogoutOfAnAccountWithoutSession(t *testing.T) {
	f := newFlow(t, nil)
	f.seed(time.Hour)
	f.setCurrent(flowEmail)
	res, err := f.h.Logout(Request{Account: "Unknown@X.example"}, false)
	wantLogout(t, "Logout of an unknown account", res, err, LogoutResult{Accounts: []LoggedOut{{"Unknown@X.example", false}}})
	if n := f.lockings(); n != 0 {
		t.Errorf("locks taken: %d", n)
	}
	if _, ok := f.store.Record("unknown@x.example"); ok {
		t.Errorf("logout created a record")
	}
	if cur := f.current(); cur != flowEmail+"\n" {
		t.Errorf("current: %q", cur)
	}
	// An account logged out already: no tokens to forget.
	res, err = f.h.Logout(f.req, false)
	wantLogout(t, "Logout", res, err, LogoutResult{Accounts: []LoggedOut{{flowEmail, true}}})
	res, err = f.h.Logout(f.req, false)
	wantLogout(t, "Logout again", res, err, LogoutResult{Accounts: []LoggedOut{{flowEmail, false}}})
	f.wantStderr()
	// An unusable record is removed.
	f.store.Put("bob@example.com", []byte("not JSON"))
	res, err = f.h.Logout(Request{Account: "bob@example.com"}, false)
	wantLogout(t, "Logout of an unusable record", res, err, LogoutResult{Accounts: []LoggedOut{{"bob@example.com", false}}})
	if _, ok := f.store.Record("bob@example.com"); ok {
		t.Errorf("the unusable record is still there")
	}
}

// status lists as other accounts only those that have not been logged out:
// an expired token without a refresh token is listed (a login is needed),
// no token at all is not. It takes no lock.
func TestStatusListsOnlyAccountsWithTokens(t *testing.T) {
	f := newFlow(t, nil)
	put := func(name string, left time.Duration, refresh, tokens bool) {
		s := f.sessionOf(name, flowT0, left)
		if !refresh {
			s.RefreshToken = ""
		}
		if !tokens {
			s.forget()
		}
		f.put(s)
	}
	put("ada@example.com", time.Hour, true, true)
	put("bob@example.com", time.Hour, true, true)
	put("cy@example.com", -time.Hour, false, true)
	put("dee@example.com", 0, false, false)
	f.setCurrent("ada@example.com")
	st, err := f.h.Status(Request{})
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if want := []string{"bob@example.com", "cy@example.com"}; !slices.Equal(st.Others, want) {
		t.Errorf("other accounts: %q, want %q", st.Others, want)
	}
	if n := f.lockings(); n != 0 {
		t.Errorf("status took %d locks", n)
	}
	if got, want := f.h.Accounts(), []string{"ada@example.com", "bob@example.com", "cy@example.com"}; !slices.Equal(got, want) {
		t.Errorf("Accounts() = %q, want %q", got, want)
	}
	f.wantStderr()
}

// Status's report on the selected account, and its exit-3 error (beside the
// report) when a login is needed.
func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *flow) Request
		want  AccountStatus // AuthHost and Others: [] unless set
		says  string        // the exit-3 error's; "" for none
	}{
		{"good token", func(f *flow) Request {
			f.seed(time.Hour)
			return f.req
		}, AccountStatus{Email: flowEmail, ExpiresAt: "2030-05-06T08:08:09Z", ExpiresIn: 3600, RefreshToken: true, LoggedIn: true,
			CacheFile: "memory:" + flowEmail, Expiry: flowT0.Add(time.Hour)}, ""},
		{"expired, with a refresh token, as typed", func(f *flow) Request {
			f.seed(-time.Minute)
			return Request{Account: adaTyped}
		}, AccountStatus{Email: flowEmail, ExpiresAt: "2030-05-06T07:07:09Z", RefreshToken: true, LoggedIn: true,
			CacheFile: "memory:" + flowEmail, Expiry: flowT0.Add(-time.Minute), Expired: true}, ""},
		{"expired, no refresh token", func(f *flow) Request {
			s := f.seed(0)
			s.RefreshToken = ""
			f.put(s)
			return Request{Account: adaTyped}
		}, AccountStatus{Email: flowEmail, ExpiresAt: "2030-05-06T07:08:09Z",
			CacheFile: "memory:" + flowEmail, Expiry: flowT0, Expired: true}, adaTyped + " is not logged in to "},
		{"logged out, another account", func(f *flow) Request {
			s := f.seed(time.Hour)
			s.forget()
			f.put(s)
			f.put(f.sessionOf("bob@example.com", flowT0, time.Hour))
			return f.req
		}, AccountStatus{Email: flowEmail, CacheFile: "memory:" + flowEmail, Others: []string{"bob@example.com"}}, flowEmail + " is not logged in to "},
		{"no account", func(f *flow) Request { return Request{} },
			AccountStatus{CacheFile: "memory"}, "no account is logged in to "},
		{"the only account", func(f *flow) Request {
			f.seed(time.Minute)
			return Request{}
		}, AccountStatus{Email: flowEmail, ExpiresAt: "2030-05-06T07:09:09Z", ExpiresIn: 60, RefreshToken: true, LoggedIn: true,
			CacheFile: "memory:" + flowEmail, Expiry: flowT0.Add(time.Minute)}, ""},
		{"several accounts, no default", func(f *flow) Request {
			f.seed(time.Hour)
			f.put(f.sessionOf("bob@example.com", flowT0, time.Hour))
			return Request{}
		}, AccountStatus{CacheFile: "memory", Others: []string{flowEmail, "bob@example.com"}}, "no account is selected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, nil)
			req := tc.setup(f)
			f.resetCounts()
			st, err := f.h.Status(req)
			if st == nil {
				t.Fatalf("Status: no report (%v)", err)
			}
			want := tc.want
			want.AuthHost = strings.TrimPrefix(f.srv.URL, "http://")
			if want.Others == nil {
				want.Others = []string{}
			}
			if st.Email != want.Email || st.AuthHost != want.AuthHost || st.ExpiresAt != want.ExpiresAt || st.ExpiresIn != want.ExpiresIn ||
				st.RefreshToken != want.RefreshToken || st.LoggedIn != want.LoggedIn || st.CacheFile != want.CacheFile ||
				!slices.Equal(st.Others, want.Others) || st.Others == nil || !st.Expiry.Equal(want.Expiry) || st.Expired != want.Expired {
				t.Errorf("Status:\n got %+v\nwant %+v", *st, want)
			}
			switch {
			case tc.says == "" && err != nil:
				t.Errorf("Status: %v", err)
			case tc.says != "" && (ExitCode(err) != ExitLoginNeeded || !strings.Contains(err.Error(), tc.says)):
				t.Errorf("Status: exit %d (%v), want %d saying %q", ExitCode(err), err, ExitLoginNeeded, tc.says)
			}
			if n := f.lockings(); n != 0 {
				t.Errorf("status took %d locks", n)
			}
			f.wantStderr()
		})
	}
	f := newFlow(t, nil)
	if _, err := f.h.Status(Request{Account: "x"}); ExitCode(err) != ExitUsage {
		t.Errorf("Status of a bad email: exit %d (%v), want %d", ExitCode(err), err, ExitUsage)
	}
}

// switch makes an account with a session the default; it refuses one
// without (exit 3), and needs an account (exit 80).
func TestSwitch(t *testing.T) {
	f := newFlow(t, nil)
	f.seed(time.Hour)
	f.put(f.sessionOf("bob@example.com", flowT0, time.Hour))
	access := f.sessionOf("cy@example.com", flowT0, time.Hour) // a good token, no refresh token
	access.RefreshToken = ""
	f.put(access)
	expired := f.sessionOf("dee@example.com", flowT0, -time.Minute) // an expired one, no refresh token
	expired.RefreshToken = ""
	f.put(expired)
	loggedOut := f.sessionOf("eve@example.com", flowT0, time.Hour)
	loggedOut.forget()
	f.put(loggedOut)
	f.setCurrent(flowEmail)

	for _, tc := range []struct {
		account string
		code    int
		current string // after it
	}{
		{"Bob@Example.com", ExitOK, "bob@example.com"},
		{"cy@example.com", ExitOK, "cy@example.com"},
		{adaTyped, ExitOK, flowEmail},
		{"dee@example.com", ExitLoginNeeded, flowEmail},
		{"eve@example.com", ExitLoginNeeded, flowEmail},
		{"Nobody@example.com", ExitLoginNeeded, flowEmail},
		{"", ExitUsage, flowEmail},
		{"not an email", ExitUsage, flowEmail},
	} {
		err := f.h.Switch(Request{Account: tc.account})
		if ExitCode(err) != tc.code {
			t.Errorf("Switch(%q): exit %d (%v), want %d", tc.account, ExitCode(err), err, tc.code)
		}
		if tc.code == ExitLoginNeeded && !strings.Contains(err.Error(), tc.account+" has no session on ") {
			t.Errorf("Switch(%q): %v", tc.account, err)
		}
		if cur := f.current(); cur != tc.current+"\n" {
			t.Errorf("after Switch(%q): current %q, want %q", tc.account, cur, tc.current)
		}
	}
	if n := f.lockings(); n != 0 {
		t.Errorf("switch took %d locks", n)
	}
	if _, ok := f.store.Record("nobody@example.com"); ok {
		t.Errorf("switch created a record")
	}
	// A record the store refuses, or from a newer akiflow-token, is an
	// error of its own.
	f.store.Put("fay@example.com", []byte(`{"format":99,"email":"fay@example.com"}`))
	if err := f.h.Switch(Request{Account: "fay@example.com"}); err == nil || ExitCode(err) == ExitOK || !errors.Is(err, errNewerFormat) {
		t.Errorf("Switch to a newer record: %v", err)
	}
	f.wantStderr()
}

// A record's name is its account. One whose email names another account
// (copied or edited by hand) is no session of the account it is filed
// under: read as one, its refresh would be saved under the other name and
// its spent refresh token sent again, and its logout would clear the
// other account. One that spells its own account in another case is that
// account's, and saved back under its name.
func TestRecordNamingAnotherAccountIsNoSession(t *testing.T) {
	f := newFlow(t, nil)
	f.req.NoPrompt = "the test"
	ada := f.seed(time.Hour)
	f.putAs("bob@example.com", ada) // ada's record, filed as bob's
	f.req.Account = "bob@example.com"
	got, err := f.token()
	wantExit(t, "bob's token", got, err, ExitLoginNeeded)
	if !strings.Contains(f.stderr.String(), `it holds the session of "ada@example.com"`) {
		t.Errorf("no warning of the record naming another account:\n%s", f.stderr.String())
	}
	f.wantRequests(map[string]int{})
	if _, err := f.h.Logout(f.req, false); err != nil {
		t.Fatalf("logout of bob: %v", err)
	}
	wantSession(t, "ada's record after bob's token and logout", f.stored(), ada)

	// Ada's own record, its email in another case, due for a refresh: one
	// refresh, saved under ada's name, and the next refresh works.
	f = newFlow(t, nil)
	old := f.serverSession(time.Minute)
	old.Email = adaTyped
	f.putAs(flowEmail, old)
	f.markRequests()
	f.req.Account = flowEmail
	got, err = f.token()
	if err != nil {
		t.Fatal(err)
	}
	old.Email = flowEmail
	f.wantRefreshed(got, old)
	if rec := f.storedAs(adaTyped); rec != nil {
		t.Errorf("the refresh was saved under %s too", adaTyped)
	}
	f.req.Force = true
	if _, err := f.token(); err != nil {
		t.Errorf("the refresh after: %v (the refreshed token was not the one saved)", err)
	}
}
