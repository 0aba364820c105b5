package akiflow

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

func newTestClient(t *testing.T, srv *akiflowtest.Server, now func() time.Time) *Client {
	t.Helper()
	base, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(ClientConfig{BaseURL: base, Timeout: 5 * time.Second, UserAgent: "akiflow-token/test", Now: now})
}

// loginForTest runs the whole login against the fake, as login() does.
func loginForTest(t *testing.T, c *Client, srv *akiflowtest.Server, email string) *Tokens {
	t.Helper()
	ctx := context.Background()
	codeURL, err := c.StartLogin(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SubmitCode(ctx, codeURL, email, srv.Code(email)); err != nil {
		t.Fatal(err)
	}
	tokens, err := c.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

func TestClientExpiryCountsFromTheRequest(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	sent := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newTestClient(t, srv, func() time.Time { return sent })
	tokens := loginForTest(t, c, srv, "a@example.com")
	if got, want := tokens.ExpiresAt, sent.Add(1800*time.Second); !got.Equal(want) {
		t.Errorf("login expiry: got %v, want %v", got, want)
	}
	srv.SetExpiresIn(90)
	fresh, err := c.Refresh(context.Background(), tokens.RefreshToken, "id")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fresh.ExpiresAt, sent.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("refresh expiry: got %v, want %v", got, want)
	}
	if fresh.RefreshToken == tokens.RefreshToken || fresh.RefreshToken == "" {
		t.Errorf("the refresh token was not rotated")
	}
	// The old refresh token is spent: the server rejects it.
	_, err = c.Refresh(context.Background(), tokens.RefreshToken, "id")
	var se *ServerError
	if !errors.As(err, &se) || !se.Rejected() || se.Code != "invalid_grant" {
		t.Errorf("reused refresh token: got %v, want a rejection", err)
	}
	if strings.Contains(err.Error(), tokens.RefreshToken) {
		t.Errorf("the error holds the refresh token")
	}
}

func TestClientErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     akiflowtest.Fault
		transient bool
		message   string
	}{
		{"500 JSON", akiflowtest.Reply(500, "application/json", `{"message":"Server Error"}`), true, "HTTP 500: Server Error"},
		{"502 HTML", akiflowtest.Reply(502, "text/html", "<html>Bad Gateway</html>"), true, "HTTP 502: the server is failing"},
		{"503 Retry-After", akiflowtest.RetryAfter(503, 0), true, "HTTP 503"},
		{"429", akiflowtest.RetryAfter(429, 0), true, "HTTP 429"},
		{"Retry-After over the budget", akiflowtest.RetryAfter(503, 60), true, "asks to wait 1m0s"},
		{"truncated JSON", akiflowtest.Reply(200, "application/json", `{"access_token":"ab`), true, "not valid JSON"},
		{"200 HTML", akiflowtest.Reply(200, "text/html", "<html>Down for maintenance</html>"), true, "not JSON"},
		{"200 empty object", akiflowtest.Reply(200, "application/json", `{}`), true, "access token is not usable"},
		{"reset", akiflowtest.Reset(), true, "could not reach Akiflow"},
		{"400 invalid_grant", akiflowtest.Reply(400, "application/json", `{"error":"invalid_grant","message":"The refresh token is invalid."}`), false, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := akiflowtest.NewServer()
			defer srv.Close()
			c := newTestClient(t, srv, nil)
			tokens := loginForTest(t, c, srv, "a@example.com")
			srv.Fail(akiflowtest.RouteRefresh, tc.fault, tc.fault, tc.fault) // every try fails
			_, err := c.Refresh(context.Background(), tokens.RefreshToken, "id")
			if err == nil {
				t.Fatal("no error")
			}
			if got := IsTransient(err); got != tc.transient {
				t.Errorf("transient: got %v, want %v (%v)", got, tc.transient, err)
			}
			if !strings.Contains(err.Error(), tc.message) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line with %q", err, tc.message)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	const date = "Mon, 07 Dec 2026 10:00:00 GMT"
	for _, tc := range []struct {
		retryAfter, date string
		want             time.Duration
	}{
		{"", date, 0},
		{"0", date, 0},
		{"120", date, 2 * time.Minute},
		{"-5", date, 0},
		{"99999999999999999999", date, 0},
		{"999999999", date, 7 * 24 * time.Hour},
		{"Mon, 07 Dec 2026 10:02:00 GMT", date, 2 * time.Minute}, // from the reply's Date
		{"Monday, 07-Dec-26 10:00:30 GMT", date, 30 * time.Second},
		{"Mon, 07 Dec 2026 09:00:00 GMT", date, 0}, // in the past
		{"Fri, 01 Jan 2100 00:00:00 GMT", date, 7 * 24 * time.Hour},
		{"soon", date, 0},
	} {
		h := http.Header{"Date": {tc.date}}
		if tc.retryAfter != "" {
			h.Set("Retry-After", tc.retryAfter)
		}
		if got := retryAfter(h); got != tc.want {
			t.Errorf("Retry-After %q (Date %s): %s, want %s", tc.retryAfter, tc.date, got, tc.want)
		}
	}
}

func TestClientRetriesOnlyWhatTheServerCannotHaveUsed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fault   akiflowtest.Fault
		route   string
		retried bool
	}{
		{"503 then success", akiflowtest.RetryAfter(503, 0), akiflowtest.RouteRefresh, true},
		{"429 then success", akiflowtest.RetryAfter(429, 0), akiflowtest.RouteRefresh, true},
		{"csrf-cookie 500 then success", akiflowtest.Reply(500, "text/html", "oops"), akiflowtest.RouteCSRF, true},
		{"csrf-cookie reset then success", akiflowtest.Reset(), akiflowtest.RouteCSRF, true},
		{"500 after the refresh was sent", akiflowtest.Reply(500, "application/json", "{}"), akiflowtest.RouteRefresh, false},
		{"reset after the refresh was sent", akiflowtest.Reset(), akiflowtest.RouteRefresh, false},
		{"reply lost after rotation", akiflowtest.ProcessedThenLost(akiflowtest.RouteRefresh), akiflowtest.RouteRefresh, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := akiflowtest.NewServer()
			defer srv.Close()
			c := newTestClient(t, srv, nil)
			tokens := loginForTest(t, c, srv, "a@example.com")
			before := srv.Count(akiflowtest.RouteRefresh)
			srv.Fail(tc.route, tc.fault)
			_, err := c.Refresh(context.Background(), tokens.RefreshToken, "id")
			if got := err == nil; got != tc.retried {
				t.Errorf("succeeded after a retry: got %v, want %v (%v)", got, tc.retried, err)
			}
			if !tc.retried && srv.Count(akiflowtest.RouteRefresh)-before != 1 {
				t.Errorf("a refresh the server may have used was sent again")
			}
		})
	}
}

func TestClientTimeout(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	c := NewClient(ClientConfig{BaseURL: base, Timeout: 200 * time.Millisecond})
	srv.Fail(akiflowtest.RouteCSRF, akiflowtest.Hang())
	_, err := c.Refresh(context.Background(), "def50200", "id")
	if !IsTransient(err) || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Errorf("got %v", err)
	}
}

func TestClientSendsTheAkiflowHeaders(t *testing.T) {
	var got http.Header
	srv := akiflowtest.NewServer()
	defer srv.Close()
	srv.Fail(akiflowtest.RouteCSRF, func(w http.ResponseWriter, r *http.Request, s *akiflowtest.Server) {
		got = r.Header.Clone()
		s.Handle(akiflowtest.RouteCSRF, w, r)
	})
	c := newTestClient(t, srv, nil)
	c.StartLogin(context.Background(), "a@example.com")
	for k, want := range map[string]string{"Akiflow-Platform": "web", "Akiflow-Version": AppVersion, "User-Agent": "akiflow-token/test"} {
		if got.Get(k) != want {
			t.Errorf("%s: got %q, want %q", k, got.Get(k), want)
		}
	}
}

func TestParseXSRF(t *testing.T) {
	for in, want := range map[string]string{
		"abc%2B%2F%3D":         "abc+/=",
		"a+b":                  "a+b", // a literal plus stays a plus
		"eyJpdiI6IjEifQ%3D%3D": "eyJpdiI6IjEifQ==",
	} {
		got, ok := ParseXSRF(in)
		if !ok || got != want {
			t.Errorf("ParseXSRF(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "%", "%zz", "a%0Ab"} {
		if _, ok := ParseXSRF(bad); ok {
			t.Errorf("ParseXSRF(%q) accepted", bad)
		}
	}
}

func TestSubmitCodeRefusesOtherHosts(t *testing.T) {
	base, _ := url.Parse("https://web.akiflow.com")
	c := NewClient(ClientConfig{BaseURL: base, Timeout: time.Second})
	for _, u := range []string{"http://web.akiflow.com/auth/email/x", "https://evil.example/auth/email/x", "https://web.akiflow.com.evil.example/x"} {
		if err := c.SubmitCode(context.Background(), u, "a@b.c", "123456"); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("SubmitCode to %s: %v", u, err)
		}
	}
}

// Only the refresh endpoint's OAuth refusal rejects the refresh token: a
// failed csrf step, a proxy's page, a 404 or a persistent 419 leave it.
func TestOnlyAnOAuthRefusalRejects(t *testing.T) {
	for _, tc := range []struct {
		name     string
		route    string
		fault    akiflowtest.Fault
		rejected bool
		message  string
	}{
		{"401 invalid_grant", akiflowtest.RouteRefresh, akiflowtest.Reply(401, "application/json", `{"error":"invalid_grant"}`), true, "invalid_grant"},
		{"400 invalid_grant", akiflowtest.RouteRefresh, akiflowtest.Reply(400, "application/json", `{"error":"invalid_grant","message":"The refresh token is invalid."}`), true, "invalid_grant"},
		{"401 invalid_request (older Passport)", akiflowtest.RouteRefresh, akiflowtest.Reply(401, "application/json", `{"error":"invalid_request","message":"The refresh token is invalid."}`), true, "invalid_request"},
		{"400 invalid_request", akiflowtest.RouteRefresh, akiflowtest.Reply(400, "application/json", `{"error":"invalid_request","message":"bad"}`), false, "invalid_request"},
		{"400 invalid_client", akiflowtest.RouteRefresh, akiflowtest.Reply(400, "application/json", `{"error":"invalid_client"}`), false, "invalid_client"},
		{"401 invalid_client", akiflowtest.RouteRefresh, akiflowtest.Reply(401, "application/json", `{"error":"invalid_client"}`), false, "invalid_client"},
		{"400 temporarily_unavailable", akiflowtest.RouteRefresh, akiflowtest.Reply(400, "application/json", `{"error":"temporarily_unavailable"}`), false, "temporarily_unavailable"},
		{"400 Bad Request", akiflowtest.RouteRefresh, akiflowtest.Reply(400, "application/json", `{"error":"Bad Request"}`), false, "Bad Request"},
		{"401 Spring-style Unauthorized", akiflowtest.RouteRefresh, akiflowtest.Reply(401, "application/json", `{"error":"Unauthorized","status":401}`), false, "Unauthorized"},
		{"400 unsupported_grant_type", akiflowtest.RouteRefresh, akiflowtest.Reply(400, "application/json", `{"error":"unsupported_grant_type"}`), false, "unsupported_grant_type"},
		{"401 HTML from a proxy", akiflowtest.RouteRefresh, akiflowtest.Reply(401, "text/html", "<html>Unauthorized</html>"), false, "HTTP 401"},
		{"400 JSON without an OAuth error", akiflowtest.RouteRefresh, akiflowtest.Reply(400, "application/json", `{"message":"Bad Request"}`), false, "HTTP 400"},
		{"403 firewall page", akiflowtest.RouteRefresh, akiflowtest.Reply(403, "text/plain", "error code: 1010"), false, "firewall or proxy in front of Akiflow refused this client, not Akiflow itself (error code: 1010)"},
		{"404", akiflowtest.RouteRefresh, akiflowtest.Reply(404, "text/html", "<h1>Not Found</h1>"), false, "HTTP 404"},
		{"418", akiflowtest.RouteRefresh, akiflowtest.Reply(418, "application/json", `{"error":"teapot"}`), false, "HTTP 418"},
		{"419 twice", akiflowtest.RouteRefresh, akiflowtest.Reply(419, "application/json", `{"message":"CSRF token mismatch."}`), false, "HTTP 419"},
		{"csrf-cookie 401 with an OAuth error", akiflowtest.RouteCSRF, akiflowtest.Reply(401, "application/json", `{"error":"invalid_grant"}`), false, "HTTP 401"},
		{"csrf-cookie 404", akiflowtest.RouteCSRF, akiflowtest.Reply(404, "text/html", "nope"), false, "HTTP 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := akiflowtest.NewServer()
			defer srv.Close()
			c := newTestClient(t, srv, nil)
			tokens := loginForTest(t, c, srv, "a@example.com")
			srv.Fail(tc.route, tc.fault, tc.fault, tc.fault)
			_, err := c.Refresh(context.Background(), tokens.RefreshToken, "id")
			var se *ServerError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a ServerError", err)
			}
			if se.Rejected() != tc.rejected {
				t.Errorf("Rejected() = %v, want %v (%v)", se.Rejected(), tc.rejected, err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q lacks %q", err, tc.message)
			}
		})
	}
}

// A 200 reply whose access token cannot be used is refused, but the new
// refresh token it carries is returned with the error: the old one is
// spent.
func TestUnusableAccessTokenKeepsTheNewRefreshToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
	}{
		{"empty", func(r map[string]any) { r["access_token"] = "" }},
		{"missing", func(r map[string]any) { delete(r, "access_token") }},
		{"a line break", func(r map[string]any) { r["access_token"] = "abc\nprotocol=https" }},
		{"a space", func(r map[string]any) { r["access_token"] = "abc def" }},
		{"a NUL", func(r map[string]any) { r["access_token"] = "abc\x00def" }},
		{"C1 CSI", func(r map[string]any) { r["access_token"] = "abc\u009b31mdef" }},
		{"too long", func(r map[string]any) { r["access_token"] = strings.Repeat("a", MaxTokenSize+1) }},
		{"a number", func(r map[string]any) { r["access_token"] = 12345 }},
		{"an object", func(r map[string]any) { r["access_token"] = map[string]any{"jwt": "x"} }},
		{"expiry a word (an unusable token)", func(r map[string]any) { r["expires_in"] = "soon"; r["access_token"] = "" }},
		{"expiry a bool (an unusable token)", func(r map[string]any) { r["expires_in"] = true; r["access_token"] = "a b" }},
		{"expiry a list (an unusable token)", func(r map[string]any) { r["expires_in"] = []int{1800}; r["access_token"] = nil }},
		{"expiry NaN (an unusable token)", func(r map[string]any) { r["expires_in"] = "NaN"; r["access_token"] = []string{"x"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := akiflowtest.NewServer()
			defer srv.Close()
			c := newTestClient(t, srv, nil)
			tokens := loginForTest(t, c, srv, "a@example.com")
			srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Rewrite(akiflowtest.RouteRefresh, tc.edit))
			got, err := c.Refresh(context.Background(), tokens.RefreshToken, "id")
			if err == nil || !IsTransient(err) {
				t.Fatalf("got %v, want a protocol error (transient)", err)
			}
			if got == nil || got.RefreshToken == "" || got.RefreshToken == tokens.RefreshToken || got.AccessToken != "" {
				t.Fatalf("want the new refresh token alone with the error, got %+v", redactTokens(got))
			}
			// The new refresh token is the live one.
			if _, err := c.Refresh(context.Background(), got.RefreshToken, "id"); err != nil {
				t.Errorf("the returned refresh token does not work: %v", err)
			}
		})
	}
}

// A login whose reply has no refresh token is refused: saved, it would
// replace a session that can refresh with one that cannot.
func TestLoginWithoutRefreshTokenIsRefused(t *testing.T) {
	for name, edit := range map[string]func(map[string]any){
		"missing": func(d map[string]any) { delete(d, "refresh_token") },
		"empty":   func(d map[string]any) { d["refresh_token"] = "" },
		"null":    func(d map[string]any) { d["refresh_token"] = nil },
	} {
		t.Run(name, func(t *testing.T) {
			srv := akiflowtest.NewServer()
			defer srv.Close()
			c := newTestClient(t, srv, nil)
			ctx := context.Background()
			codeURL, err := c.StartLogin(ctx, "a@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SubmitCode(ctx, codeURL, "a@example.com", srv.Code("a@example.com")); err != nil {
				t.Fatal(err)
			}
			srv.Fail(akiflowtest.RouteMe, akiflowtest.Rewrite(akiflowtest.RouteMe, func(r map[string]any) { edit(r["data"].(map[string]any)) }))
			got, err := c.Me(ctx)
			if err == nil || !IsTransient(err) || got != nil {
				t.Fatalf("got %s, %v; want no tokens and a broken reply (transient)", redactTokens(got), err)
			}
		})
	}
}

func redactTokens(t *Tokens) string {
	if t == nil {
		return "nil"
	}
	return fmt.Sprintf("access token of %d bytes, refresh token of %d bytes", len(t.AccessToken), len(t.RefreshToken))
}

// A certificate this machine does not trust is not a passing failure: it
// says what is wrong and how to fix it, and is not retried.
func TestUntrustedCertificateIsPermanent(t *testing.T) {
	srv := akiflowtest.NewTLSServer()
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	c := NewClient(ClientConfig{BaseURL: base, Timeout: 2 * time.Second})
	_, err := c.Refresh(context.Background(), "def50200", "id")
	var ce *CertificateError
	if !errors.As(err, &ce) || IsTransient(err) {
		t.Fatalf("got %v (transient %v), want a CertificateError, not transient", err, IsTransient(err))
	}
	for _, want := range []string{"certificate", "SSL_CERT_FILE", "trust store"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := srv.Count(akiflowtest.RouteCSRF); n != 0 {
		t.Errorf("%d requests reached the server through an untrusted certificate", n)
	}
}

// A redirect is followed on the auth host, but what the page it leads to
// answers is that page's: a 401 from it is not Akiflow rejecting the
// refresh token.
func TestRedirectedRefreshIsNotARejection(t *testing.T) {
	for _, tc := range []struct {
		name, location, route, code string
	}{
		{"to user/me", "/user/me", akiflowtest.RouteMe, "login_required"},
		// A 302 turns the POST into a GET of the same path with no refresh
		// token: its refusal says nothing of the token.
		{"to the refresh path, as a GET", "/oauth/refreshToken?from=redirect", "other", "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := akiflowtest.NewServer()
			defer srv.Close()
			c := newTestClient(t, srv, nil)
			tokens := loginForTest(t, c, srv, "a@example.com")
			srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Redirect(302, tc.location))
			srv.Fail(tc.route, akiflowtest.Reply(401, "application/json", `{"error":"`+tc.code+`"}`))
			_, err := c.Refresh(context.Background(), tokens.RefreshToken, "id")
			var se *ServerError
			if !errors.As(err, &se) || se.Rejected() || se.Status != 401 {
				t.Fatalf("got %v (rejected: %v), want the 401 as a ServerError that is not a rejection", err, se != nil && se.Rejected())
			}
			if _, err := c.Refresh(context.Background(), tokens.RefreshToken, "id"); err != nil {
				t.Errorf("the refresh token no longer works: %v", err)
			}
		})
	}
}

// The expiry is never later than the JWT says: the shorter of expires_in
// and the JWT's own lifetime (exp - iat) counts, from the request.
func TestExpiryIsTheShorterLifetime(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	sent := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) // far from the server's clock: no matter
	c := newTestClient(t, srv, func() time.Time { return sent })
	tokens := loginForTest(t, c, srv, "a@example.com")
	srv.SetExpiresIn(60)
	srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Rewrite(akiflowtest.RouteRefresh, func(r map[string]any) { r["expires_in"] = 3600 }))
	fresh, err := c.Refresh(context.Background(), tokens.RefreshToken, "id")
	if err != nil {
		t.Fatal(err)
	}
	if want := sent.Add(time.Minute); !fresh.ExpiresAt.Equal(want) || fresh.Lifetime != time.Minute {
		t.Errorf("expires at %s (lifetime %s), want %s (1m): the JWT's lifetime is shorter", fresh.ExpiresAt, fresh.Lifetime, want)
	}
}

// A refresh that rotated the token and whose answer was then lost (the
// stream reset over HTTP/2, the connection closed over HTTP/1.1) is sent
// once: the client speaks HTTP/1.1 to a server that offers HTTP/2 (whose
// client would send it again by itself), and sends no POST that a
// transport could replay.
func TestRefreshIsSentOnceEvenWhenItsAnswerIsLost(t *testing.T) {
	srv := akiflowtest.NewHTTP2Server()
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	c := NewClient(ClientConfig{BaseURL: base, Timeout: 5 * time.Second, Insecure: true})
	tokens := loginForTest(t, c, srv, "ada@example.com")
	if got := srv.LastProto(akiflowtest.RouteMe); got != "HTTP/1.1" {
		t.Errorf("the client spoke %s to a server that offers HTTP/2; want HTTP/1.1", got)
	}
	srv.Fail(akiflowtest.RouteRefresh, akiflowtest.ProcessedThenAborted(akiflowtest.RouteRefresh))
	before := srv.Count(akiflowtest.RouteRefresh)
	_, err := c.Refresh(context.Background(), tokens.RefreshToken, "id")
	if err == nil {
		t.Fatal("a refresh whose answer was lost succeeded")
	}
	if n := srv.Count(akiflowtest.RouteRefresh) - before; n != 1 {
		t.Errorf("the refresh reached the server %d times, want once", n)
	}
	if got := srv.LastProto(akiflowtest.RouteRefresh); got != "HTTP/1.1" {
		t.Errorf("the refresh went over %s, want HTTP/1.1", got)
	}
}

// A reply that arrived whole is read, and a refresh token that is a
// non-empty string is kept, however the reply is dressed: a byte-order
// mark, bytes after the object, the key given again as null, a refresh
// token far longer than an access token may be.
func TestReplyThatArrivedIsRead(t *testing.T) {
	long := "def50200" + strings.Repeat("ab", 20<<10) // 40 KiB
	for _, tc := range []struct {
		name  string
		fault func(route string) akiflowtest.Fault
		want  func(refresh string) bool
	}{
		{"a byte-order mark", func(r string) akiflowtest.Fault {
			return akiflowtest.RewriteBody(r, func(b []byte) []byte { return append([]byte("\xef\xbb\xbf"), b...) })
		}, nil},
		{"bytes after the object", func(r string) akiflowtest.Fault {
			return akiflowtest.RewriteBody(r, func(b []byte) []byte { return append(b, []byte("\n<!-- cache -->{}")...) })
		}, nil},
		{"refresh_token again, as null", func(r string) akiflowtest.Fault {
			return akiflowtest.RewriteBody(r, func(b []byte) []byte {
				return append(bytes.TrimSuffix(bytes.TrimSpace(b), []byte("}")), []byte(`,"refresh_token":null}`)...)
			})
		}, nil},
		{"a 40 KiB refresh token", func(r string) akiflowtest.Fault {
			return akiflowtest.Rewrite(r, func(m map[string]any) { m["refresh_token"] = long })
		}, func(refresh string) bool { return refresh == long }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := akiflowtest.NewServer()
			defer srv.Close()
			c := newTestClient(t, srv, nil)
			tokens := loginForTest(t, c, srv, "a@example.com")
			srv.Fail(akiflowtest.RouteRefresh, tc.fault(akiflowtest.RouteRefresh))
			got, err := c.Refresh(context.Background(), tokens.RefreshToken, "id")
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			switch {
			case got.RefreshToken == "" || got.RefreshToken == tokens.RefreshToken:
				t.Errorf("the rotated refresh token was lost: %s", redactTokens(got))
			case tc.want != nil && !tc.want(got.RefreshToken):
				t.Errorf("the refresh token is not the reply's: %s", redactTokens(got))
			case tc.want == nil && !srv.ValidRefresh(got.RefreshToken):
				t.Errorf("the refresh token kept is not the live one")
			}
			if CheckAccessToken(got.AccessToken) != nil || !srv.Valid(got.AccessToken) {
				t.Errorf("the access token is not the live one")
			}
		})
	}
}

// The expiry is never later than the token's own: the earliest of
// expires_in and the JWT's (exp - iat, or exp counted from the request),
// ignoring any that cannot be an access token's lifetime (under a second,
// over a day), and a short UnknownLifetime when none can.
func TestLifetimeIsTheEarliestPlausible(t *testing.T) {
	sent := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	jwt := func(claims string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
	}
	exp := func(d time.Duration) int64 { return sent.Add(d).Unix() }
	for _, tc := range []struct {
		name      string
		expiresIn any // nil: absent
		access    string
		want      time.Duration
	}{
		{"expires_in alone", 1800, "opaque", 30 * time.Minute},
		{"expires_in in milliseconds, JWT without iat", 1800000, jwt(fmt.Sprintf(`{"exp":%d}`, exp(30*time.Minute))), 30 * time.Minute},
		{"expires_in in milliseconds, opaque token", 1800000, "opaque", UnknownLifetime},
		{"JWT exp in 2319, no expires_in", nil, jwt(`{"exp":1e10}`), UnknownLifetime},
		{"JWT exp 1e11, no expires_in", nil, jwt(`{"exp":1e11}`), UnknownLifetime},
		{"JWT shorter than expires_in", 3600, jwt(fmt.Sprintf(`{"iat":%d,"exp":%d}`, exp(0), exp(time.Minute))), time.Minute},
		{"expires_in shorter than the JWT", 60, jwt(fmt.Sprintf(`{"iat":%d,"exp":%d}`, exp(0), exp(time.Hour))), time.Minute},
		{"JWT exp earlier than expires_in says, no iat", 3600, jwt(fmt.Sprintf(`{"exp":%d}`, exp(10*time.Minute))), 10 * time.Minute},
		{"expires_in zero", 0, "opaque", UnknownLifetime},
		{"expires_in negative", -5, "opaque", UnknownLifetime},
		{"expires_in a day and more", 86401, "opaque", UnknownLifetime},
		{"expires_in exactly a day", 86400, "opaque", 24 * time.Hour},
		{"no expiry at all", nil, "opaque", UnknownLifetime},
		{"a JWT expired by the server's clock", 1800, jwt(fmt.Sprintf(`{"iat":%d,"exp":%d}`, exp(-40*time.Minute), exp(-10*time.Minute))), UnknownLifetime},
		{"a JWT expired by ours, in a reply without Date", 3600, jwt(fmt.Sprintf(`{"exp":%d}`, exp(-10*time.Minute))) + "#nodate", UnknownLifetime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			access, noDate := strings.CutSuffix(tc.access, "#nodate")
			m := map[string]any{"access_token": access}
			if tc.expiresIn != nil {
				m["expires_in"] = tc.expiresIn
			}
			data, _ := json.Marshal(m)
			var r tokenReply
			if err := DecodeReply(data, &r); err != nil {
				t.Fatal(err)
			}
			if !noDate {
				r.setServerDate(sent) // the server's clock agrees with ours
			}
			got, err := r.tokens("refresh", sent)
			if err != nil {
				t.Fatal(err)
			}
			if got.Lifetime != tc.want || !got.ExpiresAt.Equal(sent.Add(tc.want)) {
				t.Errorf("lifetime %s, expires %s; want %s", got.Lifetime, got.ExpiresAt, tc.want)
			}
		})
	}
}

// A deadline that fires while the reply is on its way, or already in the
// socket (a process stopped after sending its refresh and resumed after
// its timeout: every timer fires at once), does not throw the reply away:
// it is read within readGrace, and its rotated refresh token kept.
func TestLateDeadlineLeavesTheReplyToBeRead(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	c := newTestClient(t, srv, nil)
	tokens := loginForTest(t, c, srv, "a@example.com")
	c.timeout = 100 * time.Millisecond
	srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Delayed(akiflowtest.RouteRefresh, 500*time.Millisecond))
	got, err := c.Refresh(context.Background(), tokens.RefreshToken, "id")
	if err != nil {
		t.Fatalf("a reply that came after the deadline, within the grace: %v", err)
	}
	if !srv.ValidRefresh(got.RefreshToken) {
		t.Errorf("the refresh token kept is not the live one")
	}
}

// What a server says in its refusal never carries what was sent to it:
// an echoed refresh token (whole or cut short) is redacted before the
// words reach a message.
func TestEchoedSecretsAreRedacted(t *testing.T) {
	for _, status := range []int{400, 500} {
		srv := akiflowtest.NewServer()
		c := newTestClient(t, srv, nil)
		tokens := loginForTest(t, c, srv, "a@example.com")
		rt := tokens.RefreshToken
		body := fmt.Sprintf(`{"error":"invalid_client","message":"refresh_token %s and %s... were not accepted"}`, rt, rt[:20])
		srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(status, "application/json", body),
			akiflowtest.Reply(status, "application/json", body), akiflowtest.Reply(status, "application/json", body))
		_, err := c.Refresh(context.Background(), rt, "id")
		if err == nil || strings.Contains(err.Error(), rt[:12]) || !strings.Contains(err.Error(), "<redacted>") {
			t.Errorf("HTTP %d: the error quotes the refresh token (%d bytes) or does not say it was redacted (%v)", status, len(rt), err != nil)
		}
		srv.Close()
	}
}

// A secret echoed in JSON's escapes ("\/" for "/", \u00XX for a letter) is
// redacted too, and so is a bearer token sent in a header (userinfo's).
func TestEscapedAndHeaderSecretsAreRedacted(t *testing.T) {
	secrets := []string{"ab/cdefghijk+lmnopSECRETRT", "OPAQUE-ACCESS-TOKEN-SECRET-123456"}
	for _, echo := range []string{`ab\/cdefghijk+lmnopSECRETRT`, `\u0061b/cdefghijk+lmnopSECRETRT`, `OPAQUE-ACCESS-TOKEN-SECRET-123456`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":"invalid_request","error_description":"unknown token %s"}`, echo)
		}))
		base, _ := url.Parse(srv.URL)
		c := NewClient(ClientConfig{BaseURL: base, Timeout: 2 * time.Second})
		err := c.do(context.Background(), "refresh", http.MethodPost, srv.URL+"/oauth/token",
			url.Values{"refresh_token": {secrets[0]}}, http.Header{"Authorization": {"Bearer " + secrets[1]}}, nil)
		for _, secret := range secrets {
			if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:12]) {
				t.Errorf("the echo %q: the error quotes a secret or is missing (%v)", echo[:4], err != nil)
			}
		}
		srv.Close()
	}
}

// Once a deadline has passed (a process stopped and resumed after it), no
// new request starts in its grace: the refresh, sent late, could be
// answered after the grace and its rotated token lost. Nothing reaches the
// server, and the error is a timeout.
func TestNoRequestStartsPastTheDeadline(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	c := newTestClient(t, srv, nil)
	tokens := loginForTest(t, c, srv, "a@example.com")
	before := srv.Counts()
	ctx, cancel := withDeadline(context.Background(), time.Nanosecond)
	defer cancel()
	for !pastDeadline(ctx) {
		time.Sleep(time.Millisecond)
	}
	_, sent, err := c.refreshOnce(ctx, tokens.RefreshToken, "id")
	if err == nil || sent || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("refreshOnce past the deadline: sent %v, %v; want a timeout, nothing sent", sent, err)
	}
	for route, n := range srv.Counts() {
		if n != before[route] {
			t.Errorf("%s reached the server past the deadline", route)
		}
	}
}
