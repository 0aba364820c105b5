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
	"sync/atomic"
	"testing"
	"time"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/akiflow/akiflowtest"
	"akiflow-token/helper/store/memstore"
)

// The fixtures of the unit tests of the flow, in process: a Helper over a
// memstore and the fake Akiflow, refreshing in the test's process (the
// detached refresher cannot run in a unit test), on a fixed clock, with no
// terminal or a scripted one. Failures name fields, never print tokens.

const (
	flowEmail  = "ada@example.com"
	flowMinTTL = 5 * time.Minute
)

// flowT0 is the fake clock's time; the fake server's tokens last 30 minutes
// from it (its expires_in, counted from the client's clock).
var flowT0 = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

// errUnsaveable is a store's failure to save: a full disk.
var errUnsaveable = errors.New("the disk is full")

// flow is one Helper under test and what it talks to.
type flow struct {
	t       *testing.T
	srv     *akiflowtest.Server
	store   *memstore.Store
	h       *Helper
	stderr  *syncBuffer
	now     time.Time
	mark    map[string]int // the server's counts when the test began
	tty     *scriptTTY     // nil: Prompt fails, as with no terminal
	opens   int            // calls of the Prompt
	clients atomic.Int32   // calls of newClient: an HTTP client asked for
	// req is the request the test's calls send: flowEmail, --min-ttl
	// flowMinTTL, and a Prompt that opens tty.
	req Request
}

// inProcess is the refresher of the unit tests: refreshAndSave, in the
// test's process.
func inProcess(ctx context.Context, c *call, _ Lock, s *Session) (*Session, error) {
	return c.refreshAndSave(ctx, s)
}

// newFlow makes a Helper; change adjusts its Config.
func newFlow(t *testing.T, change func(*Config)) *flow {
	t.Helper()
	srv := akiflowtest.NewServer()
	t.Cleanup(srv.Close)
	f := &flow{t: t, srv: srv, store: memstore.New(), stderr: &syncBuffer{}, now: flowT0}
	cfg := Config{BaseURL: srv.URL, Timeout: 2 * time.Second, Stderr: f.stderr, Now: func() time.Time { return f.now }}
	if change != nil {
		change(&cfg)
	}
	h, err := New(cfg, func(host string) Store {
		if want := strings.TrimPrefix(srv.URL, "http://"); host != want {
			t.Errorf("New opened the store of %q, want %q", host, want)
		}
		return f.store
	})
	if err != nil {
		t.Fatal(err)
	}
	h.refresher = inProcess
	newClient := h.newClient
	h.newClient = func() *akiflow.Client {
		f.clients.Add(1)
		return newClient()
	}
	f.h = h
	f.req = Request{Account: flowEmail, MinTTL: flowMinTTL, Prompt: f.prompt}
	f.markRequests()
	return f
}

// prompt is the Prompt of f.req: it opens tty, or fails as a process
// without a controlling terminal does.
func (f *flow) prompt() (io.ReadWriteCloser, error) {
	f.opens++
	if f.tty == nil {
		return nil, errors.New("no controlling terminal")
	}
	return f.tty, nil
}

// token calls Token with f.req.
func (f *flow) token() (*Session, error) { return f.h.Token(context.Background(), f.req) }

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

// serverSession is a session for flowEmail with live tokens from the fake,
// not saved.
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

// sessionOf is a session of email with live tokens from the fake, expiring
// left after flowT0, logged in at loggedIn, not saved.
func (f *flow) sessionOf(email string, loggedIn time.Time, left time.Duration) *Session {
	f.t.Helper()
	s := f.serverSession(left)
	s.Email, s.LoggedInAt = email, loggedIn
	return s
}

// put writes s to the store under its email, as another process would.
func (f *flow) put(s *Session) { f.putAs(s.Email, s) }

// putAs writes s to the store under the record name, as it is.
func (f *flow) putAs(name string, s *Session) { f.store.Put(name, s.marshal()) }

// stored is flowEmail's session in the store now.
func (f *flow) stored() *Session {
	f.t.Helper()
	s := f.storedAs(flowEmail)
	if s == nil {
		f.t.Fatalf("the store has no record %s", flowEmail)
	}
	return s
}

// storedAs is the session in the record name, or nil.
func (f *flow) storedAs(name string) *Session {
	f.t.Helper()
	data, ok := f.store.Record(name)
	if !ok {
		return nil
	}
	s, err := ParseSession(data)
	if err != nil {
		f.t.Fatalf("the record %s: %v", name, err)
	}
	return s
}

// setCurrent writes the record naming the default account, as another
// process would.
func (f *flow) setCurrent(email string) { f.store.Put(currentRecord, []byte(email+"\n")) }

// current is the record naming the default account, or "(none)".
func (f *flow) current() string {
	data, ok := f.store.Record(currentRecord)
	if !ok {
		return "(none)"
	}
	return string(data)
}

// lockings is the number of locks taken since the last resetCounts.
// lockings counts the account locks taken (not the login lock, which a
// login holds while it waits for its code, and which a call that cannot
// ask looks at to say a login is waiting elsewhere).
func (f *flow) lockings() int {
	var n int
	f.store.Do(func() {
		for _, name := range f.store.Locked {
			if !strings.HasSuffix(name, "/login") {
				n++
			}
		}
	})
	return n
}

// lockingsOfAnyName counts every lock taken, a login's included.
func (f *flow) lockingsOfAnyName() int {
	var n int
	f.store.Do(func() { n = f.store.Lockings })
	return n
}

// resetCounts zeroes the store's counters.
func (f *flow) resetCounts() {
	f.store.Do(func() { f.store.Reads, f.store.Lockings, f.store.Locked = 0, 0, nil })
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

// refreshed are the requests of one refresh.
var refreshed = map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteRefresh: 1}

// loggedIn are the requests of one login.
var loggedIn = map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteLogin: 1, akiflowtest.RouteCode: 1, akiflowtest.RouteMe: 1}

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

// noSecrets checks that no token the fake issued was written on stderr or
// on the terminal.
func (f *flow) noSecrets() {
	f.t.Helper()
	out := f.stderr.String()
	if f.tty != nil {
		out += f.tty.transcript()
	}
	for _, secret := range f.srv.Secrets() {
		if strings.Contains(out, secret) {
			f.t.Errorf("a token the server issued was written on stderr or the terminal")
			return
		}
	}
}

// wantExit checks that a call failed with the exit status code, and that
// its error holds each of says; the call's session is compared, not shown.
func wantExit(t *testing.T, what string, got *Session, err error, code int, says ...string) {
	t.Helper()
	if got != nil || err == nil || ExitCode(err) != code {
		t.Errorf("%s: got a session: %v, exit %d (%v); want no session, exit %d", what, got != nil, ExitCode(err), err, code)
		return
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: the error %q does not say %q", what, err, s)
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

// syncBuffer is a Config.Stderr that goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
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

func (s *scriptTTY) closed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closes
}

func (s *scriptTTY) unanswered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.answers)
}
