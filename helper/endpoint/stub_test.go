package endpoint

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"akiflow-token/helper/format"
)

// What the tests have in common: a Source in memory (stubSource), an API
// that takes its tokens (stubAPI), and an endpoint between them (rig).

const (
	alice    = "alice@example.com"
	clientID = "00000000-0000-4000-8000-000000000000"
)

// stubSource is a Source in memory. Its tokens are made up ("tok-1",
// "tok-2", ...: nothing secret, so a failure message may name them); it
// counts its calls and does what the test programs: fail, block until
// released, lose its cached token, fail to refresh.
type stubSource struct {
	mu      sync.Mutex
	cur     format.Credential // the current token; AccessToken "" before the first
	fresh   bool              // Cached serves cur: it has at least the min-ttl left
	issued  []string          // every token made, in order
	revoked map[string]bool   // tokens the API refuses before their expiry
	next    string            // the next token to make, if not "tok-N"

	err        error         // Token and Renew fail with it
	tokenFails bool          // Token cannot refresh: cur while it is still good, else ErrUnavailable
	renewFails bool          // Renew cannot refresh: stale while it is still good, else ErrUnavailable
	gate       chan struct{} // non-nil: Token and Renew wait until it is closed

	calls   stubCalls
	running int             // Token and Renew calls under way
	lastCtx context.Context // the context of the last Token or Renew call
}

// stubCalls counts a stubSource's calls.
type stubCalls struct {
	Cached, Token, Renew int
	MaxRunning           int // the most Token and Renew calls under way at once
}

// newStub is a stub Source that holds tok-1, fresh. It fails t if Token
// and Renew ever ran beside each other.
func newStub(t testing.TB) *stubSource {
	s := &stubSource{revoked: map[string]bool{}}
	s.issueLocked()
	t.Cleanup(func() {
		if n := s.count().MaxRunning; n > 1 {
			t.Errorf("the Source had %d Token or Renew calls under way at once; the endpoint makes one at a time", n)
		}
	})
	return s
}

func (s *stubSource) issueLocked() {
	tok := fmt.Sprintf("tok-%d", len(s.issued)+1)
	if s.next != "" {
		tok, s.next = s.next, ""
	}
	s.cur = format.Credential{AccessToken: tok, ExpiresAt: time.Now().Add(time.Hour).Truncate(time.Second), Email: alice, ClientID: clientID}
	s.fresh = true
	s.issued = append(s.issued, tok)
}

func (s *stubSource) Cached() (format.Credential, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls.Cached++
	if s.fresh && s.cur.AccessToken != "" {
		return s.cur, true
	}
	return format.Credential{}, false
}

// enter notes a Token or Renew call and waits for the gate; leave ends it.
func (s *stubSource) enter(ctx context.Context, count *int) error {
	s.mu.Lock()
	*count++
	s.running++
	s.calls.MaxRunning = max(s.calls.MaxRunning, s.running)
	s.lastCtx = ctx
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			s.leave()
			return fmt.Errorf("the stub was waiting: %w", ErrInterrupted)
		}
	}
	return nil
}

func (s *stubSource) leave() {
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
}

func (s *stubSource) Token(ctx context.Context) (format.Credential, error) {
	if err := s.enter(ctx, &s.calls.Token); err != nil {
		return format.Credential{}, err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return format.Credential{}, s.err
	case s.fresh:
	case s.tokenFails && s.cur.AccessToken != "" && time.Now().Before(s.cur.ExpiresAt):
		// A fallback: still good, under the min-ttl.
	case s.tokenFails:
		return format.Credential{}, fmt.Errorf("the stub's refresh: %w", ErrUnavailable)
	default:
		s.issueLocked()
	}
	return s.cur, nil
}

func (s *stubSource) Renew(ctx context.Context, stale string) (format.Credential, error) {
	if err := s.enter(ctx, &s.calls.Renew); err != nil {
		return format.Credential{}, err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return format.Credential{}, s.err
	case s.fresh && s.cur.AccessToken != stale:
	case s.renewFails && s.cur.AccessToken == stale && time.Now().Before(s.cur.ExpiresAt):
		// The refused token itself: the refresh failed.
	case s.renewFails:
		return format.Credential{}, fmt.Errorf("the stub's refresh: %w", ErrUnavailable)
	default:
		s.issueLocked()
	}
	return s.cur, nil
}

// count returns the calls so far.
func (s *stubSource) count() stubCalls {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// current is the current token, whatever its state.
func (s *stubSource) current() format.Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// tokens lists every token made so far.
func (s *stubSource) tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// set changes the stub under its lock.
func (s *stubSource) set(f func(s *stubSource)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// expire makes the current token expired: Cached has none.
func (s *stubSource) expire() {
	s.set(func(s *stubSource) { s.cur.ExpiresAt, s.fresh = time.Now().Add(-time.Minute), false })
}

// underMinTTL makes the current token still good but under the min-ttl:
// Cached has none, and a refresh that fails falls back on it.
func (s *stubSource) underMinTTL() { s.set(func(s *stubSource) { s.fresh = false }) }

// fail makes Token and Renew fail with err (nil: not any more).
func (s *stubSource) fail(err error) { s.set(func(s *stubSource) { s.err = err }) }

// login is a login elsewhere: a new token, fresh, and no more failures.
func (s *stubSource) login() {
	s.set(func(s *stubSource) {
		s.err, s.tokenFails, s.renewFails = nil, false, false
		s.issueLocked()
	})
}

// revoke makes the API refuse tok, which the stub still serves.
func (s *stubSource) revoke(tok string) { s.set(func(s *stubSource) { s.revoked[tok] = true }) }

// hold makes Token and Renew wait until the returned release is called.
func (s *stubSource) hold() (release func()) {
	gate := make(chan struct{})
	s.set(func(s *stubSource) { s.gate = gate })
	var once sync.Once
	return func() {
		once.Do(func() {
			s.set(func(s *stubSource) { s.gate = nil })
			close(gate)
		})
	}
}

// valid says the API takes tok: the current token, unexpired, not revoked.
func (s *stubSource) valid(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tok != "" && tok == s.cur.AccessToken && !s.revoked[tok] && time.Now().Before(s.cur.ExpiresAt)
}

// stubAPI is the Akiflow API as the proxy sees it: it takes the stub's
// current token only (401 otherwise), answers a request's body back (or
// {"data":[]} when there is none), and counts requests by the token they
// carried.
type stubAPI struct {
	src     *stubSource
	mu      sync.Mutex
	byToken map[string]int
}

func newStubAPI(src *stubSource) *stubAPI { return &stubAPI{src: src, byToken: map[string]int{}} }

func (a *stubAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	a.mu.Lock()
	a.byToken[tok]++
	a.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if !a.src.valid(tok) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if len(body) == 0 {
		body = []byte(`{"data":[]}`)
	}
	w.Write(body)
}

// calls is how many requests came with tok ("": all of them).
func (a *stubAPI) calls(tok string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if tok != "" {
		return a.byToken[tok]
	}
	n := 0
	for _, c := range a.byToken {
		n += c
	}
	return n
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// rig is an endpoint in this process: its tokens from a stub Source, its
// API an upstream the test writes, its stderr captured. At the end of the
// test it fails if stderr holds a token the stub made or a capability.
type rig struct {
	t   testing.TB
	src *stubSource
	ep  *Endpoint
	api *httptest.Server
	log *syncBuffer
}

// newRig starts an endpoint on src (nil: a new stub, holding tok-1) whose
// API is upstream (nil: a stubAPI of src), for alice, verbose; opts change
// its Config.
func newRig(t testing.TB, src *stubSource, upstream http.Handler, opts ...func(*Config)) *rig {
	t.Helper()
	if src == nil {
		src = newStub(t)
	}
	if upstream == nil {
		upstream = newStubAPI(src)
	}
	r := &rig{t: t, src: src, log: &syncBuffer{}}
	r.api = httptest.NewServer(upstream)
	t.Cleanup(r.api.Close)
	api, err := ParseAPIURL(r.api.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Source: src, Email: alice, API: api, Timeout: 30 * time.Second, Stderr: r.log, Verbose: true}
	for _, o := range opts {
		o(&cfg)
	}
	r.ep, err = Start(cfg, DefaultListen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.checkNoSecrets("stderr", r.log.String()) }) // after Close: the last line is in
	t.Cleanup(func() { r.ep.Close() })
	return r
}

func quiet(c *Config) { c.Verbose = false }

// get sends a request to the endpoint and reads the answer; header is
// name, value pairs.
func (r *rig) get(method, u string, body io.Reader, header ...string) (*http.Response, string) {
	r.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := testClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, r.redact(u), r.redact(err.Error()))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s %s: reading the answer: %v", method, r.redact(u), err)
	}
	return resp, string(data)
}

var testClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}

// failureOf decodes an answer without a token.
func failureOf(t testing.TB, body string) failure {
	t.Helper()
	var f failure
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		t.Errorf("not a failure's JSON: %q", body)
	}
	return f
}

// redact replaces the capabilities in s, for a failure message.
func (r *rig) redact(s string) string {
	s = strings.ReplaceAll(s, r.ep.tokenCap, "<token capability>")
	return strings.ReplaceAll(s, r.ep.proxyCap, "<proxy capability>")
}

// checkNoSecrets fails if text holds a token the stub made or a
// capability.
func (r *rig) checkNoSecrets(where, text string) {
	r.t.Helper()
	for _, tok := range r.src.tokens() {
		if strings.Contains(text, tok) {
			r.t.Errorf("%s holds the token %s", where, tok)
		}
	}
	if strings.Contains(text, r.ep.tokenCap) || strings.Contains(text, r.ep.proxyCap) {
		r.t.Errorf("%s holds a capability", where)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits for cond, with a bound generous enough for a loaded
// machine; what names the condition in the failure.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// within says less than d has passed since start. A check that holds only
// within holdoff or forcedGap of an event is made only then: a machine too
// slow to get there in time skips it (and says so) rather than failing.
func within(t testing.TB, start time.Time, d time.Duration, what string) bool {
	t.Helper()
	if time.Since(start) < d {
		return true
	}
	t.Logf("skipped the check of %s: the machine took longer than %v to get there", what, d)
	return false
}

// stubAPI is the rig's API, when newRig made it.
func (r *rig) stubAPI() *stubAPI { return r.api.Config.Handler.(*stubAPI) }
