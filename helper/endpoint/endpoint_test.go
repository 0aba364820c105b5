package endpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"akiflow-token/helper/format"
)

// The token URL answers a token as -o json prints it (format.Write, JSON),
// or bare with ?format=raw, to GET and HEAD; never cached.
func TestTokenURLAnswers(t *testing.T) {
	r := newRig(t, nil, nil)
	want := r.src.current()
	for _, u := range []string{r.ep.TokenURL(), r.ep.TokenURL() + "/", r.ep.TokenURL() + "?format=json"} {
		resp, body := r.get("GET", u, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET the token URL: %d %q", resp.StatusCode, body)
		}
		checkAsJSONPrints(t, body, want)
		for name, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
			if got := resp.Header.Get(name); got != v {
				t.Errorf("%s: got %q, want %q", name, got, v)
			}
		}
	}

	resp, body := r.get("GET", r.ep.TokenURL()+"?format=raw", nil)
	if resp.StatusCode != 200 || body != want.AccessToken || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("?format=raw: %d %q, Content-Type %q, Cache-Control %q; want %s alone", resp.StatusCode, body, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), want.AccessToken)
	}

	resp, body = r.get("HEAD", r.ep.TokenURL(), nil)
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}

	// Served from the cache: no Token call.
	if n := r.src.count(); n.Token != 0 || n.Renew != 0 {
		t.Errorf("a fresh token cost %d Token and %d Renew calls", n.Token, n.Renew)
	}
	// Verbose, a line per request: neither the query nor the capability.
	if !strings.Contains(r.log.String(), "token URL GET : 200") || strings.Contains(r.log.String(), "format") {
		t.Errorf("the verbose log of the token URL:\n%s", r.redact(r.log.String()))
	}
}

// The token URL's JSON is rendered once per session and second left:
// the bytes served again are those format.Write prints at that moment.
func TestTokenURLRendersOncePerSecondLeft(t *testing.T) {
	var e Endpoint
	c := format.Credential{AccessToken: "tok-1", ExpiresAt: time.Unix(1_800_000_000, 0), Email: alice, ClientID: clientID}
	now := c.ExpiresAt.Add(-100950 * time.Millisecond) // 100 s left, for 950 ms
	render := func(c format.Credential, now time.Time) []byte {
		t.Helper()
		got, err := e.renderJSON(c, now)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := format.Write(&want, format.JSON, c, now); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("rendered\n%s\nwhere -o json prints\n%s", got, want.Bytes())
		}
		return got
	}
	first := render(c, now)
	if again := render(c, now.Add(900*time.Millisecond)); &again[0] != &first[0] {
		t.Error("the same session with the same whole seconds left was rendered again")
	}
	render(c, now.Add(time.Second)) // 99 s left: new bytes
	other := c
	other.AccessToken = "tok-2"
	render(other, now.Add(time.Second))
	other.Email = "bob@example.com"
	render(other, now.Add(time.Second))
	if _, err := e.renderJSON(format.Credential{AccessToken: "bad token", ExpiresAt: c.ExpiresAt}, now); err == nil {
		t.Error("a token format.Write refuses was rendered")
	}
}

// checkAsJSONPrints fails unless body is what -o json prints for c at
// some moment: format.Write's bytes, for the expires_in body says.
func checkAsJSONPrints(t *testing.T, body string, c format.Credential) {
	t.Helper()
	var got struct {
		ExpiresIn int64 `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("the token URL's answer is not JSON: %q", body)
	}
	if got.ExpiresIn <= 0 || got.ExpiresIn > int64(time.Until(c.ExpiresAt)/time.Second)+1 {
		t.Errorf("expires_in %d; the token expires in %v", got.ExpiresIn, time.Until(c.ExpiresAt).Round(time.Second))
	}
	var want bytes.Buffer
	if err := format.Write(&want, format.JSON, c, c.ExpiresAt.Add(-time.Duration(got.ExpiresIn)*time.Second)); err != nil {
		t.Fatal(err)
	}
	if body != want.String() {
		t.Errorf("the token URL answers\n%s\nwhere -o json prints\n%s", body, want.String())
	}
}

// The token URL refuses what it does not serve: another method, another
// format, a path below it; a token it would not print.
func TestTokenURLRefusals(t *testing.T) {
	r := newRig(t, nil, nil)
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		resp, body := r.get(method, r.ep.TokenURL(), strings.NewReader("x"))
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d %q, Allow %q", method, resp.StatusCode, body, resp.Header.Get("Allow"))
		}
	}
	for _, q := range []string{"?format=xml", "?format=RAW", "?format=token"} {
		if resp, body := r.get("GET", r.ep.TokenURL()+q, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %d %q", q, resp.StatusCode, body)
		}
	}
	if n := r.src.count(); n.Cached != 0 {
		t.Errorf("refused requests called Cached %d times", n.Cached)
	}

	// A token that could break a line is never served, in either format.
	r.src.set(func(s *stubSource) { s.next = "tok 2\r\nX-Injected: 1" })
	r.src.expire()
	for _, q := range []string{"", "?format=raw"} {
		resp, body := r.get("GET", r.ep.TokenURL()+q, nil)
		if f := failureOf(t, body); resp.StatusCode != 500 || f.Error != "failed" || !strings.Contains(f.Message, "refusing") {
			t.Errorf("an unprintable token%s: %d %+v", q, resp.StatusCode, f)
		}
		if strings.Contains(body, "tok 2") {
			t.Errorf("an unprintable token%s: the answer holds it", q)
		}
	}
}

// Requests a browser could have sent are refused with 403 on both URLs,
// before any token is looked at: an Origin header (a page's fetch), a Host
// other than the listen address (DNS rebinding).
func TestBrowserRequestsAreRefused(t *testing.T) {
	r := newRig(t, nil, nil)
	port := r.ep.Addr()[strings.LastIndexByte(r.ep.Addr(), ':')+1:]
	for _, u := range []string{r.ep.TokenURL(), r.ep.ProxyURL() + "/v5/tasks"} {
		for _, origin := range []string{"null", "https://evil.example", ""} {
			if resp, _ := r.get("GET", u, nil, "Origin", origin); resp.StatusCode != 403 {
				t.Errorf("with Origin %q: %d", origin, resp.StatusCode)
			}
		}
		for _, host := range []string{"rebound.example:" + port, "localhost:" + port, "127.0.0.1", "127.0.0.1:1"} {
			req, _ := http.NewRequest("GET", u, nil)
			req.Host = host
			resp, err := testClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Errorf("with Host %q: %d", host, resp.StatusCode)
			}
		}
	}
	if n := r.src.count(); n.Cached != 0 {
		t.Errorf("refused requests called Cached %d times", n.Cached)
	}
	if n := r.stubAPI().calls(""); n != 0 {
		t.Errorf("refused requests reached the API %d times", n)
	}
}

// The Source's errors are answered apart, as JSON naming the kind, on
// both URLs: ErrLoginNeeded 503, ErrUnavailable 502, ErrTimeout 504,
// ErrInterrupted 503, any other 500. The message is the error's, made
// safe for a terminal.
func TestSourceErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		kind   string
	}{
		{fmt.Errorf("the refresh token was revoked: %w", ErrLoginNeeded), 503, "login_needed"},
		{fmt.Errorf("Akiflow answered 500: %w", ErrUnavailable), 502, "unavailable"},
		{fmt.Errorf("no answer within 15s: %w", ErrTimeout), 504, "timeout"},
		{fmt.Errorf("a signal: %w", ErrInterrupted), 503, "interrupted"},
		{fmt.Errorf("two wrapped: %w", fmt.Errorf("deeper: %w", ErrUnavailable)), 502, "unavailable"},
		{errors.New("the disk is full \x1b[2J"), 500, "failed"},
		{context.DeadlineExceeded, 500, "failed"},
	} {
		for _, which := range []string{"token URL", "proxy"} {
			r := newRig(t, nil, nil)
			r.src.expire()
			r.src.fail(tc.err)
			u := r.ep.TokenURL()
			if which == "proxy" {
				u = r.ep.ProxyURL() + "/v5/tasks"
			}
			resp, body := r.get("GET", u, nil)
			f := failureOf(t, body)
			if resp.StatusCode != tc.status || f.Error != tc.kind || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s, %q: %d %q; want %d %s", which, tc.err, resp.StatusCode, body, tc.status, tc.kind)
			}
			if tc.kind != "login_needed" && f.Message != format.SafeText(tc.err.Error()) {
				t.Errorf("%s, %q: message %q", which, tc.err, f.Message)
			}
			if strings.ContainsRune(body, '\x1b') {
				t.Errorf("%s: the answer holds an escape: %q", which, body)
			}
			if n := r.stubAPI().calls(""); n != 0 {
				t.Errorf("%s: a request without a token reached the API", which)
			}
			r.checkNoSecrets("the answer", body)
		}
	}
}

// The command a login-needed answer names is the Source's kind of login
// when the caller gives it (an OAuth session's login --oauth).
func TestLoginNeededNamesTheGivenCommand(t *testing.T) {
	const cmd = "akiflow-token login --oauth -e " + alice
	r := newRig(t, nil, nil, func(c *Config) { c.LoginCommand = cmd })
	r.src.expire()
	r.src.fail(ErrLoginNeeded)
	resp, body := r.get("GET", r.ep.TokenURL(), nil)
	if f := failureOf(t, body); resp.StatusCode != 503 || f.Command != cmd || !strings.HasSuffix(f.Message, "in a terminal, run: "+cmd) {
		t.Errorf("%d %q; want 503 naming %q", resp.StatusCode, body, cmd)
	}
}

// A login that is needed is a 503 naming the command, said once on stderr
// however many requests get it, and looked at again at every request (no
// holdoff): a login elsewhere is picked up at the next request. When a
// token is served again stderr says so, and the next "login needed" is
// said again.
func TestLoginNeeded(t *testing.T) {
	r := newRig(t, nil, nil)
	r.src.expire()
	r.src.fail(fmt.Errorf("the session was revoked: %w", ErrLoginNeeded))
	for i := range 3 {
		for _, u := range []string{r.ep.TokenURL(), r.ep.ProxyURL() + "/v5/tasks"} {
			resp, body := r.get("GET", u, nil)
			f := failureOf(t, body)
			if resp.StatusCode != 503 || f.Error != "login_needed" || f.Command != "akiflow-token login -e "+alice ||
				!strings.HasSuffix(f.Message, "in a terminal, run: akiflow-token login -e "+alice) {
				t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
			}
		}
	}
	if n := r.src.count().Token; n != 6 {
		t.Errorf("6 requests while a login is needed made %d Token calls, want 6: one each", n)
	}
	if n := strings.Count(r.log.String(), "a login is needed"); n != 1 {
		t.Errorf("stderr says %d times that a login is needed:\n%s", n, r.redact(r.log.String()))
	}

	// A login elsewhere, saved where Token finds it (not yet where Cached
	// looks): the next request has it.
	r.src.set(func(s *stubSource) { s.err = nil })
	resp, body := r.get("GET", r.ep.TokenURL()+"?format=raw", nil)
	if resp.StatusCode != 200 || body != "tok-2" {
		t.Errorf("after a login: %d %q, want tok-2", resp.StatusCode, body)
	}
	if !strings.Contains(r.log.String(), "the endpoint has a session again") {
		t.Errorf("stderr does not say the session is back:\n%s", r.redact(r.log.String()))
	}

	// Lost again, then a login whose token Cached finds at once.
	r.src.expire()
	r.src.fail(fmt.Errorf("the session was revoked: %w", ErrLoginNeeded))
	if resp, _ := r.get("GET", r.ep.TokenURL(), nil); resp.StatusCode != 503 {
		t.Errorf("lost again: %d", resp.StatusCode)
	}
	if n := strings.Count(r.log.String(), "a login is needed"); n != 2 {
		t.Errorf("stderr says %d times that a login is needed, want 2 (once per loss):\n%s", n, r.redact(r.log.String()))
	}
	r.src.login()
	if resp, body := r.get("GET", r.ep.ProxyURL()+"/v5/tasks", nil); resp.StatusCode != 200 {
		t.Errorf("proxy after a login: %d %q", resp.StatusCode, body)
	}

	// Without an email, the command names none.
	r2 := newRig(t, nil, nil, func(c *Config) { c.Email = "" })
	r2.src.expire()
	r2.src.fail(ErrLoginNeeded)
	resp, body = r2.get("GET", r2.ep.TokenURL(), nil)
	if f := failureOf(t, body); resp.StatusCode != 503 || f.Command != "akiflow-token login" {
		t.Errorf("without an email: %d %+v", resp.StatusCode, f)
	}
}

// Start refuses a Config it cannot run, and a listen address off
// loopback; Close and Shutdown stop serving.
func TestStartAndStop(t *testing.T) {
	src := newStub(t)
	api, _ := url.Parse("http://127.0.0.1:1")
	for _, cfg := range []Config{{API: api, Timeout: time.Second}, {Source: src, Timeout: time.Second}, {Source: src, API: api}} {
		if ep, err := Start(cfg, DefaultListen); err == nil {
			ep.Close()
			t.Errorf("Start(%+v) did not fail", cfg)
		}
	}
	if ep, err := Start(Config{Source: src, API: api, Timeout: time.Second}, "0.0.0.0:0"); err == nil {
		ep.Close()
		t.Error("Start listened off loopback")
	}

	r := newRig(t, src, nil)
	if resp, _ := r.get("GET", r.ep.TokenURL(), nil); resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	if err := r.ep.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case <-r.ep.Done():
	default:
		t.Error("Done is not closed after Shutdown")
	}
	if r.ep.Err() != nil {
		t.Errorf("Err after Shutdown: %v", r.ep.Err())
	}
	if _, err := testClient.Get(r.ep.TokenURL()); err == nil {
		t.Error("the endpoint still answers after Shutdown")
	}
}
