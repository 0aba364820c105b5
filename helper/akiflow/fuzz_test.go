package akiflow

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the parsers of the server's replies. Their seeds run in
// every go test; run one for longer with, for example:
//   go test ./helper/akiflow -run '^$' -fuzz FuzzTokenReply -fuzztime 2m

func FuzzTokenReply(f *testing.F) {
	f.Add([]byte(`{"token_type":"Bearer","access_token":"a.b.c","refresh_token":"def50200ab","expires_in":1800}`))
	f.Add([]byte(`{"access_token":"a.eyJleHAiOjE5MDAwMDAwMDB9.c"}`))
	f.Add([]byte(`{"access_token":"x","expires_in":"1800"}`))
	f.Add([]byte(`{"access_token":"x","expires_in":1e300}`))
	f.Add([]byte(`<html>maintenance</html>`))
	f.Add([]byte(`{"error":"invalid_grant","error_description":"bad\nline","message":"m"}`))
	sent := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r tokenReply
		if err := DecodeReply(data, &r); err == nil {
			if tok, err := r.tokens("refresh", sent); err == nil && (tok.AccessToken == "" || tok.ExpiresAt.IsZero()) {
				t.Errorf("accepted tokens without a token or an expiry")
			}
		}
		e := newServerError("refresh", pathRefresh, &http.Response{StatusCode: 400, Header: http.Header{"Retry-After": {string(data)}}}, data)
		if msg := e.Error(); strings.ContainsAny(msg, "\r\n") {
			t.Errorf("multi-line error %q", msg)
		}
	})
}

func FuzzParseXSRF(f *testing.F) {
	for _, s := range []string{"abc%2B%2F%3D", "a+b", "%", "%zz", "eyJpdiI6IjEifQ%3D%3D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cookie string) {
		v, ok := ParseXSRF(cookie)
		if ok && (v == "" || strings.ContainsAny(v, "\r\n\x00")) {
			t.Errorf("ParseXSRF(%q) = %q would make a bad header", cookie, v)
		}
	})
}

// The OAuth side's parsers: the metadata, the registration's reply and
// the token endpoint's reply, with its ID token.
func FuzzOAuthMetadata(f *testing.F) {
	f.Add([]byte(`{"resource":"https://mcp.akiflow.com/mcp","authorization_servers":["https://web.akiflow.com"],"scopes_supported":["mcp:read"]}`))
	f.Add([]byte(`{"issuer":"https://web.akiflow.com","authorization_endpoint":"https://web.akiflow.com/a","token_endpoint":"https://web.akiflow.com/t","registration_endpoint":"https://web.akiflow.com/r","code_challenge_methods_supported":["S256"]}`))
	f.Add([]byte(`{"issuer":"https://web.akiflow.com","token_endpoint":"http://[::1]:80/t"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := ParseResourceMetadata(data, DefaultMCPURL); err == nil && len(m.AuthorizationServers) == 0 {
			t.Errorf("accepted resource metadata without an authorization server")
		} else if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("multi-line error %q", err)
		}
		m, err := ParseServerMetadata(data, "https://web.akiflow.com")
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		for _, e := range []string{m.AuthorizationEndpoint, m.TokenEndpoint, m.RegistrationEndpoint} {
			if u, err := CheckEndpoint(e); err != nil || u.Scheme != "https" && !loopbackHost(u.Hostname()) {
				t.Errorf("accepted the endpoint %q", e)
			}
		}
	})
}

func FuzzRegistration(f *testing.F) {
	f.Add([]byte(`{"client_id":"abc","client_name":"akiflow-token"}`))
	f.Add([]byte(`{"client_id":42}`))
	f.Add([]byte(`{"client_id":"a b\n"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := ParseRegistration(data)
		if err == nil && CheckClientID(id) != nil {
			t.Errorf("accepted the client id %q", id)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("multi-line error %q", err)
		}
	})
}

func FuzzOAuthTokenReply(f *testing.F) {
	f.Add([]byte(`{"access_token":"a.eyJlbWFpbCI6ImFAYi5jIn0.c","refresh_token":"r","expires_in":3600,"id_token":"x.eyJlbWFpbCI6ImFAYi5jIn0.y"}`))
	f.Add([]byte(`{"access_token":"x","expires_in":1e12}`))
	sent := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r oauthReply
		if DecodeReply(data, &r) != nil {
			return
		}
		tok, err := r.tokensWithin("refresh", sent, maxOAuthLifetime)
		if err == nil && (tok.AccessToken == "" || tok.Lifetime < minLifetime || tok.Lifetime > maxOAuthLifetime) {
			t.Errorf("accepted tokens without a token or a plausible lifetime")
		}
		EmailClaim(r.IDToken.text())
	})
}
