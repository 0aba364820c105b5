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
