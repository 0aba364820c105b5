package endpoint

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
	"time"

	"akiflow-token/helper/akiflow"
)

// The proxy forwards to the API's host only, the path below the
// capability and the query as they came, with the token and Akiflow's
// client headers; it drops hop-by-hop headers both ways, and whatever
// could carry the capability.
func TestProxyForwardsOnlyWhatItShould(t *testing.T) {
	var mu sync.Mutex
	var seen *http.Request
	var src *stubSource
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Clone(context.Background())
		mu.Unlock()
		if !src.valid(bearer(r)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
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
	src = newStub(t)
	r := newRig(t, src, upstream)
	last := func() *http.Request { mu.Lock(); defer mu.Unlock(); return seen }
	apiHost := strings.TrimPrefix(r.api.URL, "http://")

	resp, body := r.get("GET", r.ep.ProxyURL()+"/v5/a%2Fb/c?x=1&y=%20", nil,
		"Authorization", "Bearer the-programs-own",
		"Connection", "X-Custom-Hop", "X-Custom-Hop", "dropped", "Keep-Alive", "timeout=5",
		"Upgrade", "websocket", "Proxy-Authorization", "Basic eA==",
		"Referer", "http://example.com/", "Cookie", "c=1",
		"X-Forwarded-For", "1.2.3.4", "Forwarded", "for=1.2.3.4", "Origin-Ish", "kept",
		"Akiflow-Platform", "mine", "Akiflow-Version", "0.0", "User-Agent", "consumer/1")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	in := last()
	if got := in.URL.EscapedPath(); got != "/v5/a%2Fb/c" {
		t.Errorf("path: got %q", got)
	}
	if in.URL.RawQuery != "x=1&y=%20" {
		t.Errorf("query: got %q", in.URL.RawQuery)
	}
	if in.Host != apiHost {
		t.Errorf("Host: got %q", in.Host)
	}
	for name, want := range map[string]string{
		"Authorization":       "Bearer tok-1",
		"Akiflow-Client-Id":   clientID,
		"Akiflow-Platform":    akiflow.Platform,
		"Akiflow-Version":     akiflow.AppVersion,
		"User-Agent":          "consumer/1",
		"Origin-Ish":          "kept",
		"Connection":          "",
		"X-Custom-Hop":        "",
		"Keep-Alive":          "",
		"Upgrade":             "",
		"Proxy-Authorization": "",
		"Referer":             "",
		"Cookie":              "c=1", // the program's own business
		"X-Forwarded-For":     "",
		"Forwarded":           "",
	} {
		if got := in.Header.Get(name); got != want {
			t.Errorf("the API's %s: got %q, want %q", name, r.redact(got), want)
		}
	}
	for name, want := range map[string]string{"X-Hop": "", "Keep-Alive": "", "Connection": "", "X-Kept": "kept", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("the answer's %s: got %q, want %q", name, got, want)
		}
	}
	if got := resp.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Errorf("the answer's Cache-Control: %q, want no-store once", got)
	}

	// The Akiflow-Client-Id is the token's: a program's own is replaced.
	resp, _ = r.get("GET", r.ep.ProxyURL()+"/v5/tasks", nil, "Akiflow-Client-Id", "not-ours")
	if got := last().Header.Values("Akiflow-Client-Id"); resp.StatusCode != 200 || len(got) != 1 || got[0] != clientID {
		t.Errorf("Akiflow-Client-Id: %d, the API saw %q", resp.StatusCode, got)
	}

	// An upgrade to another protocol is not passed on.
	resp, body = r.get("GET", r.ep.ProxyURL()+"/v5/socket", nil, "Connection", "Upgrade", "Upgrade", "websocket")
	in = last()
	if resp.StatusCode != 200 || body != "ok" || in.Header.Get("Upgrade") != "" || in.Header.Get("Connection") != "" {
		t.Errorf("upgrade: %d %q; the API saw Upgrade %q, Connection %q", resp.StatusCode, body, in.Header.Get("Upgrade"), in.Header.Get("Connection"))
	}

	// The proxy URL itself is the API's root, ?format=raw a query like
	// any other: no token comes back.
	resp, body = r.get("GET", r.ep.ProxyURL()+"?format=raw", nil)
	if in = last(); resp.StatusCode != 200 || body != "ok" || in.URL.Path != "/" || in.URL.RawQuery != "format=raw" {
		t.Errorf("the proxy URL alone: %d %q; the API saw %q ? %q", resp.StatusCode, body, in.URL.Path, in.URL.RawQuery)
	}

	// A redirect to the API comes back through the proxy.
	req, _ := http.NewRequest("GET", r.ep.ProxyURL()+"/v5/redirect", nil)
	resp, err := testClient.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("Location"), r.ep.ProxyURL()+"/v5/tasks?page=2"; got != want {
		t.Errorf("Location: got %q, want %q", r.redact(got), r.redact(want))
	}

	// An absolute-form request still goes to the API; one that names
	// another host is a browser's (DNS rebinding), refused.
	absolute := func(host string) *http.Response {
		t.Helper()
		conn, err := net.Dial("tcp", r.ep.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET http://%s/%s/v5/elsewhere HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host, r.ep.proxyCap, r.ep.Addr())
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp = absolute(r.ep.Addr())
	if in = last(); resp.StatusCode != 200 || in.URL.Path != "/v5/elsewhere" || in.Host != apiHost {
		t.Errorf("absolute-form request: status %d, the API saw %s on %s", resp.StatusCode, in.URL.Path, in.Host)
	}
	if resp = absolute("elsewhere.example"); resp.StatusCode != 403 || last() != in {
		t.Errorf("absolute-form request naming another host: %d, forwarded: %v", resp.StatusCode, last() != in)
	}
}

// An API URL with a path is the prefix of every forwarded path.
func TestProxyKeepsTheAPIPath(t *testing.T) {
	var mu sync.Mutex
	var path string
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		path = r.URL.EscapedPath()
		mu.Unlock()
	})
	r := newRig(t, nil, upstream, func(c *Config) {
		u := *c.API
		u.Path = "/api/v"
		c.API = &u
	})
	if resp, _ := r.get("GET", r.ep.ProxyURL()+"/5/tasks%2F1", nil); resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if path != "/api/v/5/tasks%2F1" {
		t.Errorf("the API saw %q", path)
	}
}

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
	r := newRig(t, nil, upstream)
	resp, err := testClient.Get(r.ep.ProxyURL() + "/v5/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
	close(release)
	if rest, _ := io.ReadAll(br); string(rest) != "\ndata: second\n\n" {
		t.Errorf("the rest of the stream: %q", rest)
	}

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

// A POST answered with an event stream (MCP's Streamable HTTP) streams
// as a GET's does, after the 401 that made the proxy renew its token and
// send it again too: each event reaches the client before the next is
// sent, and the stream may last longer than the Timeout.
func TestProxyStreamsAPostsEventStreamAfterA401(t *testing.T) {
	const timeout = 200 * time.Millisecond
	next := make(chan struct{})
	var src *stubSource
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !src.valid(bearer(r)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i > 0 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "data: %d %s\n\n", i, body)
			http.NewResponseController(w).Flush()
		}
	})
	src = newStub(t)
	r := newRig(t, src, upstream, func(c *Config) { c.Timeout = timeout })
	src.revoke("tok-1")
	req, _ := http.NewRequest("POST", r.ep.ProxyURL()+"/mcp", strings.NewReader(`{"id":1}`))
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || src.count().Renew != 1 {
		t.Fatalf("status %d after %d renews; want 200 after one", resp.StatusCode, src.count().Renew)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		if i > 0 {
			time.Sleep(timeout) // the stream outlasts the Timeout
			select {
			case next <- struct{}{}:
			case <-time.After(30 * time.Second):
				t.Fatalf("the API never came to event %d", i)
			}
		}
		line, err := br.ReadString('\n')
		if want := fmt.Sprintf("data: %d {\"id\":1}\n", i); err != nil || line != want {
			t.Fatalf("event %d: %q, %v; want %q", i, line, err, want)
		}
		br.ReadString('\n')
	}
}

// Many requests whose token the API refuses (revoked before its expiry)
// cost one Renew, not one each, made while they all wait for it; each is
// sent again once, with its body, and the new token. A refusal of the
// token the forced renew gave is passed through; a token from an ordinary
// refresh may force one again.
func TestProxyForcesOneRenewAtATime(t *testing.T) {
	r := newRig(t, nil, nil)
	api := r.stubAPI()
	r.src.revoke("tok-1")
	release := r.src.hold()
	defer release()
	start := time.Now()
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := r.get("POST", r.ep.ProxyURL()+"/v5/echo", strings.NewReader(fmt.Sprint("request ", i)))
			if resp.StatusCode != 200 || body != fmt.Sprint("request ", i) {
				t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
			}
		}()
	}
	// Every request was refused with tok-1 and went on to renew (one) or
	// wait for that renew.
	waitFor(t, "the requests to wait for one Renew", func() bool {
		return r.src.count().Renew == 1 && api.calls("tok-1") == n
	})
	release()
	wg.Wait()
	if c := r.src.count(); c.Renew != 1 || c.Token != 0 {
		t.Errorf("%d refused requests made %d Renew and %d Token calls, want 1 and 0", n, c.Renew, c.Token)
	}
	if a, b := api.calls("tok-1"), api.calls("tok-2"); a != n || b != n {
		t.Errorf("the API saw tok-1 %d times and tok-2 %d times, want %d each", a, b, n)
	}

	// The new token is refused too (an API that refuses everything): a
	// token that a forced renew gave forces none, however long after; the
	// 401 passes and is not sent again.
	r.src.revoke("tok-2")
	before := api.calls("")
	for range 3 {
		if resp, _ := r.get("GET", r.ep.ProxyURL()+"/v5/x", nil); resp.StatusCode != 401 {
			t.Errorf("a refusal of the token a forced renew gave: %d, want the 401", resp.StatusCode)
		}
	}
	if sent, renews := api.calls("")-before, r.src.count().Renew; sent != 3 || renews != 1 {
		t.Errorf("3 refusals of tok-2: sent %d times, %d Renew calls in all; want 3 and 1", sent, renews)
	}

	// A token from an ordinary refresh (tok-2 expired) gets its one forced
	// renew when it is refused.
	r.src.expire()
	if resp, _ := r.get("GET", r.ep.ProxyURL()+"/v5/x", nil); resp.StatusCode != 200 || r.src.current().AccessToken != "tok-3" {
		t.Fatalf("after the expiry: %d, the stub holds %s; want 200 and tok-3", resp.StatusCode, r.src.current().AccessToken)
	}
	r.src.revoke("tok-3")
	if resp, body := r.get("GET", r.ep.ProxyURL()+"/v5/x", nil); resp.StatusCode != 200 || r.src.current().AccessToken != "tok-4" || r.src.count().Renew != 2 {
		t.Errorf("a refusal of tok-3: %d %q, the stub holds %s after %d Renew calls; want 200, tok-4, 2", resp.StatusCode, body, r.src.current().AccessToken, r.src.count().Renew)
	}
	_ = start
}

// The body of a refused request is kept for the retry if it is at most
// maxReplayBody (1 MiB), whether its length was said or not; a larger one
// streams, and its 401 passes through without a renew.
func TestProxyRetriesWithTheBody(t *testing.T) {
	var mu sync.Mutex
	var got []int // body sizes the API received, in order
	var src *stubSource
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, len(body))
		mu.Unlock()
		if !src.valid(bearer(r)) || !bytes.Equal(body, bytes.Repeat([]byte("b"), len(body))) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, len(body))
	})
	src = newStub(t)
	r := newRig(t, src, upstream)
	received := func() []int { mu.Lock(); defer mu.Unlock(); r := got; got = nil; return r }
	src.revoke("tok-1")
	hidden := func(n int) io.Reader { return io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("b"), n))) } // no length said

	for _, body := range []io.Reader{bytes.NewReader(bytes.Repeat([]byte("b"), maxReplayBody+1)), hidden(maxReplayBody + 1)} {
		resp, _ := r.get("POST", r.ep.ProxyURL()+"/v5/upload", body)
		if sizes := received(); resp.StatusCode != 401 || len(sizes) != 1 || sizes[0] != maxReplayBody+1 {
			t.Errorf("a body over maxReplayBody: %d, the API received %v; want 401 and the whole body once", resp.StatusCode, sizes)
		}
	}
	if n := src.count().Renew; n != 0 {
		t.Errorf("a 401 that could not be retried made %d Renew calls", n)
	}

	resp, body := r.get("POST", r.ep.ProxyURL()+"/v5/upload", hidden(1000))
	if sizes := received(); resp.StatusCode != 200 || body != "1000" || len(sizes) != 2 || sizes[0] != 1000 || sizes[1] != 1000 {
		t.Errorf("a small body of no said length: %d %q, the API received %v", resp.StatusCode, body, sizes)
	}
	src.revoke("tok-2")
	r.ep.tokens.mu.Lock()
	r.ep.tokens.forcedFrom, r.ep.tokens.forcedTo = "", "" // tok-2 may force a renew, as if an ordinary refresh gave it
	r.ep.tokens.mu.Unlock()
	resp, body = r.get("POST", r.ep.ProxyURL()+"/v5/upload", bytes.NewReader(bytes.Repeat([]byte("b"), maxReplayBody)))
	if sizes := received(); resp.StatusCode != 200 || body != fmt.Sprint(maxReplayBody) || len(sizes) != 2 || sizes[0] != maxReplayBody || sizes[1] != maxReplayBody {
		t.Errorf("a body of maxReplayBody: %d %q, the API received %v", resp.StatusCode, body, sizes)
	}
	if n := src.count().Renew; n != 2 {
		t.Errorf("Renew calls: %d, want 2", n)
	}
}

// A 401 that no other token can cure passes through: Renew gave the
// refused token back (its refresh failed) or failed. One that a login
// would cure is the login's 503.
func TestProxyPassesA401ItCannotCure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(s *stubSource)
		status int
		kind   string
	}{
		{"Renew gives the refused token back", func(s *stubSource) { s.renewFails = true }, 401, ""},
		{"Renew fails", func(s *stubSource) { s.err = fmt.Errorf("no: %w", ErrUnavailable) }, 401, ""},
		{"Renew times out", func(s *stubSource) { s.err = fmt.Errorf("no: %w", ErrTimeout) }, 401, ""},
		{"a login is needed", func(s *stubSource) { s.err = fmt.Errorf("revoked: %w", ErrLoginNeeded) }, 503, "login_needed"},
	} {
		r := newRig(t, nil, nil)
		api := r.stubAPI()
		r.src.revoke("tok-1")
		r.src.set(tc.setup)
		resp, body := r.get("GET", r.ep.ProxyURL()+"/v5/tasks", nil)
		if resp.StatusCode != tc.status || tc.kind != "" && failureOf(t, body).Error != tc.kind {
			t.Errorf("%s: %d %q, want %d %s", tc.name, resp.StatusCode, body, tc.status, tc.kind)
		}
		if c := r.src.count(); c.Renew != 1 || api.calls("") != 1 {
			t.Errorf("%s: %d Renew calls, the API got %d requests; want 1 and 1", tc.name, c.Renew, api.calls(""))
		}
		if tc.kind == "login_needed" && !strings.Contains(r.log.String(), "a login is needed") {
			t.Errorf("%s: stderr does not say so", tc.name)
		}
	}
}

// The Timeout bounds the wait for the API's response headers: an API that
// does not answer in time is a 504 "timeout"; its body, once the headers
// came, may take longer. ErrTimeout from the Source is a 504 too, on both
// URLs. An API that cannot be reached is a 502.
func TestTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	release := make(chan struct{})
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v5/hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/v5/slow-body":
			io.WriteString(w, "first\n")
			http.NewResponseController(w).Flush()
			select {
			case <-release:
			case <-time.After(5 * timeout):
			}
			io.WriteString(w, "second\n")
		}
	})
	r := newRig(t, nil, upstream, func(c *Config) { c.Timeout = timeout })
	t.Cleanup(func() { close(release) }) // before the API's Close, which waits for its handlers

	resp, body := r.get("GET", r.ep.ProxyURL()+"/v5/hang", nil)
	if f := failureOf(t, body); resp.StatusCode != 504 || f.Error != "timeout" || !strings.HasPrefix(f.Message, "the Akiflow API did not answer") {
		t.Errorf("an API that does not answer: %d %q, want 504 timeout", resp.StatusCode, body)
	}
	r.checkNoSecrets("the answer", body)
	// The headers of /v5/slow-body come at once; a machine too loaded to
	// pass them on within the timeout gets the 504 for them. Once they
	// came, the body may take longer than the timeout.
	switch resp, body := r.get("GET", r.ep.ProxyURL()+"/v5/slow-body", nil); {
	case resp.StatusCode == 504:
		t.Logf("skipped the check of a slow body: the machine took longer than %v to pass its headers on", timeout)
	case resp.StatusCode != 200 || body != "first\nsecond\n":
		t.Errorf("a slow body: %d %q, want 200 and the whole body", resp.StatusCode, body)
	}

	r.src.expire()
	r.src.fail(fmt.Errorf("no answer within 15s: %w", ErrTimeout))
	for _, u := range []string{r.ep.TokenURL(), r.ep.ProxyURL() + "/v5/tasks"} {
		resp, body := r.get("GET", u, nil)
		if f := failureOf(t, body); resp.StatusCode != 504 || f.Error != "timeout" {
			t.Errorf("ErrTimeout from the Source: %d %q, want 504 timeout", resp.StatusCode, body)
		}
	}

	// Nothing listens where the API should be.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead, _ := ParseAPIURL("http://" + l.Addr().String())
	l.Close()
	r2 := newRig(t, nil, nil, func(c *Config) { c.API = dead })
	resp, body = r2.get("GET", r2.ep.ProxyURL()+"/v5/tasks", nil)
	if f := failureOf(t, body); resp.StatusCode != 502 || f.Error != "unavailable" {
		t.Errorf("an API that cannot be reached: %d %q, want 502 unavailable", resp.StatusCode, body)
	}
}

// The proxy speaks HTTP/1.1 to the API: Go's HTTP/2 client would send a
// request again by itself after a stream reset the server may send once it
// has acted on it (a POST done twice).
func TestProxySpeaksHTTP1Only(t *testing.T) {
	var e Endpoint
	rp := e.newProxy().(*httputil.ReverseProxy)
	tr := rp.Transport.(*authorizer).next.(*http.Transport)
	if tr.Protocols == nil || tr.Protocols.HTTP2() || !tr.Protocols.HTTP1() || tr.ForceAttemptHTTP2 {
		t.Errorf("the proxy's transport: protocols %v, ForceAttemptHTTP2 %v; want HTTP/1.1 alone", tr.Protocols, tr.ForceAttemptHTTP2)
	}
}
