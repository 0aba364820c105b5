package helper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/akiflow/akiflowtest"
)

// The unit tests of Token's decisions, in process: a Helper over a memStore
// and the fake Akiflow, refreshing with refreshHere, on a fixed clock, with
// no terminal or a scripted one. Failures name fields, never print tokens.

const (
	flowEmail  = "ada@example.com"
	flowMinTTL = 5 * time.Minute
)

// flowT0 is the fake clock's time; the fake server's tokens last 30 minutes
// from it (its expires_in, counted from the client's clock).
var flowT0 = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

// flow is one Helper under test and what it talks to.
type flow struct {
	t      *testing.T
	srv    *akiflowtest.Server
	store  *memStore
	h      *Helper
	stderr *bytes.Buffer
	now    time.Time
	mark   map[string]int // the server's counts when the test began
	tty    *scriptTTY     // nil: no terminal
	opens  int            // attempts to open the terminal
}

// newFlow makes a Helper for flowEmail with --min-ttl flowMinTTL; change
// adjusts its Config.
func newFlow(t *testing.T, change func(*Config)) *flow {
	t.Helper()
	srv := akiflowtest.NewServer()
	t.Cleanup(srv.Close)
	f := &flow{t: t, srv: srv, store: newMemStore(), stderr: &bytes.Buffer{}, now: flowT0}
	cfg := Config{BaseURL: srv.URL, Email: flowEmail, MinTTL: flowMinTTL, Timeout: 2 * time.Second,
		Stderr: f.stderr, Now: func() time.Time { return f.now }}
	if change != nil {
		change(&cfg)
	}
	h, err := New(cfg, f.store)
	if err != nil {
		t.Fatal(err)
	}
	h.refresh = h.refreshHere
	h.openTerminal = func() (*terminal, error) {
		f.opens++
		if f.tty == nil {
			return nil, errors.New("no controlling terminal")
		}
		return newTerminal(f.tty), nil
	}
	f.h = h
	f.markRequests()
	return f
}

// withTerminal gives the Helper a terminal that answers its prompts, in
// order, with answers (called when the prompt is read).
func (f *flow) withTerminal(answers ...func() string) *scriptTTY {
	f.tty = &scriptTTY{answers: answers}
	return f.tty
}

// theCode answers with the code the fake mailed.
func (f *flow) theCode() string { return f.srv.Code(flowEmail) }

// seed saves a session for flowEmail whose tokens the fake issued (through
// a login of its own), expiring left after flowT0, and starts counting the
// server's requests afresh.
func (f *flow) seed(left time.Duration) *Session {
	f.t.Helper()
	s := f.serverSession(left)
	f.put(s)
	f.markRequests()
	return s
}

// serverSession is a session with live tokens from the fake, not saved.
func (f *flow) serverSession(left time.Duration) *Session {
	f.t.Helper()
	base, err := url.Parse(f.srv.URL)
	if err != nil {
		f.t.Fatal(err)
	}
	c := akiflow.NewClient(akiflow.ClientConfig{BaseURL: base, Timeout: 2 * time.Second})
	ctx := context.Background()
	codeURL, err := c.StartLogin(ctx, flowEmail)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := c.SubmitCode(ctx, codeURL, flowEmail, f.theCode()); err != nil {
		f.t.Fatal(err)
	}
	tokens, err := c.Me(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return &Session{Format: sessionFormat, Email: flowEmail, BaseURL: f.srv.URL, ClientID: newClientID(),
		AccessToken: tokens.AccessToken, RefreshToken: tokens.RefreshToken, ExpiresAt: flowT0.Add(left)}
}

// put writes s to the store as it is, as another process would.
func (f *flow) put(s *Session) {
	f.t.Helper()
	if err := f.store.Replace(s.Email, func() ([]byte, error) { return s.marshal(), nil }); err != nil {
		f.t.Fatal(err)
	}
}

// stored is flowEmail's session in the store now.
func (f *flow) stored() *Session {
	f.t.Helper()
	data, ok := f.store.record(flowEmail)
	if !ok {
		f.t.Fatalf("the store has no record %s", flowEmail)
	}
	s, err := ParseSession(data)
	if err != nil {
		f.t.Fatalf("the stored record: %v", err)
	}
	return s
}

func (f *flow) markRequests() { f.mark = f.srv.Counts() }

// requests are the server's requests, by route, since the mark.
func (f *flow) requests() map[string]int {
	d := map[string]int{}
	for route, n := range f.srv.Counts() {
		if n -= f.mark[route]; n != 0 {
			d[route] = n
		}
	}
	return d
}

func (f *flow) wantRequests(want map[string]int) {
	f.t.Helper()
	if got := f.requests(); !maps.Equal(got, want) {
		f.t.Errorf("requests to Akiflow: got %v, want %v", got, want)
	}
}

// wantStderr checks what the Helper wrote on its stderr, line by line, and
// that no token the fake issued is in it (nor on the terminal).
func (f *flow) wantStderr(want ...string) {
	f.t.Helper()
	got := f.stderr.String()
	if w := strings.Join(want, "\n") + "\n"; len(want) == 0 && got != "" || len(want) > 0 && got != w {
		f.t.Errorf("stderr:\n got %q\nwant %q", got, w)
	}
	f.noSecrets()
}

func (f *flow) noSecrets() {
	f.t.Helper()
	out := f.stderr.String()
	if f.tty != nil {
		out += f.tty.transcript()
	}
	for _, secret := range f.srv.Secrets() {
		if strings.Contains(out, secret) {
			f.t.Errorf("a token the server issued was written on stderr or the terminal")
		}
	}
}

// sessionDiff names the fields in which got differs from want; tokens are
// compared, never shown.
func sessionDiff(got, want *Session) string {
	if got == nil || want == nil {
		if got == want {
			return ""
		}
		return fmt.Sprintf("got a nil session: %v, want one: %v", got == nil, want != nil)
	}
	var d []string
	if got.Format != want.Format {
		d = append(d, fmt.Sprintf("format %d, want %d", got.Format, want.Format))
	}
	if got.Email != want.Email {
		d = append(d, fmt.Sprintf("email %q, want %q", got.Email, want.Email))
	}
	if got.BaseURL != want.BaseURL {
		d = append(d, fmt.Sprintf("base URL %q, want %q", got.BaseURL, want.BaseURL))
	}
	if got.ClientID != want.ClientID {
		d = append(d, fmt.Sprintf("client id %q, want %q", got.ClientID, want.ClientID))
	}
	if got.AccessToken != want.AccessToken {
		d = append(d, "access token differs")
	}
	if got.RefreshToken != want.RefreshToken {
		d = append(d, "refresh token differs")
	}
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		d = append(d, fmt.Sprintf("expires at %s, want %s", got.ExpiresAt, want.ExpiresAt))
	}
	return strings.Join(d, "; ")
}

func wantSession(t *testing.T, what string, got, want *Session) {
	t.Helper()
	if d := sessionDiff(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

// wantRefreshed checks that got is a refresh of old: new tokens from the
// fake, lasting its 30 minutes from the clock, the same account and client
// id; and that it is what the store holds.
func (f *flow) wantRefreshed(got, old *Session) {
	f.t.Helper()
	if got == nil {
		f.t.Fatal("no session returned")
	}
	want := *old
	want.AccessToken, want.RefreshToken, want.ExpiresAt = got.AccessToken, got.RefreshToken, f.now.Add(30*time.Minute)
	wantSession(f.t, "the refreshed session", got, &want)
	if got.AccessToken == "" || got.AccessToken == old.AccessToken {
		f.t.Errorf("the access token was not renewed")
	}
	if got.RefreshToken == "" || got.RefreshToken == old.RefreshToken {
		f.t.Errorf("the refresh token did not rotate")
	}
	wantSession(f.t, "the store after the refresh (vs the returned session)", f.stored(), got)
}

// scriptTTY is an in-memory terminal: it records what is written to it, and
// answers each line read with the next of its answers.
type scriptTTY struct {
	mu      sync.Mutex
	answers []func() string
	pending []byte
	out     bytes.Buffer
	closes  int
}

func (s *scriptTTY) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		if len(s.answers) == 0 {
			return 0, io.EOF
		}
		s.pending = []byte(s.answers[0]() + "\n")
		s.answers = s.answers[1:]
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

func (s *scriptTTY) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

func (s *scriptTTY) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes++
	return nil
}

func (s *scriptTTY) transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func (s *scriptTTY) unanswered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.answers)
}

// 1. A cache hit returns the saved session: no lock, no request, no HTTP
// client even, one read of the session (and one of the record naming the
// account that logged in last, when no --email chose it).
func TestTokenCacheHit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		email string // Config.Email
		reads int
	}{
		{"--email", flowEmail, 1},
		{"the account that logged in last", "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, func(c *Config) { c.Email = tc.email })
			f.store.Replace(currentRecord, func() ([]byte, error) { return []byte(flowEmail + "\n"), nil })
			want := f.seed(flowMinTTL + time.Second)
			f.store.reads = 0

			got, err := f.h.Token(context.Background())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			wantSession(t, "returned", got, want)
			if f.store.lockings != 0 {
				t.Errorf("locks taken: got %d, want 0", f.store.lockings)
			}
			if f.store.reads != tc.reads {
				t.Errorf("store reads: got %d, want %d", f.store.reads, tc.reads)
			}
			if f.h.client != nil {
				t.Errorf("an HTTP client was made on a cache hit")
			}
			f.wantRequests(nil)
			f.wantStderr()
		})
	}
}

// 2. Under the lock the session is read again: another process may have
// refreshed it while this one waited, and then its session is returned
// without a refresh. With --force-refresh only a token other than the one
// this process meant to replace counts. A session still stale after the
// wait is refreshed with the refresh token read under the lock.
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
		{"refreshed meanwhile, --force-refresh", true, func(f *flow, stale *Session) *Session {
			s := *stale
			s.AccessToken, s.RefreshToken, s.ExpiresAt = "other.access.token", "def50200other", flowT0.Add(30*time.Minute)
			return &s
		}, false, false},
		{"rewritten unchanged, --force-refresh", true, func(f *flow, stale *Session) *Session {
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
			f := newFlow(t, func(c *Config) { c.ForceRefresh = tc.force })
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
			f.store.onLock = func(name string) {
				f.store.onLock = nil // once: the Helper holds the lock now
				if name != flowEmail {
					t.Errorf("locked %q, want %q", name, flowEmail)
				}
				f.put(other)
			}
			f.markRequests() // other's login, if any, is not ours

			got, err := f.h.Token(context.Background())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if f.store.lockings != 1 {
				t.Errorf("locks taken: got %d, want 1", f.store.lockings)
			}
			if tc.refreshed {
				f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteRefresh: 1})
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

	got, err := f.h.Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteRefresh: 1})
	f.wantRefreshed(got, old)
	if f.store.lockings != 1 {
		t.Errorf("locks taken: got %d, want 1", f.store.lockings)
	}
	f.wantStderr()

	// 26 minutes on, the saved session has 4 left: the rotated token
	// refreshes it.
	f.now = f.now.Add(26 * time.Minute)
	f.markRequests()
	again, err := f.h.Token(context.Background())
	if err != nil {
		t.Fatalf("Token, 26 minutes on: %v", err)
	}
	f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteRefresh: 1})
	f.wantRefreshed(again, got)
	f.wantStderr()
}

// 4. A refresh token the server rejects is forgotten, and only a login can
// help: without a terminal, exit 3 (and the next call says so at once, with
// no lock and no request); with one, the person logs in and the new session
// is saved, keeping the client id.
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
		{"400 invalid_request", func(f *flow) {
			f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(400, "application/json", `{"error":"invalid_request","message":"The refresh token is invalid."}`))
		}, "akiflow-token: warning: Akiflow rejected the saved session (invalid_request); a new login is needed"},
	}
	for _, rj := range rejections {
		t.Run(rj.name+"/no terminal", func(t *testing.T) {
			f := newFlow(t, nil)
			old := f.seed(flowMinTTL - time.Second) // still good for 4m59s
			rj.reject(f)

			got, err := f.h.Token(context.Background())
			if got != nil || ExitCode(err) != ExitLoginNeeded {
				t.Fatalf("Token: got a session: %v, exit %d (%v); want no session, exit %d",
					got != nil, ExitCode(err), err, ExitLoginNeeded)
			}
			f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteRefresh: 1})
			forgotten := *old
			forgotten.AccessToken, forgotten.RefreshToken, forgotten.ExpiresAt = "", "", time.Time{}
			wantSession(t, "stored after the rejection", f.stored(), &forgotten)
			f.wantStderr(rj.warning)
			if f.opens != 1 {
				t.Errorf("terminal openings: got %d, want 1", f.opens)
			}

			// The next call needs a login at once: no lock, no request.
			f.markRequests()
			f.store.lockings = 0
			if _, err := f.h.Token(context.Background()); ExitCode(err) != ExitLoginNeeded {
				t.Errorf("Token again: exit %d (%v), want %d", ExitCode(err), err, ExitLoginNeeded)
			}
			f.wantRequests(nil)
			if f.store.lockings != 0 {
				t.Errorf("Token again took %d locks, want 0", f.store.lockings)
			}
		})
		t.Run(rj.name+"/terminal", func(t *testing.T) {
			f := newFlow(t, nil)
			old := f.seed(flowMinTTL - time.Second)
			tty := f.withTerminal(f.theCode)
			rj.reject(f)

			got, err := f.h.Token(context.Background())
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
			if cur, _ := f.store.record(currentRecord); string(cur) != flowEmail+"\n" {
				t.Errorf("current record: got %q, want %q", cur, flowEmail+"\n")
			}
			f.wantStderr(rj.warning, "logged in as "+flowEmail)
			if want := "A 6-digit code was sent to " + flowEmail + ".\nCode: "; tty.transcript() != want {
				t.Errorf("terminal transcript: got %q, want %q", tty.transcript(), want)
			}
			if f.opens != 1 || tty.closes != 1 || tty.unanswered() != 0 {
				t.Errorf("terminal: opened %d, closed %d, %d answers left; want 1, 1, 0", f.opens, tty.closes, tty.unanswered())
			}
		})
	}
}

// With no session at all, a login is the only way: without anyone to ask,
// exit 3 before the lock and without a request.
func TestTokenWithoutSession(t *testing.T) {
	t.Run("no terminal", func(t *testing.T) {
		f := newFlow(t, nil)
		if _, err := f.h.Token(context.Background()); ExitCode(err) != ExitLoginNeeded {
			t.Fatalf("Token: exit %d (%v), want %d", ExitCode(err), err, ExitLoginNeeded)
		}
		if f.store.lockings != 0 || f.opens != 1 {
			t.Errorf("locks %d, terminal openings %d; want 0, 1", f.store.lockings, f.opens)
		}
		f.wantRequests(nil)
		f.wantStderr()
	})
	t.Run("prompting turned off", func(t *testing.T) {
		f := newFlow(t, func(c *Config) { c.NonInteractive = true })
		f.withTerminal(f.theCode)
		if _, err := f.h.Token(context.Background()); ExitCode(err) != ExitLoginNeeded {
			t.Fatalf("Token: exit %d (%v), want %d", ExitCode(err), err, ExitLoginNeeded)
		}
		if f.store.lockings != 0 || f.opens != 0 {
			t.Errorf("locks %d, terminal openings %d; want 0, 0", f.store.lockings, f.opens)
		}
		f.wantRequests(nil)
	})
	t.Run("terminal", func(t *testing.T) {
		f := newFlow(t, nil)
		tty := f.withTerminal(f.theCode)
		got, err := f.h.Token(context.Background())
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteLogin: 1,
			akiflowtest.RouteCode: 1, akiflowtest.RouteMe: 1})
		if got.Email != flowEmail || got.BaseURL != f.srv.URL || got.ClientID == "" || !got.ExpiresAt.Equal(flowT0.Add(30*time.Minute)) {
			t.Errorf("the login's session: email %q, base URL %q, client id %q, expires %s",
				got.Email, got.BaseURL, got.ClientID, got.ExpiresAt)
		}
		wantSession(t, "stored after the login (vs returned)", f.stored(), got)
		f.wantStderr("logged in as " + flowEmail)
		if tty.closes != f.opens {
			t.Errorf("terminal opened %d times, closed %d", f.opens, tty.closes)
		}
	})
}

// 5. A refresh that failed after being sent, in a way that may pass, keeps
// the session: the cached token is returned with one warning while it has
// not expired; once expired (0s left included), exit 4. No retry: the server may have spent
// the refresh token.
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

				got, err := f.h.Token(context.Background())
				f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteRefresh: 1})
				wantSession(t, "stored after the failure", f.stored(), old)
				if left <= 0 {
					if got != nil || ExitCode(err) != ExitUnavailable {
						t.Errorf("Token: got a session: %v, exit %d (%v); want no session, exit %d",
							got != nil, ExitCode(err), err, ExitUnavailable)
					} else if !strings.Contains(err.Error(), tc.cause) {
						t.Errorf("Token's error %q does not say %q", err, tc.cause)
					}
					f.wantStderr()
					return
				}
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				wantSession(t, "returned (vs the cached session)", got, old)
				line := f.stderr.String()
				suffix := fmt.Sprintf("; using the cached token, which expires in %s\n", left)
				if strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, "akiflow-token: warning: "+tc.cause) || !strings.HasSuffix(line, suffix) {
					t.Errorf("stderr: got %q, want one line \"akiflow-token: warning: %s…%s\"", line, tc.cause, suffix)
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
		{"404", []akiflowtest.Fault{akiflowtest.Reply(404, "text/html", "<html>Not Found</html>")}, "HTTP 404", false},
		{"419 twice", []akiflowtest.Fault{akiflowtest.Reply(419, "application/json", `{"message":"CSRF token mismatch."}`),
			akiflowtest.Reply(419, "application/json", `{"message":"CSRF token mismatch."}`)}, "HTTP 419", false},
	} {
		for _, left := range []time.Duration{flowMinTTL - time.Second, 0} {
			t.Run(fmt.Sprintf("%s/%s left", tc.name, left), func(t *testing.T) {
				f := newFlow(t, nil)
				old := f.seed(left)
				f.srv.Fail(akiflowtest.RouteRefresh, tc.faults...)
				got, err := f.h.Token(context.Background())
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
				if got != nil || ExitCode(err) != ExitFailure || !strings.Contains(err.Error(), tc.cause) {
					t.Fatalf("Token: got a session: %v, exit %d (%v); want no session, exit %d naming %q",
						got != nil, ExitCode(err), err, ExitFailure, tc.cause)
				}
				if suggests := strings.Contains(err.Error(), `run "akiflow-token login"`); suggests != tc.login {
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
			f.store.unsaveable = errUnsaveable

			got, err := f.h.Token(context.Background())
			f.wantRequests(nil)
			if f.store.lockings != 1 {
				t.Errorf("locks taken: got %d, want 1", f.store.lockings)
			}
			wantSession(t, "stored", f.stored(), old)
			if left <= 0 {
				if got != nil || !errors.Is(err, errUnsaveable) || ExitCode(err) != ExitFailure {
					t.Errorf("Token: got a session: %v, exit %d (%v); want no session, exit %d, %v",
						got != nil, ExitCode(err), err, ExitFailure, errUnsaveable)
				}
				f.wantStderr()
				return
			}
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			wantSession(t, "returned (vs the cached session)", got, old)
			f.wantStderr(fmt.Sprintf("akiflow-token: warning: %v; not refreshing, since the new session could not be saved; using the cached token, which expires in %s", errUnsaveable, left))
		})
	}
}

// 7. The clock decides: a token with at least --min-ttl left is a cache
// hit, one second less is refreshed; --force-refresh refreshes whatever is
// left.
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
			f := newFlow(t, func(c *Config) { c.MinTTL, c.ForceRefresh = tc.minTTL, tc.force })
			old := f.seed(tc.left)
			got, err := f.h.Token(context.Background())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tc.refreshed {
				f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteRefresh: 1})
				f.wantRefreshed(got, old)
			} else {
				f.wantRequests(nil)
				wantSession(t, "returned (vs the cached session)", got, old)
				if f.store.lockings != 0 {
					t.Errorf("locks taken: got %d, want 0", f.store.lockings)
				}
			}
			f.wantStderr()
		})
	}
}

// A server whose tokens live less than --min-ttl: Token returns what it
// gave, without a warning, and refreshes again only when less than half the
// lifetime is left (the effective --min-ttl), not at every call.
func TestTokenShortLivedServerTokens(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(time.Minute)
	f.srv.SetExpiresIn(60)
	for i, step := range []struct {
		after     time.Duration
		refreshed bool
	}{
		{0, true}, // one minute left, under --min-ttl and no lifetime known yet
		{0, false},
		{30 * time.Second, false}, // exactly half the lifetime left
		{time.Second, true},
		{10 * time.Second, false},
	} {
		f.now = f.now.Add(step.after)
		got, err := f.h.Token(context.Background())
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if !step.refreshed {
			f.wantRequests(nil)
			wantSession(t, fmt.Sprintf("call %d: returned (vs the cached)", i+1), got, old)
			continue
		}
		f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteRefresh: 1})
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
		{"no expiry", func(r map[string]any) { delete(r, "expires_in"); r["access_token"] = "opaque" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, nil)
			old := f.seed(flowMinTTL - time.Second)
			f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Rewrite(akiflowtest.RouteRefresh, tc.edit))
			got, err := f.h.Token(context.Background())
			if got != nil || ExitCode(err) != ExitUnavailable {
				t.Fatalf("Token: got a session: %v, exit %d (%v); want none, exit %d", got != nil, ExitCode(err), err, ExitUnavailable)
			}
			stored := f.stored()
			if stored.AccessToken != "" || stored.RefreshToken == "" || stored.RefreshToken == old.RefreshToken || stored.ClientID != old.ClientID {
				t.Fatalf("stored: access token %d bytes, refresh token rotated %v; want no access token and the new refresh token",
					len(stored.AccessToken), stored.RefreshToken != old.RefreshToken)
			}
			f.markRequests()
			again, err := f.h.Token(context.Background())
			if err != nil {
				t.Fatalf("the next call: %v", err)
			}
			f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteRefresh: 1})
			if again.RefreshToken == stored.RefreshToken {
				t.Errorf("the next call did not refresh with the saved token")
			}
			f.noSecrets()
		})
	}
}

// On a disk where no space can be reserved (copy-on-write), saving may
// fail after the server answered: the new token is returned, with one
// warning that the session could not be saved.
func TestTokenUnsavedRefreshStillServes(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(-time.Minute)
	f.store.failCommit = errUnsaveable
	got, err := f.h.Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteRefresh: 1})
	if got.AccessToken == old.AccessToken || got.RefreshToken == old.RefreshToken || !got.ExpiresAt.Equal(flowT0.Add(30*time.Minute)) {
		t.Errorf("returned: a new token %v, rotated %v, expires %s; want a new token until %s",
			got.AccessToken != old.AccessToken, got.RefreshToken != old.RefreshToken, got.ExpiresAt, flowT0.Add(30*time.Minute))
	}
	wantSession(t, "stored (vs the old)", f.stored(), old)
	line := f.stderr.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "the refreshed session could not be saved") || !strings.Contains(line, "a login will be needed") {
		t.Errorf("stderr: got %q, want one warning that the session could not be saved", line)
	}
}

// What the server says reaches stderr without controls: no escape
// sequence, C1 control, bidi override or zero-width character.
func TestServerTextIsMadeSafe(t *testing.T) {
	f := newFlow(t, nil)
	f.seed(flowMinTTL - time.Second)
	f.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(500, "application/json",
		`{"message":"down\u001b]0;owned\u0007 \u009b2J \u202egnp.exe\u200b\nnext"}`))
	if _, err := f.h.Token(context.Background()); err != nil {
		t.Fatalf("Token: %v", err)
	}
	line := f.stderr.String()
	if strings.ContainsFunc(line, func(r rune) bool { return r != '\n' && unsafeRune(r) }) || strings.Count(line, "\n") != 1 {
		t.Errorf("stderr holds controls or several lines: %q", line)
	}
	if !strings.Contains(line, "down") || !strings.Contains(line, "next") {
		t.Errorf("stderr lost the server's words: %q", line)
	}
}
