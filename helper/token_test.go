package helper

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/akiflow/akiflowtest"
	"akiflow-token/helper/format"
	"akiflow-token/helper/store/memstore"
)

// The unit tests of Token's decisions: when it answers from the store, when
// it refreshes, when it asks for a login, and what it does when a refresh
// fails.

// 1. A cache hit returns the saved session: no lock, no request, no HTTP
// client even, one read of the session (and one of the record naming the
// account that logged in last, when the request names none).
func TestTokenCacheHit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		account string // Request.Account
		reads   int
	}{
		{"-e", flowEmail, 1},
		{"the account that logged in last", "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, nil)
			f.req.Account = tc.account
			f.setCurrent(flowEmail)
			want := f.seed(flowMinTTL + time.Second)
			f.resetCounts()

			got, err := f.token()
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			wantSession(t, "returned", got, want)
			if n := f.lockings(); n != 0 {
				t.Errorf("locks taken: got %d, want 0", n)
			}
			if f.store.Reads != tc.reads {
				t.Errorf("store reads: got %d, want %d", f.store.Reads, tc.reads)
			}
			if n := f.clients.Load(); n != 0 {
				t.Errorf("%d HTTP clients asked for on a cache hit", n)
			}
			if f.opens != 0 {
				t.Errorf("the Prompt was called %d times", f.opens)
			}
			f.wantRequests(nil)
			f.wantStderr()

			// Cached is the same cache hit, for the same reads.
			f.resetCounts()
			if s, ok := f.h.Cached(f.req); !ok {
				t.Errorf("Cached: no hit")
			} else {
				wantSession(t, "Cached", s, want)
			}
			if f.store.Reads != tc.reads || f.lockings() != 0 {
				t.Errorf("Cached: %d reads, %d locks; want %d, 0", f.store.Reads, f.lockings(), tc.reads)
			}
		})
	}
}

// The cache hit follows the injected clock: a token is good while it has
// --min-ttl left, and the default account is the one logged in last.
func TestCachedFollowsTheClock(t *testing.T) {
	issued := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	now := issued
	records := memstore.New()
	h, err := New(Config{BaseURL: "http://127.0.0.1:1", Timeout: time.Second, Stderr: &syncBuffer{},
		Now: func() time.Time { return now }}, func(string) Store { return records })
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{Format: sessionFormat, Email: "a@b.c", ClientID: newClientID(),
		AccessToken: "a.b.c", RefreshToken: "def50200", ExpiresAt: issued.Add(30 * time.Minute)}
	records.Put("a@b.c", s.marshal())
	if err := h.setCurrent("a@b.c"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		after time.Duration
		hit   bool
	}{
		{0, true},
		{24 * time.Minute, true},
		{25 * time.Minute, true}, // exactly --min-ttl left
		{25*time.Minute + time.Second, false},
		{31 * time.Minute, false},
	} {
		now = issued.Add(tc.after)
		if _, ok := h.Cached(Request{MinTTL: 5 * time.Minute}); ok != tc.hit {
			t.Errorf("%s after issue: cache hit %v, want %v", tc.after, ok, tc.hit)
		}
	}
	// A request Token would refuse is no cache hit.
	now = issued
	for _, bad := range []Request{{Account: "not an email"}, {MinTTL: -time.Second}} {
		if _, ok := h.Cached(bad); ok {
			t.Errorf("Cached(%+v): a hit", bad)
		}
	}
}

// 2. Under the lock the session is read again: another process may have
// refreshed it while this one waited, and then its session is returned
// without a refresh. With Force only a token other than the one this
// process meant to replace counts. A session still stale after the wait is
// refreshed with the refresh token read under the lock.
func TestTokenRereadsUnderLock(t *testing.T) {
	for _, tc := range []struct {
		name  string
		force bool
		// other is what the other process saved, from the stale session.
		other     func(f *flow, stale *Session) *Session
		refreshed bool // else, other's session is returned
		// spent: the other process spent the stale refresh token, so that
		// only the one read under the lock works.
		spent bool
	}{
		{"refreshed meanwhile", false, func(f *flow, stale *Session) *Session {
			s := *stale
			s.AccessToken, s.RefreshToken, s.ExpiresAt = "other.access.token", "def50200other", flowT0.Add(30*time.Minute)
			return &s
		}, false, false},
		{"refreshed meanwhile, Force", true, func(f *flow, stale *Session) *Session {
			s := *stale
			s.AccessToken, s.RefreshToken, s.ExpiresAt = "other.access.token", "def50200other", flowT0.Add(30*time.Minute)
			return &s
		}, false, false},
		{"rewritten unchanged, Force", true, func(f *flow, stale *Session) *Session {
			s := *stale
			s.ExpiresAt = flowT0.Add(30 * time.Minute) // the same token, looking good
			return &s
		}, true, false},
		{"rotated but still stale", false, func(f *flow, stale *Session) *Session {
			s := f.serverSession(time.Minute) // live tokens, with a minute left
			s.ClientID = stale.ClientID
			return s
		}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, nil)
			f.req.Force = tc.force
			left := flowMinTTL - time.Second
			if tc.force {
				left = 30 * time.Minute
			}
			stale := f.seed(left)
			other := tc.other(f, stale)
			if tc.spent {
				stale.RefreshToken = "def50200never-issued"
				f.put(stale)
			}
			f.store.OnLock = func(name string) {
				f.store.Do(func() { f.store.OnLock = nil }) // once: the Helper holds the lock now
				if name != flowEmail {
					t.Errorf("locked %q, want %q", name, flowEmail)
				}
				f.put(other)
			}
			f.markRequests() // other's login, if any, is not ours

			got, err := f.token()
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if n := f.lockings(); n != 1 {
				t.Errorf("locks taken: got %d, want 1", n)
			}
			if tc.refreshed {
				f.wantRequests(refreshed)
				f.wantRefreshed(got, other)
			} else {
				f.wantRequests(nil)
				wantSession(t, "returned (vs the other process's)", got, other)
				wantSession(t, "stored (vs the other process's)", f.stored(), other)
			}
			f.wantStderr()
		})
	}
}

// 3. A session near expiry is refreshed once, and the new tokens are saved
// before Token returns: the store holds the returned session, with the
// rotated refresh token, which is the live one (the next refresh works).
func TestTokenRefreshSavesBeforeReturning(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(flowMinTTL - time.Second)

	got, err := f.token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	f.wantRequests(refreshed)
	f.wantRefreshed(got, old)
	if n := f.lockings(); n != 1 {
		t.Errorf("locks taken: got %d, want 1", n)
	}
	if f.opens != 0 {
		t.Errorf("the Prompt was called %d times for a refresh", f.opens)
	}
	f.wantStderr()

	// 26 minutes on, the saved session has 4 left: the rotated token
	// refreshes it.
	f.now = f.now.Add(26 * time.Minute)
	f.markRequests()
	again, err := f.token()
	if err != nil {
		t.Fatalf("Token, 26 minutes on: %v", err)
	}
	f.wantRequests(refreshed)
	f.wantRefreshed(again, got)
	f.wantStderr()
}

// 4. A refresh token the server rejects is forgotten (by refreshAndSave: the
// record keeps the account and its client id, no token), and only a login
// can help: without a Prompt, or with one that cannot open a terminal, exit
// 3 (and the next call says so at once, with no lock and no request); with
// a terminal, the person logs in and the new session is saved, keeping the
// client id.
func TestTokenRejectedRefreshNeedsLogin(t *testing.T) {
	rejections := []struct {
		name    string
		reject  func(f *flow)
		warning string
	}{
		{"spent refresh token", func(f *flow) { f.srv.Revoke(flowEmail) },
			"akiflow-token: warning: Akiflow rejected the saved session (invalid_grant); a new login is needed"},
		{"401 invalid_grant", func(f *flow) {
			f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(401, "application/json", `{"error":"invalid_grant"}`))
		}, "akiflow-token: warning: Akiflow rejected the saved session (invalid_grant); a new login is needed"},
		{"400 invalid_grant", func(f *flow) {
			f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(400, "application/json", `{"error":"invalid_grant","message":"The refresh token is invalid."}`))
		}, "akiflow-token: warning: Akiflow rejected the saved session (invalid_grant); a new login is needed"},
		{"401 invalid_request", func(f *flow) {
			f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(401, "application/json", `{"error":"invalid_request","message":"The refresh token is invalid."}`))
		}, "akiflow-token: warning: Akiflow rejected the saved session (invalid_request); a new login is needed"},
	}
	for _, rj := range rejections {
		for _, prompt := range []string{"no terminal", "no Prompt"} {
			t.Run(rj.name+"/"+prompt, func(t *testing.T) {
				f := newFlow(t, nil)
				says := "no terminal to ask"
				if prompt == "no Prompt" {
					f.req.Prompt, f.req.NoPrompt = nil, "kubectl's interactive: false"
					says = "prompting is turned off (kubectl's interactive: false)"
				}
				old := f.seed(flowMinTTL - time.Second) // still good for 4m59s
				rj.reject(f)

				got, err := f.token()
				wantExit(t, "Token", got, err, ExitLoginNeeded, says, `run: akiflow-token login -e ada@example.com`)
				f.wantRequests(refreshed)
				forgotten := *old
				forgotten.AccessToken, forgotten.RefreshToken, forgotten.ExpiresAt = "", "", time.Time{}
				wantSession(t, "stored after the rejection", f.stored(), &forgotten)
				f.wantStderr(rj.warning)
				if want := map[string]int{"no terminal": 1, "no Prompt": 0}[prompt]; f.opens != want {
					t.Errorf("Prompt calls: got %d, want %d", f.opens, want)
				}

				// The next call needs a login at once: no lock, no request.
				f.markRequests()
				f.resetCounts()
				f.stderr.Reset()
				got, err = f.token()
				wantExit(t, "Token again", got, err, ExitLoginNeeded, says)
				f.wantRequests(nil)
				if n := f.lockings(); n != 0 {
					t.Errorf("Token again took %d locks, want 0", n)
				}
				f.wantStderr()
			})
		}
		t.Run(rj.name+"/terminal", func(t *testing.T) {
			f := newFlow(t, nil)
			old := f.seed(flowMinTTL - time.Second)
			tty := f.withTerminal(f.theCode)
			rj.reject(f)

			got, err := f.token()
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 2, akiflowtest.RouteRefresh: 1,
				akiflowtest.RouteLogin: 1, akiflowtest.RouteCode: 1, akiflowtest.RouteMe: 1})
			want := *old
			want.AccessToken, want.RefreshToken, want.ExpiresAt = got.AccessToken, got.RefreshToken, flowT0.Add(30*time.Minute)
			wantSession(t, "the login's session", got, &want)
			if got.AccessToken == "" || got.AccessToken == old.AccessToken || got.RefreshToken == "" || got.RefreshToken == old.RefreshToken {
				t.Errorf("the login did not bring new tokens")
			}
			wantSession(t, "stored after the login (vs returned)", f.stored(), got)
			if cur := f.current(); cur != flowEmail+"\n" {
				t.Errorf("current record: got %q, want %q", cur, flowEmail+"\n")
			}
			f.wantStderr(rj.warning, "logged in as "+flowEmail)
			if want := "A 6-digit code was sent to " + flowEmail + ".\nCode: "; tty.transcript() != want {
				t.Errorf("terminal transcript: got %q, want %q", tty.transcript(), want)
			}
			if f.opens != 1 || tty.closed() != 1 || tty.unanswered() != 0 {
				t.Errorf("terminal: opened %d, closed %d, %d answers left; want 1, 1, 0", f.opens, tty.closed(), tty.unanswered())
			}
		})
	}
}

// 5. A refresh that failed after being sent, in a way that may pass, keeps
// the session: the cached token is returned with one warning while it has
// not expired; once expired (0s left included), exit 4. No retry: the
// server may have spent the refresh token.
func TestTokenTransientFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault akiflowtest.Fault
		cause string // in the warning
	}{
		{"500", akiflowtest.Reply(500, "application/json", `{"message":"Server Error"}`),
			"Akiflow refresh failed: HTTP 500: Server Error"},
		{"502 HTML", akiflowtest.Reply(502, "text/html", "<html>Bad Gateway</html>"),
			"Akiflow refresh failed: HTTP 502: the server is failing"},
		{"429 over the budget", akiflowtest.RetryAfter(429, 60),
			"Akiflow refresh failed: HTTP 429: Too Many Requests (Akiflow asks to wait 1m0s, over the --timeout budget)"},
		{"200 not JSON", akiflowtest.Reply(200, "text/html", "<html>maintenance</html>"),
			"Akiflow refresh failed: the reply is not JSON"},
		{"connection reset", akiflowtest.Reset(), "could not reach Akiflow at "},
		{"processed, reply lost", akiflowtest.ProcessedThenLost(akiflowtest.RouteRefresh), "could not reach Akiflow at "},
	} {
		for _, left := range []time.Duration{flowMinTTL - time.Second, time.Second, 0, -time.Second} {
			t.Run(fmt.Sprintf("%s/%s left", tc.name, left), func(t *testing.T) {
				f := newFlow(t, nil)
				old := f.seed(left)
				f.srv.Fail(akiflowtest.RouteRefresh, tc.fault)

				got, err := f.token()
				f.wantRequests(refreshed)
				wantSession(t, "stored after the failure", f.stored(), old)
				if left <= 0 {
					wantExit(t, "Token", got, err, ExitUnavailable, tc.cause)
					f.wantStderr()
					return
				}
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				wantSession(t, "returned (vs the cached session)", got, old)
				line := f.stderr.String()
				prefix := fmt.Sprintf("akiflow-token: warning: using the cached token, which expires in %s: %s", left, tc.cause)
				if strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, prefix) {
					t.Errorf("stderr: got %q, want one line \"%s…\"", line, prefix)
				}
				f.noSecrets()
			})
		}
	}
}

// A refresh failure that is neither a rejection nor transient (a 403 from a
// firewall, a 404, a 419 twice) leaves the session as it was: the cached
// token is returned with a warning while it has not expired; once expired,
// exit 1, naming the status, and for 400, 401 and 403 suggesting a login.
func TestTokenPermanentFailureKeepsTheGoodToken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults []akiflowtest.Fault
		cause  string
		login  bool // the error suggests a login
	}{
		{"403 firewall", []akiflowtest.Fault{akiflowtest.Reply(403, "text/plain", "error code: 1010")},
			"HTTP 403: a firewall or proxy in front of Akiflow refused this client, not Akiflow itself (error code: 1010)", true},
		{"401 HTML", []akiflowtest.Fault{akiflowtest.Reply(401, "text/html", "<html>Unauthorized</html>")}, "HTTP 401", true},
		// OAuth errors that say nothing of the refresh token.
		{"400 invalid_request", []akiflowtest.Fault{akiflowtest.Reply(400, "application/json", `{"error":"invalid_request","message":"The request is missing a parameter."}`)},
			"HTTP 400 invalid_request", true},
		{"401 invalid_client", []akiflowtest.Fault{akiflowtest.Reply(401, "application/json", `{"error":"invalid_client","message":"Client authentication failed"}`)},
			"HTTP 401 invalid_client", true},
		{"401 framework", []akiflowtest.Fault{akiflowtest.Reply(401, "application/json", `{"error":"Unauthorized"}`)}, "HTTP 401", true},
		{"404", []akiflowtest.Fault{akiflowtest.Reply(404, "text/html", "<html>Not Found</html>")}, "HTTP 404", false},
		{"419 twice", []akiflowtest.Fault{akiflowtest.Reply(419, "application/json", `{"message":"CSRF token mismatch."}`),
			akiflowtest.Reply(419, "application/json", `{"message":"CSRF token mismatch."}`)}, "HTTP 419", false},
	} {
		for _, left := range []time.Duration{flowMinTTL - time.Second, 0} {
			t.Run(fmt.Sprintf("%s/%s left", tc.name, left), func(t *testing.T) {
				f := newFlow(t, nil)
				old := f.seed(left)
				f.srv.Fail(akiflowtest.RouteRefresh, tc.faults...)
				got, err := f.token()
				f.wantRequests(map[string]int{akiflowtest.RouteCSRF: len(tc.faults), akiflowtest.RouteRefresh: len(tc.faults)})
				wantSession(t, "stored", f.stored(), old)
				if left > 0 {
					if err != nil {
						t.Fatalf("Token: %v", err)
					}
					wantSession(t, "returned (vs the cached session)", got, old)
					if line := f.stderr.String(); strings.Count(line, "\n") != 1 || !strings.Contains(line, tc.cause) {
						t.Errorf("stderr: got %q, want one warning naming %q", line, tc.cause)
					}
					return
				}
				wantExit(t, "Token", got, err, ExitFailure, tc.cause)
				if err == nil {
					return
				}
				if suggests := strings.Contains(err.Error(), `run: akiflow-token login -e ada@example.com`); suggests != tc.login {
					t.Errorf("Token's error %q: suggests a login %v, want %v", err, suggests, tc.login)
				}
				f.wantStderr()
			})
		}
	}
}

// 6. A refresh whose result could not be saved is never sent (it would
// spend the refresh token): the still-good cached token is returned with a
// warning; an expired one is an error that says why.
func TestTokenUnsaveableSendsNoRefresh(t *testing.T) {
	for _, left := range []time.Duration{flowMinTTL - time.Second, 0, -time.Second} {
		t.Run(fmt.Sprintf("%s left", left), func(t *testing.T) {
			f := newFlow(t, nil)
			old := f.seed(left)
			f.store.Unsaveable = errUnsaveable

			got, err := f.token()
			f.wantRequests(nil)
			if n := f.lockings(); n != 1 {
				t.Errorf("locks taken: got %d, want 1", n)
			}
			wantSession(t, "stored", f.stored(), old)
			if left <= 0 {
				wantExit(t, "Token", got, err, ExitFailure, errUnsaveable.Error(), "not refreshing")
				f.wantStderr()
				return
			}
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			wantSession(t, "returned (vs the cached session)", got, old)
			f.wantStderr(fmt.Sprintf("akiflow-token: warning: using the cached token, which expires in %s: not refreshing, since the new session could not be saved: %v", left, errUnsaveable))
		})
	}
}

// 7. The clock decides: a token with at least MinTTL left is a cache hit,
// one second less is refreshed; Force refreshes whatever is left.
func TestTokenMinTTLBoundaries(t *testing.T) {
	for _, tc := range []struct {
		minTTL    time.Duration
		left      time.Duration
		force     bool
		refreshed bool
	}{
		{flowMinTTL, 30 * time.Minute, false, false},
		{flowMinTTL, flowMinTTL + time.Second, false, false},
		{flowMinTTL, flowMinTTL, false, false},
		{flowMinTTL, flowMinTTL - time.Second, false, true},
		{flowMinTTL, 0, false, true},
		{flowMinTTL, -time.Hour, false, true},
		{0, time.Second, false, false},
		{0, 0, false, true}, // expires now: not good
		{0, -time.Second, false, true},
		{flowMinTTL, 30 * time.Minute, true, true},
		{0, 30 * time.Minute, true, true},
	} {
		t.Run(fmt.Sprintf("min-ttl %s, %s left, force %v", tc.minTTL, tc.left, tc.force), func(t *testing.T) {
			f := newFlow(t, nil)
			f.req.MinTTL, f.req.Force = tc.minTTL, tc.force
			old := f.seed(tc.left)
			got, err := f.token()
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tc.refreshed {
				f.wantRequests(refreshed)
				f.wantRefreshed(got, old)
			} else {
				f.wantRequests(nil)
				wantSession(t, "returned (vs the cached session)", got, old)
				if n := f.lockings(); n != 0 {
					t.Errorf("locks taken: got %d, want 0", n)
				}
			}
			f.wantStderr()
		})
	}
}

// A server whose tokens live less than MinTTL: Token returns what it gave,
// without a warning, and refreshes again only when less than half the
// lifetime is left (the effective MinTTL), not at every call.
func TestTokenShortLivedServerTokens(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(time.Minute)
	f.srv.SetExpiresIn(60)
	for i, step := range []struct {
		after     time.Duration
		refreshed bool
	}{
		{0, true}, // one minute left, under MinTTL and no lifetime known yet
		{0, false},
		{30 * time.Second, false}, // exactly half the lifetime left
		{time.Second, true},
		{10 * time.Second, false},
	} {
		f.now = f.now.Add(step.after)
		got, err := f.token()
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if !step.refreshed {
			f.wantRequests(nil)
			wantSession(t, fmt.Sprintf("call %d: returned (vs the cached)", i+1), got, old)
			continue
		}
		f.wantRequests(refreshed)
		if want := f.now.Add(time.Minute); !got.ExpiresAt.Equal(want) {
			t.Errorf("call %d: expires at %s, want %s", i+1, got.ExpiresAt, want)
		}
		if got.RefreshToken == old.RefreshToken {
			t.Errorf("call %d: the refresh token did not rotate", i+1)
		}
		if got.Lifetime != 60 {
			t.Errorf("call %d: lifetime %d s saved, want 60", i+1, got.Lifetime)
		}
		wantSession(t, fmt.Sprintf("call %d: stored (vs returned)", i+1), f.stored(), got)
		old = got
		f.markRequests()
	}
	f.wantStderr()
}

// A reply that rotated the refresh token beside an access token that
// cannot be used: the new refresh token is saved (the old one is spent),
// with no access token, and the error is a protocol error (exit 4); the
// next call refreshes with the saved token instead of asking for a login.
func TestTokenUnusableReplyKeepsTheNewRefreshToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
	}{
		{"empty access token", func(r map[string]any) { r["access_token"] = "" }},
		{"a line break", func(r map[string]any) { r["access_token"] = "x\npassword=evil" }},
		{"C1 CSI", func(r map[string]any) { r["access_token"] = "x\u009b2Jy" }},
		{"too long", func(r map[string]any) { r["access_token"] = strings.Repeat("a", akiflow.MaxTokenSize+1) }},
		{"not a string", func(r map[string]any) { r["access_token"] = 42 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, nil)
			old := f.seed(flowMinTTL - time.Second)
			f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Rewrite(akiflowtest.RouteRefresh, tc.edit))
			got, err := f.token()
			wantExit(t, "Token", got, err, ExitUnavailable)
			stored := f.stored()
			if stored.AccessToken != "" || stored.RefreshToken == "" || stored.RefreshToken == old.RefreshToken || stored.ClientID != old.ClientID {
				t.Fatalf("stored: access token %d bytes, refresh token rotated %v; want no access token and the new refresh token",
					len(stored.AccessToken), stored.RefreshToken != old.RefreshToken)
			}
			if f.opens != 0 {
				t.Errorf("the Prompt was called %d times", f.opens)
			}
			f.markRequests()
			again, err := f.token()
			if err != nil {
				t.Fatalf("the next call: %v", err)
			}
			f.wantRequests(refreshed)
			if again.RefreshToken == stored.RefreshToken {
				t.Errorf("the next call did not refresh with the saved token")
			}
			f.noSecrets()
		})
	}
}

// A reply that says nothing usable of its token's lifetime (no
// expires_in, an opaque token) gives it akiflow.UnknownLifetime: short,
// and so half of it is the effective MinTTL, not every call a refresh.
func TestTokenReplyWithoutLifetime(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(flowMinTTL - time.Second)
	f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Rewrite(akiflowtest.RouteRefresh, func(r map[string]any) {
		delete(r, "expires_in")
		r["access_token"] = "opaque-token"
	}))
	got, err := f.token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	f.wantRequests(refreshed)
	if got.AccessToken != "opaque-token" || got.RefreshToken == old.RefreshToken || !got.ExpiresAt.Equal(flowT0.Add(akiflow.UnknownLifetime)) ||
		got.Lifetime != int64(akiflow.UnknownLifetime/time.Second) {
		t.Errorf("returned: the reply's token %v, rotated %v, expires %s, lifetime %d s; want the reply's, until %s",
			got.AccessToken == "opaque-token", got.RefreshToken != old.RefreshToken, got.ExpiresAt, got.Lifetime, flowT0.Add(akiflow.UnknownLifetime))
	}
	wantSession(t, "stored (vs returned)", f.stored(), got)
	f.markRequests()
	again, err := f.token()
	if err != nil {
		t.Fatalf("Token again: %v", err)
	}
	wantSession(t, "again (vs the first)", again, got)
	f.wantRequests(nil)
	f.wantStderr()
}

// On a disk where no space can be reserved (copy-on-write), saving may
// fail after the server answered: the new token is returned, with one
// warning that the session could not be saved.
func TestTokenUnsavedRefreshStillServes(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(-time.Minute)
	f.store.FailCommit = errUnsaveable
	got, err := f.token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	f.wantRequests(refreshed)
	if got.AccessToken == old.AccessToken || got.RefreshToken == old.RefreshToken || !got.ExpiresAt.Equal(flowT0.Add(30*time.Minute)) {
		t.Errorf("returned: a new token %v, rotated %v, expires %s; want a new token until %s",
			got.AccessToken != old.AccessToken, got.RefreshToken != old.RefreshToken, got.ExpiresAt, flowT0.Add(30*time.Minute))
	}
	wantSession(t, "stored (vs the old)", f.stored(), old)
	line := f.stderr.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, errUnsaveable.Error()) ||
		!strings.Contains(line, "the refreshed session could not be saved") || !strings.Contains(line, "a login is needed") {
		t.Errorf("stderr: got %q, want one warning that the session could not be saved", line)
	}
	f.noSecrets()
}

// What the server says reaches stderr without controls: no escape
// sequence, C1 control, bidi override or zero-width character.
func TestServerTextIsMadeSafe(t *testing.T) {
	f := newFlow(t, nil)
	f.seed(flowMinTTL - time.Second)
	f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(500, "application/json",
		`{"message":"down\u001b]0;owned\u0007 \u009b2J \u202egnp.exe\u200b\nnext"}`))
	if _, err := f.token(); err != nil {
		t.Fatalf("Token: %v", err)
	}
	line := f.stderr.String()
	if format.SafeText(line) != line || strings.ContainsAny(line, "\x1b\x07\u009b\u202e\u200b") || strings.Count(line, "\n") != 1 {
		t.Errorf("stderr holds controls or several lines: %q", line)
	}
	if !strings.Contains(line, "down") || !strings.Contains(line, "next") {
		t.Errorf("stderr lost the server's words: %q", line)
	}
	f.noSecrets()
}

// Request.Stale is a token the API refused before its expiry: a cached
// token other than it is a cache hit (no lock, no request); it is itself
// refreshed, with time left, unless another process replaced it meanwhile;
// when that refresh fails in a way that may pass, the session is kept and,
// while it has not expired, its token is returned with a warning.
func TestTokenStale(t *testing.T) {
	t.Run("another token is a cache hit", func(t *testing.T) {
		f := newFlow(t, nil)
		want := f.seed(30 * time.Minute)
		f.req.Stale = "an.older.token"
		got, err := f.token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		wantSession(t, "returned (vs the cached)", got, want)
		if n := f.lockings(); n != 0 {
			t.Errorf("locks taken: got %d, want 0", n)
		}
		if _, ok := f.h.Cached(f.req); !ok {
			t.Errorf("Cached: no hit")
		}
		f.wantRequests(nil)
		f.wantStderr()
	})
	t.Run("stale is refreshed", func(t *testing.T) {
		f := newFlow(t, nil)
		old := f.seed(30 * time.Minute)
		f.req.Stale = old.AccessToken
		if _, ok := f.h.Cached(f.req); ok {
			t.Errorf("Cached: a hit on the stale token")
		}
		got, err := f.token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		f.wantRequests(refreshed)
		f.wantRefreshed(got, old)
		if n := f.lockings(); n != 1 {
			t.Errorf("locks taken: got %d, want 1", n)
		}
		f.wantStderr()
		// The refreshed token is no longer stale: a cache hit.
		f.markRequests()
		again, err := f.token()
		if err != nil {
			t.Fatalf("Token again: %v", err)
		}
		wantSession(t, "again (vs the refreshed)", again, got)
		f.wantRequests(nil)
	})
	t.Run("replaced meanwhile", func(t *testing.T) {
		f := newFlow(t, nil)
		old := f.seed(30 * time.Minute)
		f.req.Stale = old.AccessToken
		other := *old
		other.AccessToken, other.RefreshToken = "other.access.token", "def50200other"
		f.store.OnLock = func(string) {
			f.store.Do(func() { f.store.OnLock = nil })
			f.put(&other)
		}
		got, err := f.token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		wantSession(t, "returned (vs the other process's)", got, &other)
		f.wantRequests(nil)
		f.wantStderr()
	})
	t.Run("refresh fails, stale not expired", func(t *testing.T) {
		f := newFlow(t, nil)
		old := f.seed(30 * time.Minute)
		f.req.Stale = old.AccessToken
		f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(500, "application/json", `{"message":"Server Error"}`))
		got, err := f.token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		f.wantRequests(refreshed)
		wantSession(t, "returned (vs the stale session)", got, old)
		wantSession(t, "stored (vs the stale session)", f.stored(), old)
		line := f.stderr.String()
		if strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, "akiflow-token: warning: using the cached token, which expires in 30m0s: ") {
			t.Errorf("stderr: got %q, want one warning that the cached token is used", line)
		}
		f.noSecrets()
	})
	t.Run("refresh fails, stale expired", func(t *testing.T) {
		f := newFlow(t, nil)
		old := f.seed(-time.Second)
		f.req.Stale = old.AccessToken
		f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(500, "application/json", `{"message":"Server Error"}`))
		got, err := f.token()
		wantExit(t, "Token", got, err, ExitUnavailable)
		f.wantStderr()
	})
}

// DropAccessToken forgets the cached access token when it is the one
// rejected, under the lock, keeping the refresh token: the next call
// refreshes. Another token, or none, is left alone.
func TestDropAccessToken(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(30 * time.Minute)
	ctx := context.Background()
	for _, other := range []string{"", "another.access.token"} {
		if err := f.h.DropAccessToken(ctx, f.req, other); err != nil {
			t.Fatalf("DropAccessToken(%q): %v", other, err)
		}
		wantSession(t, fmt.Sprintf("stored after dropping %q", other), f.stored(), old)
	}
	if n := f.lockings(); n != 1 {
		t.Errorf("locks taken: got %d, want 1 (none for an empty token)", n)
	}
	if err := f.h.DropAccessToken(ctx, f.req, old.AccessToken); err != nil {
		t.Fatalf("DropAccessToken: %v", err)
	}
	dropped := *old
	dropped.AccessToken, dropped.ExpiresAt = "", time.Time{}
	wantSession(t, "stored after the drop", f.stored(), &dropped)
	got, err := f.token()
	if err != nil {
		t.Fatalf("Token after the drop: %v", err)
	}
	f.wantRequests(refreshed)
	f.wantRefreshed(got, &dropped)
	f.wantStderr()
	if err := f.h.DropAccessToken(ctx, Request{Account: "not an email"}, old.AccessToken); ExitCode(err) != ExitUsage {
		t.Errorf("DropAccessToken of a bad email: exit %d (%v), want %d", ExitCode(err), err, ExitUsage)
	}
}

// The refresher seam: in production, refreshDetached hands the lock to a
// detached process; a lock that cannot pass to another process (memstore's
// have no Handle) is refreshed in this process, saying so.
func TestRefreshDetachedWithoutHandleRefreshesHere(t *testing.T) {
	f := newFlow(t, nil)
	f.h.refresher = f.h.refreshDetached
	old := f.seed(flowMinTTL - time.Second)
	got, err := f.token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	f.wantRequests(refreshed)
	f.wantRefreshed(got, old)
	f.wantStderr("akiflow-token: refreshing in this process: the store's lock cannot pass to another process")
}

// A Helper is safe for concurrent use: calls that all need a refresh take
// turns through the lock, and only the first refreshes; the others read
// its session under the lock. Run it under -race.
func TestTokenConcurrentCallsRefreshOnce(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(-time.Minute)
	const calls = 20
	var wg sync.WaitGroup
	got := make([]*Session, calls)
	errs := make([]error, calls)
	for i := range calls {
		wg.Go(func() { got[i], errs[i] = f.h.Token(context.Background(), f.req) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	f.wantRequests(refreshed)
	f.wantRefreshed(got[0], old)
	for i, s := range got[1:] {
		wantSession(t, fmt.Sprintf("call %d (vs call 0)", i+1), s, got[0])
	}
	if n := f.clients.Load(); n > 1 {
		t.Errorf("%d HTTP clients asked for, want 1", n)
	}
	if strings.Contains(f.stderr.String(), "warning") {
		t.Errorf("stderr: %q", f.stderr.String())
	}
	f.noSecrets()
}

// A cache whose lock cannot be had at all (a read-only mount, no free
// inodes) never hides a token that is still good: it is printed with a
// warning that says what is wrong; an expired one is an error.
func TestTokenServesAGoodTokenWithoutTheLock(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(time.Minute) // under --min-ttl: a refresh is due
	f.h.store = lockless{f.store}
	got, err := f.token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	wantSession(t, "the cached session", got, old)
	f.wantRequests(nil)
	f.wantStderr("akiflow-token: warning: using the cached token, which expires in 1m0s (no refresh runs without the account's lock): could not open memory:ada@example.com.lock: read-only file system")

	f.now = f.now.Add(2 * time.Minute) // expired
	f.stderr.Reset()
	if got, err := f.token(); err == nil || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("Token with an expired token and no lock: %v, %v; want the lock's error", got != nil, err)
	}
}

// lockless is a store whose locks cannot be taken.
type lockless struct{ *memstore.Store }

func (l lockless) Lock(ctx context.Context, name string) (Lock, error) {
	return nil, fmt.Errorf("could not open %s.lock: %w", l.Describe(name), syscall.EROFS)
}

// A call that waits briefly for another's refresh because its token is
// still good, and sees it expire meanwhile, waits on for that refresh as
// long as for any, rather than fail (exit 4).
func TestTokenExpiringDuringTheShortWaitWaitsOn(t *testing.T) {
	defer func(w time.Duration) { stillGoodWait = w }(stillGoodWait)
	stillGoodWait = 200 * time.Millisecond
	start := time.Now()
	f := newFlow(t, func(cfg *Config) { cfg.Now = func() time.Time { return flowT0.Add(time.Since(start)) } })
	f.seed(50 * time.Millisecond) // due for a refresh, and good for 50 ms more
	held, err := f.store.Lock(context.Background(), flowEmail)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(2 * stillGoodWait) // the other's refresh ends after the short wait
		held.Close()
	}()
	if _, err := f.token(); err != nil {
		t.Fatalf("Token: %v (exit %d), want the refreshed session", err, ExitCode(err))
	}
}

// A refresh whose record another save is under way for (another process
// holds the account's lock too: its lock file was removed under one of
// them) is not sent: one refresh token, one sender. The caller tries again
// later (exit 4), and the session is as it was.
func TestRefreshBesideAnotherSaveIsNotSent(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(-time.Minute) // expired
	other, err := f.store.Prepare(flowEmail)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Discard()
	got, err := f.token()
	wantExit(t, "Token", got, err, ExitUnavailable, "another akiflow-token is saving this session now")
	f.wantRequests(map[string]int{})
	wantSession(t, "stored (vs the old)", f.stored(), old)
	other.Discard()
	if _, err := f.token(); err != nil {
		t.Errorf("Token after the other save ended: %v", err)
	}
}

// A save by another process that ended after this refresh read the session
// and before it asked whether it was alone (both held the account's lock:
// its lock file was removed under one) left the record newer than what this
// one read: nothing is sent, and the other's session serves.
func TestRefreshAfterAnotherSaveSendsNothing(t *testing.T) {
	f := newFlow(t, nil)
	f.seed(-time.Minute) // expired
	theirs := f.serverSession(30 * time.Minute)
	theirs.Generation = 1
	f.store.OnPrepare = func(string) {
		f.store.Do(func() { f.store.OnPrepare = nil }) // once: as Prepare is called, the other save is done
		f.put(theirs)
	}
	f.markRequests()
	got, err := f.token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	f.wantRequests(map[string]int{})
	wantSession(t, "returned (vs the other process's)", got, theirs)
}

// Any save under the account's lock (a logout here; a move and git's erase
// save the same way) is turned down, and says to try again, when another
// process saves the session meanwhile (both held the lock: its lock file
// was removed under one): its save under way, or done, is not written over.
func TestSaveBesideAnotherSaveIsTurnedDown(t *testing.T) {
	t.Run("under way", func(t *testing.T) {
		f := newFlow(t, nil)
		old := f.seed(time.Hour)
		other, err := f.store.Prepare(flowEmail)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Discard()
		_, err = f.h.Logout(f.req, false)
		if ExitCode(err) != ExitUnavailable || !strings.Contains(err.Error(), "another akiflow-token is saving this session now") {
			t.Errorf("Logout: %v (exit %d), want exit %d", err, ExitCode(err), ExitUnavailable)
		}
		wantSession(t, "stored (vs the old)", f.stored(), old)
	})
	t.Run("done", func(t *testing.T) {
		f := newFlow(t, nil)
		f.seed(time.Hour)
		theirs := f.serverSession(30 * time.Minute)
		theirs.Generation = 1
		f.store.OnPrepare = func(string) {
			f.store.Do(func() { f.store.OnPrepare = nil })
			f.put(theirs)
		}
		_, err := f.h.Logout(f.req, false)
		if ExitCode(err) != ExitUnavailable || !strings.Contains(err.Error(), "another akiflow-token saved this session meanwhile") {
			t.Errorf("Logout: %v (exit %d), want exit %d", err, ExitCode(err), ExitUnavailable)
		}
		wantSession(t, "stored (vs theirs)", f.stored(), theirs)
	})
	t.Run("an unusable record, saved meanwhile", func(t *testing.T) {
		f := newFlow(t, nil)
		f.store.Put(flowEmail, []byte("garbage"))
		theirs := f.serverSession(30 * time.Minute)
		f.store.OnPrepare = func(string) {
			f.store.Do(func() { f.store.OnPrepare = nil })
			f.put(theirs) // a login's save
		}
		_, err := f.h.Logout(f.req, false)
		if ExitCode(err) != ExitUnavailable {
			t.Errorf("Logout: %v (exit %d), want exit %d", err, ExitCode(err), ExitUnavailable)
		}
		wantSession(t, "stored (vs the login's)", f.stored(), theirs)
	})
}
