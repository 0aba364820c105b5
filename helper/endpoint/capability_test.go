package endpoint

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Each URL has its own capability of 256 random bits; the check compares
// in constant time, so that a nearly right guess takes no longer than a
// wrong one. (The test checks the comparison's contract, not a timing.)
func TestCapabilities(t *testing.T) {
	a, b := newCapability(), newCapability()
	for _, c := range []string{a, b} {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(raw) != 32 {
			t.Fatalf("a capability of %d characters decodes to %d bytes (%v); want 32", len(c), len(raw), err)
		}
	}
	if a == b {
		t.Fatal("two capabilities are equal")
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

	// One per URL, and per endpoint.
	r, r2 := newRig(t, nil, nil), newRig(t, nil, nil)
	caps := map[string]bool{r.ep.tokenCap: true, r.ep.proxyCap: true, r2.ep.tokenCap: true, r2.ep.proxyCap: true}
	if len(caps) != 4 {
		t.Errorf("two endpoints have %d different capabilities, want 4", len(caps))
	}
	if !strings.HasSuffix(r.ep.TokenURL(), "/"+r.ep.tokenCap) || !strings.HasSuffix(r.ep.ProxyURL(), "/"+r.ep.proxyCap) {
		t.Error("a URL does not end with its capability")
	}
}

// A request without one of the endpoint's capabilities, as the first
// segment of its path and as it was made, gets a bare 404 and costs
// nothing: a wrong, nearly right, percent-encoded or misplaced capability
// is no capability.
func TestNoCapabilityIsABare404(t *testing.T) {
	r := newRig(t, nil, nil)
	base := "http://" + r.ep.Addr()
	tc, pc := r.ep.tokenCap, r.ep.proxyCap
	encoded := fmt.Sprintf("%%%02X", tc[0]) + tc[1:] // the same capability, its first byte percent-encoded
	for _, u := range []string{
		base + "/",
		base + "/v5/tasks",
		base + "/" + tc[:len(tc)-1],
		base + "/" + tc + "x",
		base + "/" + tc[:len(tc)-1] + string(tc[len(tc)-1]^1),
		base + "/" + encoded,
		base + "/" + encoded + "/v5/tasks",
		base + "/x/" + tc,
		base + "/x/" + pc + "/v5/tasks",
		base + "/?cap=" + tc,
		base + "/" + url.PathEscape("/"+tc),
		base + "/" + tc + "/v5/tasks", // the token URL has nothing below it
		base + "/" + tc + "/" + pc,
	} {
		for _, method := range []string{"GET", "POST", "DELETE"} {
			resp, body := r.get(method, u, nil)
			if resp.StatusCode != 404 || body != "" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: %d %q, Cache-Control %q; want a bare 404", method, r.redact(u), resp.StatusCode, r.redact(body), resp.Header.Get("Cache-Control"))
			}
		}
	}
	if n := r.src.count(); n != (stubCalls{}) {
		t.Errorf("requests without a capability called the Source: %+v", n)
	}
	if n := r.stubAPI().calls(""); n != 0 {
		t.Errorf("requests without a capability reached the API %d times", n)
	}
}

// A capability is found however the client quoted it, and no log line
// holds one.
func TestQuotedCapabilitiesAreFound(t *testing.T) {
	e := &Endpoint{tokenCap: "Tok3nCap4bility", proxyCap: "Pr0xyCap4bility"}
	for _, s := range []string{"/x/Tok3nCap4bility", "/x/%54ok3nCap4bility", "q=%2554ok3nCap4bility", "/../Pr0xyCap4bility/y", "q=%25%35%34ok3nCap4bility", "a+b=Pr0xyCap4bility"} {
		if !e.quotesCapability(s) {
			t.Errorf("quotesCapability(%q) = false", s)
		}
		if got := e.withoutCapabilities(s); strings.Contains(got, "Cap4bility") {
			t.Errorf("withoutCapabilities(%q) = %q", s, got)
		}
	}
	for _, s := range []string{"/v5/tasks?q=1", "", "%zz", "/v5/Tok3nCap"} {
		if e.quotesCapability(s) {
			t.Errorf("quotesCapability(%q) = true", s)
		}
	}
}

// A proxied request whose path or query quotes a capability, as it is or
// percent-encoded, is refused and not forwarded: it would reach the API
// and its logs. Verbose, the log line says so without the path.
func TestProxyRefusesAQuotedCapability(t *testing.T) {
	r := newRig(t, nil, nil)
	api := r.stubAPI()
	for _, u := range []string{
		r.ep.ProxyURL() + "/v5/" + r.ep.proxyCap,
		r.ep.ProxyURL() + "/v5/" + r.ep.tokenCap + "/x",
		r.ep.ProxyURL() + "/v5/x?next=" + url.QueryEscape(r.ep.TokenURL()),
		r.ep.ProxyURL() + "/v5/x?next=" + url.QueryEscape(url.QueryEscape(r.ep.ProxyURL())),
		r.ep.ProxyURL() + "/v5/" + fmt.Sprintf("%%%02X", r.ep.tokenCap[0]) + r.ep.tokenCap[1:],
		// Encoded three and five times: a server may decode as often.
		r.ep.ProxyURL() + "/v5/x?next=" + url.QueryEscape(url.QueryEscape(url.QueryEscape(r.ep.TokenURL()))),
		r.ep.ProxyURL() + "/v5/x?next=" + url.QueryEscape(url.QueryEscape(url.QueryEscape(url.QueryEscape(url.QueryEscape(r.ep.ProxyURL()))))),
		// A malformed escape elsewhere does not stop the decoding.
		r.ep.ProxyURL() + "/v5/x?bad=%zz&next=" + url.QueryEscape(url.QueryEscape(r.ep.TokenURL())),
	} {
		resp, body := r.get("GET", u, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %d %q, want 400", r.redact(u), resp.StatusCode, r.redact(body))
		}
		r.checkNoSecrets("the answer", body)
	}
	// In a header, as it is or encoded.
	for name, value := range map[string]string{
		"Referer": r.ep.TokenURL(),
		"X-Echo":  "see " + r.ep.ProxyURL(),
		"Cookie":  "c=" + url.QueryEscape(url.QueryEscape(url.QueryEscape(r.ep.tokenCap))),
	} {
		resp, body := r.get("GET", r.ep.ProxyURL()+"/v5/x", nil, name, value)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a %s header quoting a capability: %d %q, want 400", name, resp.StatusCode, r.redact(body))
		}
	}
	if n := api.calls(""); n != 0 {
		t.Errorf("the API got %d requests that quote a capability", n)
	}
	if n := strings.Count(r.log.String(), "(a path that quotes a capability)"); n < 3 {
		t.Errorf("the log names %d paths that quote a capability as such, want at least 3:\n%s", n, r.redact(r.log.String()))
	}
}

// The proxy forwards what an API call is: TRACE (which an upstream echoes,
// token and all) and CONNECT are refused, and so is OPTIONS *, which
// names no capability.
func TestProxyForwardsOnlyAPIMethods(t *testing.T) {
	r := newRig(t, nil, nil)
	api := r.stubAPI()
	for _, method := range []string{"TRACE", "CONNECT", "PROPFIND", "FOO"} {
		resp, _ := r.get(method, r.ep.ProxyURL()+"/v5/x", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
			t.Errorf("%s: %d (Allow %q), want 405 with Allow", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if n := api.calls(""); n != 0 {
		t.Errorf("the API got %d requests of other methods", n)
	}
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		if resp, _ := r.get(method, r.ep.ProxyURL()+"/v5/x", nil); resp.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("%s was refused", method)
		}
	}
	// OPTIONS * has no path, so no capability: a bare 404, not Go's 200.
	conn, err := net.Dial("tcp", r.ep.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "OPTIONS * HTTP/1.1\r\nHost: %s\r\n\r\n", r.ep.Addr())
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("OPTIONS *: %d, want 404", resp.StatusCode)
	}
}
