package endpoint

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"akiflow-token/helper"
	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/akiflow/akiflowtest"
)

func TestParseAPIURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://api.akiflow.com":          "https://api.akiflow.com",
		"https://API.Akiflow.com/":         "https://api.akiflow.com",
		"https://akiflow.com/api/":         "https://akiflow.com/api",
		"https://eu.api.akiflow.com:8443":  "https://eu.api.akiflow.com:8443",
		"http://127.0.0.1:8080":            "http://127.0.0.1:8080",
		"http://[::1]:8080/base":           "http://[::1]:8080/base",
		"http://localhost:1":               "http://localhost:1",
		"https://api.example.com":          "",
		"https://akiflow.com.example.com":  "",
		"https://evilakiflow.com":          "",
		"https://akiflow.com@example.com":  "",
		"https://u:p@api.akiflow.com":      "",
		"http://api.akiflow.com":           "",
		"http://10.0.0.1":                  "",
		"https://127.0.0.1":                "",
		"ftp://api.akiflow.com":            "",
		"https://api.akiflow.com?x=1":      "",
		"https://api.akiflow.com#x":        "",
		"https://api.akiflow.com:99999":    "",
		"//api.akiflow.com":                "",
		"api.akiflow.com":                  "",
		"":                                 "",
		"https://api.akiflow.com\\@e.com":  "",
		"https://api.akiflow.com%2f@e.com": "",
	} {
		u, err := ParseAPIURL(raw)
		switch {
		case want == "" && err == nil:
			t.Errorf("ParseAPIURL(%q) = %s, want an error", raw, u)
		case want != "" && err != nil:
			t.Errorf("ParseAPIURL(%q): %v", raw, err)
		case want != "" && u.String() != want:
			t.Errorf("ParseAPIURL(%q) = %s, want %s", raw, u, want)
		}
	}
}

func TestParseListen(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:0":     "127.0.0.1:0",
		"127.0.0.2:8080":  "127.0.0.2:8080",
		"[::1]:8080":      "[::1]:8080",
		"localhost:8080":  "127.0.0.1:8080",
		"0.0.0.0:0":       "",
		"[::]:0":          "",
		":8080":           "",
		"192.168.1.1:80":  "",
		"example.com:80":  "",
		"127.0.0.1":       "",
		"127.0.0.1:65536": "",
		"127.0.0.1:http":  "",
	} {
		got, err := ParseListen(addr)
		if want == "" && err == nil || want != "" && (err != nil || got != want) {
			t.Errorf("ParseListen(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}

// memStore is a helper.Store in memory: its locks are channels, and it
// counts nothing.
type memStore struct {
	mu      sync.Mutex
	records map[string][]byte
	locks   map[string]chan struct{}
}

func newMemStore() *memStore {
	return &memStore{records: map[string][]byte{}, locks: map[string]chan struct{}{}}
}

func (m *memStore) Read(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.records[name]
	if !ok {
		return nil, fmt.Errorf("no record %s: %w", name, fs.ErrNotExist)
	}
	return append([]byte(nil), data...), nil
}

func (m *memStore) Replace(name string, content func() ([]byte, error)) error {
	data, err := content()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[name] = data
	return nil
}

func (m *memStore) Lock(ctx context.Context, name string) (io.Closer, error) {
	m.mu.Lock()
	ch, ok := m.locks[name]
	if !ok {
		ch = make(chan struct{}, 1)
		m.locks[name] = ch
	}
	m.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return closer(func() { <-ch }), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type closer func()

func (c closer) Close() error { c(); return nil }

func (m *memStore) Salvage(string, func([]byte) bool) (bool, error) { return false, nil }

func (m *memStore) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, name)
	return nil
}

func (m *memStore) Names() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for n := range m.records {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (m *memStore) Path(name string) string { return "mem:" + name }
func (m *memStore) Dir() string             { return "mem:" }

const alice = "alice@example.com"

// rig is an endpoint in this process: its tokens from the fake Akiflow
// (refreshed in process, in a store in memory), its API an upstream the
// test writes.
type rig struct {
	t     testing.TB
	srv   *akiflowtest.Server
	store *memStore
	ep    *Endpoint
	api   *httptest.Server
	log   *syncBuffer
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

// newRig logs alice in on a new fake and starts an endpoint whose API is
// upstream (nil: the fake's own protected endpoint).
func newRig(t testing.TB, upstream http.Handler) *rig {
	t.Helper()
	r := &rig{t: t, srv: akiflowtest.NewServer(), store: newMemStore(), log: &syncBuffer{}}
	t.Cleanup(r.srv.Close)
	if upstream == nil {
		upstream = r.srv.Config.Handler
	}
	r.api = httptest.NewServer(upstream)
	t.Cleanup(r.api.Close)
	r.login()
	h, err := helper.New(helper.Config{BaseURL: r.srv.URL, Email: alice, MinTTL: 5 * time.Minute, Timeout: 5 * time.Second,
		NonInteractive: true, Stderr: r.log}, r.store)
	if err != nil {
		t.Fatal(err)
	}
	api, err := ParseAPIURL(r.api.URL)
	if err != nil {
		t.Fatal(err)
	}
	r.ep, err = Start(Config{Helper: h, Email: alice, API: api, Timeout: 2 * time.Second, Stderr: r.log}, DefaultListen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ep.Close() })
	return r
}

// login logs alice in on the fake and saves the session in the store.
func (r *rig) login() {
	r.t.Helper()
	ctx := context.Background()
	base, _ := url.Parse(r.srv.URL)
	c := akiflow.NewClient(akiflow.ClientConfig{BaseURL: base, Timeout: 5 * time.Second})
	codeURL, err := c.StartLogin(ctx, alice)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := c.SubmitCode(ctx, codeURL, alice, r.srv.Code(alice)); err != nil {
		r.t.Fatal(err)
	}
	tokens, err := c.Me(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	data, _ := json.Marshal(map[string]any{"format": 1, "email": alice, "base_url": r.srv.URL,
		"client_id": "00000000-0000-4000-8000-000000000000", "access_token": tokens.AccessToken,
		"refresh_token": tokens.RefreshToken, "expires_at": tokens.ExpiresAt.UTC().Truncate(time.Second),
		"lifetime": int64(tokens.Lifetime / time.Second)})
	r.store.Replace(alice, func() ([]byte, error) { return data, nil })
}

// session is the stored session, as a map.
func (r *rig) session() map[string]any {
	data, _ := r.store.Read(alice)
	var s map[string]any
	json.Unmarshal(data, &s)
	return s
}

// expire makes the stored access token expired.
func (r *rig) expire() {
	s := r.session()
	s["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	data, _ := json.Marshal(s)
	r.store.Replace(alice, func() ([]byte, error) { return data, nil })
}

func (r *rig) get(method, u string, body io.Reader, header ...string) (*http.Response, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, u, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := testClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

var testClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}

// checkNoSecrets fails if text holds a token or a capability.
func (r *rig) checkNoSecrets(where, text string) {
	r.t.Helper()
	for _, s := range append(r.srv.Secrets(), r.ep.tokenCap, r.ep.proxyCap) {
		if strings.Contains(text, s) {
			r.t.Errorf("%s holds a secret", where)
		}
	}
}

// The proxy forwards to the API's host only, the path below the
// capability and the query as they came, with the token and Akiflow's
// client headers; it drops hop-by-hop headers both ways, and whatever
// could carry the capability.
func TestProxyForwardsOnlyWhatItShould(t *testing.T) {
	var mu sync.Mutex
	var seen *http.Request
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Clone(context.Background())
		mu.Unlock()
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "dropped")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("X-Kept", "kept")
		if r.URL.Path == "/v5/redirect" {
			http.Redirect(w, r, "http://"+r.Host+"/v5/tasks?page=2", http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	})
	r := newRig(t, upstream)
	resp, body := r.get("GET", r.ep.ProxyURL()+"/v5/a%2Fb/c?x=1&y=%20", nil,
		"Authorization", "Bearer the-programs-own",
		"Connection", "X-Custom-Hop", "X-Custom-Hop", "dropped", "Keep-Alive", "timeout=5",
		"Upgrade", "websocket", "Proxy-Authorization", "Basic eA==",
		"Referer", r.ep.TokenURL(), "X-Echo", "see "+r.ep.ProxyURL(), "X-Forwarded-For", "1.2.3.4",
		"Akiflow-Platform", "mine", "User-Agent", "consumer/1")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	mu.Lock()
	in := seen
	mu.Unlock()
	if got := in.URL.EscapedPath(); got != "/v5/a%2Fb/c" {
		t.Errorf("path: got %q", got)
	}
	if in.URL.RawQuery != "x=1&y=%20" {
		t.Errorf("query: got %q", in.URL.RawQuery)
	}
	if in.Host != strings.TrimPrefix(r.api.URL, "http://") {
		t.Errorf("Host: got %q", in.Host)
	}
	token, _ := r.store.Read(alice)
	var s struct {
		AccessToken string `json:"access_token"`
		ClientID    string `json:"client_id"`
	}
	json.Unmarshal(token, &s)
	for name, want := range map[string]string{
		"Authorization":       "Bearer " + s.AccessToken,
		"Akiflow-Client-Id":   s.ClientID,
		"Akiflow-Platform":    akiflow.Platform,
		"Akiflow-Version":     akiflow.AppVersion,
		"User-Agent":          "consumer/1",
		"Connection":          "",
		"X-Custom-Hop":        "",
		"Keep-Alive":          "",
		"Upgrade":             "",
		"Proxy-Authorization": "",
		"Referer":             "",
		"X-Echo":              "",
		"X-Forwarded-For":     "",
	} {
		if got := in.Header.Get(name); got != want {
			t.Errorf("upstream's %s: got %q, want %q", name, redactTokens(got, s.AccessToken), redactTokens(want, s.AccessToken))
		}
	}
	for name, want := range map[string]string{"X-Hop": "", "Keep-Alive": "", "X-Kept": "kept", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("answer's %s: got %q, want %q", name, got, want)
		}
	}

	// A path or query that quotes a capability is not forwarded.
	calls := func() *http.Request { mu.Lock(); defer mu.Unlock(); return seen }
	last := calls()
	for _, u := range []string{r.ep.ProxyURL() + "/v5/" + r.ep.proxyCap, r.ep.ProxyURL() + "/v5/x?next=" + url.QueryEscape(r.ep.TokenURL())} {
		if resp, _ := r.get("GET", u, nil); resp.StatusCode != 400 || calls() != last {
			t.Errorf("a request quoting a capability: %d, forwarded: %v", resp.StatusCode, calls() != last)
		}
	}

	// An upgrade to another protocol is not passed on.
	resp, body = r.get("GET", r.ep.ProxyURL()+"/v5/socket", nil, "Connection", "Upgrade", "Upgrade", "websocket")
	mu.Lock()
	in = seen
	mu.Unlock()
	if resp.StatusCode != 200 || body != "ok" || in.Header.Get("Upgrade") != "" || in.Header.Get("Connection") != "" {
		t.Errorf("upgrade: %d %q; the API saw Upgrade %q, Connection %q", resp.StatusCode, body, in.Header.Get("Upgrade"), in.Header.Get("Connection"))
	}

	// A redirect to the API comes back through the proxy.
	req, _ := http.NewRequest("GET", r.ep.ProxyURL()+"/v5/redirect", nil)
	resp, err := testClient.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("Location"), r.ep.ProxyURL()+"/v5/tasks?page=2"; got != want {
		t.Errorf("Location: got %q, want the proxy's", got)
	}

	// An absolute-form request naming another host still goes to the API.
	conn, err := net.Dial("tcp", r.ep.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET http://%s/%s/v5/elsewhere HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", r.ep.Addr(), r.ep.proxyCap, r.ep.Addr())
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	in = seen
	mu.Unlock()
	if resp.StatusCode != 200 || in.URL.Path != "/v5/elsewhere" || in.Host != strings.TrimPrefix(r.api.URL, "http://") {
		t.Errorf("absolute-form request: status %d, upstream saw %s on %s", resp.StatusCode, in.URL.Path, in.Host)
	}
	r.checkNoSecrets("stderr", r.log.String())
}

func redactTokens(s, token string) string { return strings.ReplaceAll(s, token, "<token>") }

// Bodies stream both ways: the program reads the first part of an answer
// before the API has finished it, and the API reads a large upload as it
// comes.
func TestProxyStreams(t *testing.T) {
	release := make(chan struct{})
	received := make(chan int64, 1)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PUT" {
			n, _ := io.Copy(io.Discard, r.Body)
			received <- n
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "data: second\n\n")
	})
	r := newRig(t, upstream)
	resp, err := testClient.Get(r.ep.ProxyURL() + "/v5/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
	close(release)

	const size = 8 << 20
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			pw.Write(chunk)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", r.ep.ProxyURL()+"/v5/upload", pr)
	resp2, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if n := <-received; n != size || resp2.StatusCode != 200 {
		t.Errorf("upload: status %d, the API got %d of %d bytes", resp2.StatusCode, n, size)
	}
}

// Many requests whose token the API refuses (revoked early) cost one
// forced refresh, not one each, and each is sent again once; a refusal
// right after a forced refresh is passed through.
func TestProxyForcesOneRefreshAtATime(t *testing.T) {
	var srv *akiflowtest.Server
	var mu sync.Mutex
	revoked := map[string]bool{}
	var calls int
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		calls++
		bad := revoked[token]
		mu.Unlock()
		if bad || !srv.Valid(token) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	})
	r := newRig(t, upstream)
	srv = r.srv
	first := r.session()["access_token"].(string)
	mu.Lock()
	revoked[first] = true
	mu.Unlock()
	before := r.srv.Count(akiflowtest.RouteRefresh)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := r.get("POST", r.ep.ProxyURL()+"/v5/echo", strings.NewReader(fmt.Sprint(i)))
			if resp.StatusCode != 200 || body != fmt.Sprint(i) {
				t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	if n := r.srv.Count(akiflowtest.RouteRefresh) - before; n != 1 {
		t.Errorf("refreshes for 20 refused requests: %d, want 1", n)
	}
	if calls > 40 {
		t.Errorf("the API saw %d requests for 20: some were sent more than twice", calls)
	}

	// The new token is refused too (an endpoint that refuses everything):
	// no second forced refresh so soon, the 401 passes.
	second := r.session()["access_token"].(string)
	mu.Lock()
	revoked[second] = true
	mu.Unlock()
	resp, _ := r.get("GET", r.ep.ProxyURL()+"/v5/x", nil)
	if resp.StatusCode != 401 {
		t.Errorf("a refusal right after a forced refresh: %d, want 401", resp.StatusCode)
	}
	if n := r.srv.Count(akiflowtest.RouteRefresh) - before; n != 1 {
		t.Errorf("refreshes: %d, want still 1", n)
	}
	r.checkNoSecrets("stderr", r.log.String())
}

// A burst of requests on an expired token costs one refresh; requests that
// wait for it take its outcome.
func TestTokenURLRefreshesOnceForABurst(t *testing.T) {
	r := newRig(t, nil)
	r.srv.SetLatency(50 * time.Millisecond)
	r.expire()
	before := r.srv.Count(akiflowtest.RouteRefresh)
	var wg sync.WaitGroup
	tokens := make([]string, 30)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := r.get("GET", r.ep.TokenURL()+"?format=raw", nil)
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
			tokens[i] = body
		}()
	}
	wg.Wait()
	if n := r.srv.Count(akiflowtest.RouteRefresh) - before; n != 1 {
		t.Errorf("refreshes: %d, want 1", n)
	}
	for _, tok := range tokens {
		if tok != tokens[0] || !r.srv.Valid(tok) {
			t.Errorf("the burst got different or dead tokens")
			break
		}
	}
}

// The capability check takes no longer for a nearly right guess than for
// a wrong one: it compares in constant time. (The test checks the
// comparison's contract, not a timing.)
func TestCapabilities(t *testing.T) {
	a, b := newCapability(), newCapability()
	if len(a) < 22 || a == b {
		t.Fatalf("capabilities %d characters, equal: %v", len(a), a == b)
	}
	for _, tc := range []struct {
		got  string
		want bool
	}{{a, true}, {a[:len(a)-1], false}, {a + "x", false}, {"", false}, {b, false}, {strings.ToUpper(a), a == strings.ToUpper(a)}} {
		if capabilityIs(tc.got, a) != tc.want {
			t.Errorf("capabilityIs(%d characters) = %v", len(tc.got), !tc.want)
		}
	}
	for path, want := range map[string][2]string{"/a/b/c": {"a", "/b/c"}, "/a": {"a", ""}, "/": {"", ""}, "a/b": {"", ""}, "": {"", ""}, "//x": {"", "/x"}} {
		first, rest := splitCapability(path)
		if first != want[0] || rest != want[1] {
			t.Errorf("splitCapability(%q) = %q, %q", path, first, rest)
		}
	}
}

// Requests the endpoint refuses get a bare 404 when they lack the
// capability, and 403 when a browser could have sent them.
func TestRefusals(t *testing.T) {
	r := newRig(t, nil)
	resp, body := r.get("GET", "http://"+r.ep.Addr()+"/", nil)
	if resp.StatusCode != 404 || body != "" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("no capability: %d %q %q", resp.StatusCode, body, resp.Header.Get("Cache-Control"))
	}
	resp, _ = r.get("GET", r.ep.TokenURL(), nil, "Origin", "null")
	if resp.StatusCode != 403 {
		t.Errorf("with an Origin: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", r.ep.TokenURL(), nil)
	req.Host = "rebound.example:" + strings.Split(r.ep.Addr(), ":")[1]
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("another Host: %d", resp.StatusCode)
	}
}

// A login that is needed is a 503 naming the command, said once on
// stderr; once a session is back, the endpoint serves it.
func TestLoginNeeded(t *testing.T) {
	r := newRig(t, nil)
	r.srv.Revoke(alice)
	r.expire()
	for range 3 {
		resp, body := r.get("GET", r.ep.TokenURL(), nil)
		var f failure
		json.Unmarshal([]byte(body), &f)
		if resp.StatusCode != 503 || f.Error != "login_needed" || f.Command != "akiflow-token login -e "+alice {
			t.Errorf("%d %q", resp.StatusCode, body)
		}
	}
	if n := strings.Count(r.log.String(), "a login is needed"); n != 1 {
		t.Errorf("stderr says %d times that a login is needed:\n%s", n, r.log.String())
	}
	r.login()
	if resp, _ := r.get("GET", r.ep.TokenURL(), nil); resp.StatusCode != 200 {
		t.Errorf("after a login: %d", resp.StatusCode)
	}
	r.checkNoSecrets("stderr", r.log.String())
}

func TestIsTimeout(t *testing.T) {
	for err, want := range map[error]bool{
		context.DeadlineExceeded: true,
		&akiflow.NetworkError{Op: "refresh", Host: "h", Err: errors.New("no answer within 15s")}: true,
		errors.New("the refresh did not finish within 1m20s"):                                    true,
		&akiflow.NetworkError{Op: "refresh", Host: "h", Err: errors.New("connection refused")}:   false,
	} {
		if isTimeout(err) != want {
			t.Errorf("isTimeout(%v) = %v", err, !want)
		}
	}
}

// A capability is found however the client quoted it, and no log line
// holds one.
func TestQuotedCapabilitiesAreFound(t *testing.T) {
	e := &Endpoint{tokenCap: "Tok3nCap4bility", proxyCap: "Pr0xyCap4bility"}
	for _, s := range []string{"/x/Tok3nCap4bility", "/x/%54ok3nCap4bility", "q=%2554ok3nCap4bility", "/../Pr0xyCap4bility/y"} {
		if !e.quotesCapability(s) {
			t.Errorf("quotesCapability(%q) = false", s)
		}
		if got := e.withoutCapabilities(s); strings.Contains(got, "Cap4bility") {
			t.Errorf("withoutCapabilities(%q) = %q", s, got)
		}
	}
	if e.quotesCapability("/v5/tasks?q=1") {
		t.Error("an ordinary path quotes a capability")
	}
}
