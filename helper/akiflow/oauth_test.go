package akiflow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// signIn runs discovery, registration and the authorization (the fake's
// endpoint is a browser that consents), and returns the discovery, the
// authorization and the callback's query.
func signIn(t *testing.T, c *Client, srv *akiflowtest.Server) (*Discovery, Authorization, url.Values) {
	t.Helper()
	ctx := context.Background()
	mcp, _ := url.Parse(srv.MCPURL())
	d, err := c.Discover(ctx, mcp)
	if err != nil {
		t.Fatal(err)
	}
	const redirect = "http://127.0.0.1:1/callback"
	id, err := c.Register(ctx, d.Server.RegistrationEndpoint, "http://127.0.0.1/callback")
	if err != nil {
		t.Fatal(err)
	}
	a := Authorization{ClientID: id, RedirectURI: redirect, State: NewState(), Verifier: NewVerifier(), Resource: d.Resource, Scopes: d.Scopes}
	authURL, err := a.URL(d.Server.AuthorizationEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(back.String(), redirect+"?") {
		t.Fatalf("the authorization endpoint answered %d, to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return d, a, back.Query()
}

func TestOAuthSignInRefreshAndRotation(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	sent := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) // the JWT's exp, now, is no bound
	c := newTestClient(t, srv, func() time.Time { return sent })
	d, a, back := signIn(t, c, srv)
	if d.Resource != srv.MCPURL() || strings.Join(d.Scopes, " ") != "mcp:read mcp:write" {
		t.Errorf("discovery: resource %q, scopes %q", d.Resource, d.Scopes)
	}
	if back.Get("state") != a.State || back.Get("code") == "" {
		t.Fatalf("the callback's state or code is not as sent")
	}
	tokens, err := c.ExchangeCode(context.Background(), d.Server.TokenEndpoint, a, back.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if tokens.Email != akiflowtest.DefaultOAuthUser || tokens.RefreshToken == "" || !tokens.ExpiresAt.Equal(sent.Add(1800*time.Second)) {
		t.Errorf("tokens: email %q, refresh token %t, expiry %v", tokens.Email, tokens.RefreshToken != "", tokens.ExpiresAt.Sub(sent))
	}
	// The code is used up.
	if _, err := c.ExchangeCode(context.Background(), d.Server.TokenEndpoint, a, back.Get("code")); !rejected(err) {
		t.Errorf("a code used twice: got %v, want invalid_grant", err)
	}
	fresh, err := c.RefreshOAuth(context.Background(), d.Server.TokenEndpoint, a.ClientID, tokens.RefreshToken, d.Resource)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.RefreshToken == tokens.RefreshToken || fresh.AccessToken == tokens.AccessToken {
		t.Errorf("the refresh did not rotate the tokens")
	}
	if _, err := c.RefreshOAuth(context.Background(), d.Server.TokenEndpoint, a.ClientID, tokens.RefreshToken, d.Resource); !rejected(err) {
		t.Errorf("a spent refresh token: got %v, want a rejection", err)
	}
	if got := srv.Count(akiflowtest.RouteToken); got != 4 {
		t.Errorf("token endpoint requests: got %d, want 4 (none sent twice)", got)
	}
}

func rejected(err error) bool {
	var se *ServerError
	return errors.As(err, &se) && se.Rejected()
}

func TestWrongVerifierIsRefused(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	c := newTestClient(t, srv, time.Now)
	d, a, back := signIn(t, c, srv)
	a.Verifier = NewVerifier()
	if _, err := c.ExchangeCode(context.Background(), d.Server.TokenEndpoint, a, back.Get("code")); !rejected(err) {
		t.Errorf("another verifier: got %v, want invalid_grant", err)
	}
}

func TestForgottenClientIsNotARejection(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	c := newTestClient(t, srv, time.Now)
	d, a, back := signIn(t, c, srv)
	tokens, err := c.ExchangeCode(context.Background(), d.Server.TokenEndpoint, a, back.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	srv.ForgetClients()
	_, err = c.RefreshOAuth(context.Background(), d.Server.TokenEndpoint, a.ClientID, tokens.RefreshToken, d.Resource)
	var se *ServerError
	if !errors.As(err, &se) || !se.ClientUnknown() || se.Rejected() {
		t.Errorf("a forgotten client: got %v, want invalid_client, not a rejection", err)
	}
	// The token endpoint however the metadata spell it: HTTP:// is http://.
	upper := "HTTP://" + strings.TrimPrefix(d.Server.TokenEndpoint, "http://")
	_, err = c.RefreshOAuth(context.Background(), upper, a.ClientID, tokens.RefreshToken, d.Resource)
	if !errors.As(err, &se) || !se.ClientUnknown() {
		t.Errorf("the token endpoint spelt %q: got %v, want invalid_client from it", upper[:7], err)
	}
	// A failing server that says invalid_client says nothing of the client.
	if failing := (&ServerError{Endpoint: EndpointToken, Code: "invalid_client", Status: 503}); failing.ClientUnknown() {
		t.Error("a 503 saying invalid_client is taken for a forgotten client")
	}
}

// The challenge is base64url(SHA-256(verifier)) without padding (RFC
// 7636, 4.2); the answer was computed apart, with Python's hashlib.
func TestChallengeIsS256(t *testing.T) {
	if got, want := Challenge("dBjftJeZ4CVP-mJ92K9Zkd5yk7M9zN8kd8TXVhcWqVk"), "OfdeS6uwhIx27ayMX-BZgUUPTVJqr1AE4fpCwf4aEZ4"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	v := NewVerifier()
	if len(v) != 43 || v == NewVerifier() || strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Errorf("a verifier is 43 random base64url characters: %q", v)
	}
}

func TestWellKnownURLs(t *testing.T) {
	mcp, _ := url.Parse(DefaultMCPURL)
	issuer, _ := url.Parse("https://web.akiflow.com")
	for _, c := range []struct{ got, want string }{
		{ResourceMetadataURL(mcp), "https://mcp.akiflow.com/.well-known/oauth-protected-resource/mcp"},
		{ServerMetadataURL(issuer), "https://web.akiflow.com/.well-known/oauth-authorization-server"},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}

func TestAuthorizationURLHoldsNoSecret(t *testing.T) {
	a := Authorization{ClientID: "c1", RedirectURI: "http://127.0.0.1:8000/callback", State: "st", Verifier: NewVerifier(),
		Resource: DefaultMCPURL, Scopes: []string{"mcp:read", "mcp:write"}}
	raw, err := a.URL("https://web.akiflow.com/oauth/authorize?prompt=consent")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	want := map[string]string{"response_type": "code", "client_id": "c1", "redirect_uri": a.RedirectURI, "state": "st",
		"code_challenge": Challenge(a.Verifier), "code_challenge_method": "S256", "resource": DefaultMCPURL,
		"scope": "mcp:read mcp:write", "prompt": "consent"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s: got %q, want %q", k, q.Get(k), v)
		}
	}
	if strings.Contains(raw, a.Verifier) {
		t.Errorf("the URL holds the verifier")
	}
	if _, err := a.URL("http://example.com/authorize"); err == nil {
		t.Errorf("a plain http endpoint off this machine was taken")
	}
}

func TestMetadataThatCannotBeUsed(t *testing.T) {
	good := map[string]any{"issuer": "https://web.akiflow.com", "authorization_endpoint": "https://web.akiflow.com/oauth/authorize",
		"token_endpoint": "https://web.akiflow.com/oauth/token", "registration_endpoint": "https://web.akiflow.com/oauth/register",
		"code_challenge_methods_supported": []string{"S256"}}
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"good", func(map[string]any) {}, ""},
		{"another issuer", func(m map[string]any) { m["issuer"] = "https://evil.example" }, "issuer"},
		{"no PKCE", func(m map[string]any) { delete(m, "code_challenge_methods_supported") }, "PKCE"},
		{"plain PKCE only", func(m map[string]any) { m["code_challenge_methods_supported"] = []string{"plain"} }, "PKCE"},
		{"no registration", func(m map[string]any) { delete(m, "registration_endpoint") }, "registration_endpoint"},
		{"http token endpoint", func(m map[string]any) { m["token_endpoint"] = "http://web.akiflow.com/oauth/token" }, "not https"},
		{"token endpoint with credentials", func(m map[string]any) { m["token_endpoint"] = "https://u:p@x/t" }, "not an absolute URL"},
		{"no code", func(m map[string]any) { m["response_types_supported"] = []string{"token"} }, "authorization code"},
		{"wrong type", func(m map[string]any) { m["token_endpoint"] = 4 }, "not valid JSON"},
		{"token endpoint elsewhere", func(m map[string]any) { m["token_endpoint"] = "https://evil.example/oauth/token" }, "not on the issuer's host"},
		{"registration on another port", func(m map[string]any) { m["registration_endpoint"] = "https://web.akiflow.com:8443/r" }, "not on the issuer's host"},
		{"revocation elsewhere", func(m map[string]any) { m["revocation_endpoint"] = "https://evil.example/revoke" }, "not on the issuer's host"},
		{"the default port spelt out", func(m map[string]any) { m["token_endpoint"] = "https://WEB.akiflow.com:443/oauth/token" }, ""},
	} {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		c.edit(m)
		data, _ := json.Marshal(m)
		_, err := ParseServerMetadata(data, "https://web.akiflow.com")
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
	for _, c := range []struct{ data, want string }{
		{`{"resource":"https://mcp.akiflow.com/mcp","authorization_servers":["https://web.akiflow.com"]}`, ""},
		{`{"resource":"https://evil.example/mcp","authorization_servers":["https://web.akiflow.com"]}`, "resource"},
		{`{"resource":"https://mcp.akiflow.com/mcp"}`, "no authorization server"},
		{`{"resource":"https://mcp.akiflow.com/mcp","authorization_servers":["https://web.akiflow.com"],"scopes_supported":["a b"]}`, "scope"},
		{`<html>`, "not JSON"},
	} {
		_, err := ParseResourceMetadata([]byte(c.data), DefaultMCPURL)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want an error with %q", c.data, err, c.want)
		}
	}
}

func TestDiscoveryRefusesAnotherAuthorizationServer(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	other, _ := url.Parse("http://127.0.0.2:1")
	c := NewClient(ClientConfig{BaseURL: other, Timeout: 5 * time.Second, Now: time.Now})
	mcp, _ := url.Parse(srv.MCPURL())
	_, err := c.Discover(context.Background(), mcp)
	if err == nil || !strings.Contains(err.Error(), "--base-url") {
		t.Errorf("got %v, want a refusal naming --base-url", err)
	}
	if srv.Count(akiflowtest.RouteServerMetadata) != 0 {
		t.Errorf("the other server's metadata were fetched")
	}
}

func TestOAuthErrorsHoldNoSecret(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	c := newTestClient(t, srv, time.Now)
	d, a, back := signIn(t, c, srv)
	tokens, err := c.ExchangeCode(context.Background(), d.Server.TokenEndpoint, a, back.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Fail(akiflowtest.RouteToken, func(w http.ResponseWriter, r *http.Request, s *akiflowtest.Server) {
		r.ParseForm()
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": "bad token " + r.PostForm.Get("refresh_token")})
	})
	_, err = c.RefreshOAuth(context.Background(), d.Server.TokenEndpoint, a.ClientID, tokens.RefreshToken, d.Resource)
	if err == nil || strings.Contains(err.Error(), tokens.RefreshToken[:12]) || rejected(err) {
		t.Errorf("got %v, want an error without the refresh token, not a rejection", err)
	}
	srv.Fail(akiflowtest.RouteToken, akiflowtest.Reply(http.StatusBadGateway, "text/html", "<html>"+tokens.RefreshToken+"</html>"))
	_, err = c.RefreshOAuth(context.Background(), d.Server.TokenEndpoint, a.ClientID, tokens.RefreshToken, d.Resource)
	if err == nil || strings.Contains(err.Error(), "<html>") || !IsTransient(err) {
		t.Errorf("a page: got %v, want a transient error without the page", err)
	}
}

func TestOAuthLifetimeHasNoOneDayCap(t *testing.T) {
	sent := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	jwt := "e30." + b64url(`{"exp":`+jsonInt(sent.Add(time.Hour).Unix())+`}`) + ".sig"
	for _, c := range []struct {
		reply string
		want  time.Duration
	}{
		{`{"access_token":"opaque","expires_in":172800}`, 48 * time.Hour},
		{`{"access_token":"` + jwt + `","expires_in":172800}`, time.Hour},
		{`{"access_token":"opaque","expires_in":1800000000}`, UnknownLifetime},
	} {
		var r oauthReply
		if err := DecodeReply([]byte(c.reply), &r); err != nil {
			t.Fatal(err)
		}
		tokens, err := r.tokensWithin("refresh", sent, maxOAuthLifetime)
		if err != nil || tokens.Lifetime != c.want {
			t.Errorf("%s: got %v (%v), want %v", c.reply, tokens, err, c.want)
		}
	}
}

func TestEmailClaim(t *testing.T) {
	for _, c := range []struct{ claims, want string }{
		{`{"email":"a@b.c"}`, "a@b.c"},
		{`{"email":"a@b.c","email_verified":false}`, ""},
		{`{"sub":"1"}`, ""},
	} {
		if got := EmailClaim("e30." + b64url(c.claims) + ".sig"); got != c.want {
			t.Errorf("%s: got %q, want %q", c.claims, got, c.want)
		}
	}
	if EmailClaim("opaque") != "" {
		t.Errorf("an opaque token named an email")
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// Revoke sends the refresh token to the revocation endpoint (RFC 7009),
// which kills it; a refusal that echoes the token does not carry it.
func TestRevoke(t *testing.T) {
	srv := akiflowtest.NewServer()
	defer srv.Close()
	c := newTestClient(t, srv, time.Now)
	d, a, back := signIn(t, c, srv)
	tokens, err := c.ExchangeCode(context.Background(), d.Server.TokenEndpoint, a, back.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Server.RevocationEndpoint == "" {
		t.Fatal("the fake's metadata offer no revocation endpoint")
	}
	srv.Fail(akiflowtest.RouteRevoke, func(w http.ResponseWriter, r *http.Request, s *akiflowtest.Server) {
		r.ParseForm()
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": "temporarily_unavailable", "error_description": "cannot revoke " + r.PostForm.Get("token")})
	})
	err = c.Revoke(context.Background(), d.Server.RevocationEndpoint, a.ClientID, tokens.RefreshToken)
	if err == nil || strings.Contains(err.Error(), tokens.RefreshToken[:12]) {
		t.Errorf("a failed revocation: got %v, want an error without the refresh token", err)
	}
	if !srv.ValidRefresh(tokens.RefreshToken) {
		t.Fatal("a failed revocation revoked the refresh token")
	}
	if err := c.Revoke(context.Background(), d.Server.RevocationEndpoint, a.ClientID, tokens.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if srv.ValidRefresh(tokens.RefreshToken) || srv.Revocations() != 1 {
		t.Errorf("the refresh token is live after its revocation (revocations: %d)", srv.Revocations())
	}
	if srv.LastHeader(akiflowtest.RouteRevoke, "Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("the revocation is not a form")
	}
}
