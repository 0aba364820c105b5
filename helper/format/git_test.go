package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseGitRequest(t *testing.T) {
	long := strings.Repeat("a", gitMaxLine-len("path="))
	for _, tc := range []struct {
		desc, in string
		want     GitRequest
	}{
		{"empty", "", GitRequest{}},
		{"a blank line alone", "\n", GitRequest{}},
		{"get", "protocol=https\nhost=api.akiflow.com\npath=v5/tasks\nusername=a@b.c\n\n",
			GitRequest{Protocol: "https", Host: "api.akiflow.com", Path: "v5/tasks", Username: "a@b.c"}},
		{"no blank line at the end", "protocol=https\nhost=x", GitRequest{Protocol: "https", Host: "x"}},
		{"CRLF", "protocol=https\r\nhost=x\r\n\r\n", GitRequest{Protocol: "https", Host: "x"}},
		// bufio drops one CR before the LF, and the parser another.
		{"two CRs are a line end", "host=x\r\r\n", GitRequest{Host: "x"}},
		{"three CRs are not", "host=x\r\r\r\n", GitRequest{Host: "x\r"}},
		{"a CR at the end", "host=x\r", GitRequest{Host: "x"}},
		{"a CR inside", "host=x\ry\n", GitRequest{Host: "x\ry"}},
		{"stops at the blank line", "host=x\n\nhost=y\nnot key=value\x00\n", GitRequest{Host: "x"}},
		{"a value with =", "password=a=b==\n", GitRequest{Password: "a=b=="}},
		{"empty values", "protocol=\nhost=\n", GitRequest{}},
		{"the last of a key wins", "host=x\nhost=y\n", GitRequest{Host: "y"}},
		{"erase", "protocol=https\nhost=x\nusername=u\npassword=p\ncredential=c\n",
			GitRequest{Protocol: "https", Host: "x", Username: "u", Password: "p", Credential: "c"}},
		{"capabilities, in order", "capability[]=authtype\ncapability[]=state\ncapability[]=authtype\n",
			GitRequest{Capabilities: []string{"authtype", "state", "authtype"}}},
		{"unknown keys are skipped", "wwwauth[]=Bearer realm=x\nstate[]=a\nephemeral=1\npass\x00word=x\nHost=y\nhost=x\n", GitRequest{Host: "x"}},
		{"a line of 65535 bytes", "path=" + long + "\n", GitRequest{Path: long}},
		{"a last line of 65535 bytes", "path=" + long, GitRequest{Path: long}},
		{"1000 lines", strings.Repeat("host=x\n", gitMaxLines), GitRequest{Host: "x"}},
		{"1000 lines and a blank one", strings.Repeat("host=x\n", gitMaxLines) + "\nhost=y\n", GitRequest{Host: "x"}},
	} {
		got, err := ParseGitRequest(strings.NewReader(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.desc, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			// Fields may hold passwords: say which differ, not what.
			t.Errorf("%s: got %s", tc.desc, diffFields(*got, tc.want))
		}
	}
}

// diffFields names the fields of two requests that differ, with lengths.
func diffFields(got, want GitRequest) string {
	var out []string
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			out = append(out, fmt.Sprintf("%s of length %d, want %d", g.Type().Field(i).Name, g.Field(i).Len(), w.Field(i).Len()))
		}
	}
	return strings.Join(out, "; ")
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestParseGitRequestRefuses(t *testing.T) {
	long := strings.Repeat("a", gitMaxLine+1-len("path="))
	for _, tc := range []struct {
		desc string
		in   io.Reader
		want string
	}{
		{"not key=value", strings.NewReader("this is not key=value\nnor this\n"), "git sent a line that is not key=value"},
		{"no =", strings.NewReader("protocol=https\nhost\n"), "git sent a line that is not key=value"},
		{"an empty key", strings.NewReader("=value\n"), "git sent a line that is not key=value"},
		{"a line of spaces", strings.NewReader(" \n"), "git sent a line that is not key=value"},
		{"a NUL in a value", strings.NewReader("password=a\x00b\n"), "git sent a password with a NUL byte"},
		{"a NUL in an unknown key's value", strings.NewReader("wwwauth[]=\x00\n"), "git sent a wwwauth[] with a NUL byte"},
		{"a NUL and a hostile key", strings.NewReader("\x1b[2J\nevil=\x00\n"), "git sent a line that is not key=value"},
		{"a key with controls", strings.NewReader("a\u009bb\nc=\x00\n"), "git sent a line that is not key=value"},
		{"a hostile key with a NUL value", strings.NewReader("\x1b[2Jkey\u202e=\x00\n"), "git sent a [2Jkey with a NUL byte"},
		{"a line of 65536 bytes", strings.NewReader("path=" + long + "\n"), "git sent a line longer than 65535 bytes"},
		{"a last line of 65536 bytes", strings.NewReader("path=" + long), "git sent a line longer than 65535 bytes"},
		{"a CRLF line of 65535 bytes and the CR", strings.NewReader("path=" + long[1:] + "\r\n"), "git sent a line longer than 65535 bytes"},
		{"1001 lines", strings.NewReader(strings.Repeat("host=x\n", gitMaxLines+1)), "git sent more than 1000 lines"},
		{"a reader that fails", failingReader{errors.New("EIO")}, "could not read git's request: EIO"},
		{"a reader that fails after a line", io.MultiReader(strings.NewReader("host=x\n"), failingReader{errors.New("EIO")}), "could not read git's request: EIO"},
	} {
		req, err := ParseGitRequest(tc.in)
		switch {
		case err == nil:
			t.Errorf("%s: accepted", tc.desc)
		case err.Error() != tc.want:
			t.Errorf("%s: error %q, want %q", tc.desc, err, tc.want)
		case req != nil:
			t.Errorf("%s: a request beside an error", tc.desc)
		}
	}
}

func TestGitRequestCanBearer(t *testing.T) {
	for _, tc := range []struct {
		req  *GitRequest
		want bool
	}{
		{nil, false},
		{&GitRequest{}, false},
		{&GitRequest{Capabilities: []string{"state"}}, false},
		{&GitRequest{Capabilities: []string{"Authtype", "authtype "}}, false},
		{&GitRequest{Capabilities: []string{"state", "authtype"}}, true},
	} {
		if got := tc.req.CanBearer(); got != tc.want {
			t.Errorf("CanBearer of %+v = %v", tc.req, got)
		}
	}
}

func TestGitRequestRejected(t *testing.T) {
	for _, tc := range []struct {
		req  *GitRequest
		want string
	}{
		{nil, ""},
		{&GitRequest{}, ""},
		{&GitRequest{Password: "p"}, "p"},
		{&GitRequest{Credential: "c"}, "c"},
		{&GitRequest{Password: "p", Credential: "c"}, "c"},
	} {
		if got := tc.req.Rejected(); got != tc.want {
			t.Errorf("Rejected of %+v = %q, want %q", tc.req, got, tc.want)
		}
	}
}

func TestGitCapabilities(t *testing.T) {
	if GitCapabilities != "version 0\ncapability authtype\n" {
		t.Errorf("GitCapabilities = %q", GitCapabilities)
	}
}

func TestWriteGitAnswer(t *testing.T) {
	password := "username=alice@example.com\npassword=" + tok + "\npassword_expiry_utc=4070908800\n"
	bearer := "capability[]=authtype\nauthtype=Bearer\ncredential=" + tok + "\nephemeral=1\npassword_expiry_utc=4070908800\n"
	for _, tc := range []struct {
		desc string
		req  *GitRequest
		want string
	}{
		{"no request", nil, password},
		{"a git without authtype", &GitRequest{Protocol: "https", Host: "api.akiflow.com"}, password},
		{"a git with other capabilities", &GitRequest{Capabilities: []string{"state"}}, password},
		{"a git with authtype", &GitRequest{Capabilities: []string{"state", "authtype"}}, bearer},
	} {
		var w countingWriter
		if err := WriteGitAnswer(&w, tc.req, alice); err != nil {
			t.Errorf("%s: %v", tc.desc, err)
			continue
		}
		if got := w.String(); got != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.desc, redact(got), redact(tc.want))
		}
		if w.writes != 1 {
			t.Errorf("%s: %d writes, want 1", tc.desc, w.writes)
		}
	}

	// The expiry in Unix seconds, whatever the zone.
	var w bytes.Buffer
	c := with(alice, func(c *Credential) { c.ExpiresAt = c.ExpiresAt.Add(1500e6).In(time.FixedZone("CET", 3600)) })
	if err := WriteGitAnswer(&w, nil, c); err != nil || !strings.HasSuffix(w.String(), "\npassword_expiry_utc=4070908801\n") {
		t.Errorf("expiry: got %q, %v", redact(w.String()), err)
	}
}

func TestWriteGitAnswerRefuses(t *testing.T) {
	for _, tc := range []struct {
		desc string
		c    Credential
	}{
		{"an empty token", with(alice, func(c *Credential) { c.AccessToken = "" })},
		{"a token with a line break", with(alice, func(c *Credential) { c.AccessToken = "x\nhost=evil.example" })},
		{"a token with a NUL", with(alice, func(c *Credential) { c.AccessToken = "x\x00" })},
		{"an email with a line break", with(alice, func(c *Credential) { c.Email = "a@b.c\npassword=x" })},
		{"an empty email", with(alice, func(c *Credential) { c.Email = "" })},
		{"a client id with a line break", with(alice, func(c *Credential) { c.ClientID = "x\ny" })},
	} {
		for _, req := range []*GitRequest{{}, {Capabilities: []string{"authtype"}}} {
			var w countingWriter
			err := WriteGitAnswer(&w, req, tc.c)
			if err == nil || !strings.HasPrefix(err.Error(), "refusing to print ") || w.writes != 0 {
				t.Errorf("%s (bearer %v): error %v, %d writes", tc.desc, req.CanBearer(), err, w.writes)
			}
		}
	}
	err := WriteGitAnswer(brokenWriter{}, nil, alice)
	if !errors.Is(err, errBroken) || err.Error() != "could not write the answer to git: broken pipe" {
		t.Errorf("a broken writer: %v", err)
	}
}

func TestIsAkiflowHost(t *testing.T) {
	type auth struct{ scheme, host string }
	web := auth{"https", "web.akiflow.com"}
	local := auth{"http", "127.0.0.1:1"}
	staging := auth{"https", "staging.example.com"}
	for _, tc := range []struct {
		auth           auth
		protocol, host string
		want           bool
	}{
		// Akiflow over https, with or without :443.
		{web, "https", "web.akiflow.com", true},
		{web, "https", "api.akiflow.com", true},
		{web, "https", "api.akiflow.com:443", true},
		{web, "https", "akiflow.com", true},
		{web, "https", "akiflow.com:443", true},
		{web, "https", "a.b.akiflow.com", true},
		{web, "https", "API.Akiflow.COM", true},
		{local, "https", "api.akiflow.com", true},
		{staging, "https", "api.akiflow.com", true},
		// Other ports, other protocols.
		{web, "http", "api.akiflow.com", false},
		{web, "http", "akiflow.com:443", false},
		{web, "HTTPS", "api.akiflow.com", false},
		{web, "", "api.akiflow.com", false},
		{web, "ssh", "api.akiflow.com", false},
		{web, "https", "api.akiflow.com:80", false},
		{web, "https", "api.akiflow.com:8443", false},
		{web, "https", "api.akiflow.com:0443", false},
		{web, "https", "api.akiflow.com:4430", false},
		{web, "https", "api.akiflow.com:443:443", false},
		{web, "https", "api.akiflow.com:", false},
		{web, "https", "api.akiflow.com:44a", false},
		{web, "https", "api.akiflow.com:123456", false},
		// Look-alikes: other sites, or what a URL parser reads as one.
		{web, "https", "evilakiflow.com", false},
		{web, "https", "akiflow.com.evil.example", false},
		{web, "https", "web.akiflow.com.evil.test", false},
		{web, "https", "akiflow.com.", false},
		{web, "https", "akiflow.co", false},
		{web, "https", "evil.com/.akiflow.com", false},
		{web, "https", "evil.com#.akiflow.com", false},
		{web, "https", "evil.com\\.akiflow.com", false},
		{web, "https", "evil.com?.akiflow.com", false},
		{web, "https", "evil.com@.akiflow.com", false},
		{web, "https", "evil.com%2f.akiflow.com", false},
		{web, "https", "evil.com .akiflow.com", false},
		{web, "https", "evil.com:443.akiflow.com", false},
		{web, "https", "user@api.akiflow.com", false},
		{web, "https", "x.akiflow.com\u202e", false},
		{web, "https", "x.akiflow.com\n", false},
		{web, "https", "x.akiflow.com\x00", false},
		{web, "https", "x.аkiflow.com", false}, // a Cyrillic а
		{web, "https", "", false},
		{web, "https", ":443", false},
		// IPs: never Akiflow by name; the auth host only with its scheme
		// and port.
		{web, "https", "1.2.3.4", false},
		{web, "https", "[::1]", false},
		{local, "http", "127.0.0.1:1", true},
		{local, "https", "127.0.0.1:1", false},
		{local, "http", "127.0.0.1:2", false},
		{local, "http", "127.0.0.1", false},
		{local, "http", "127.0.0.1:01", false},
		{local, "http", "localhost:1", false},
		{auth{"http", "[::1]:2"}, "http", "[::1]:2", false},
		// Another auth host: exactly it, with its scheme, any case.
		{staging, "https", "staging.example.com", true},
		{staging, "https", "STAGING.example.com", true},
		{staging, "http", "staging.example.com", false},
		{staging, "https", "staging.example.com:443", false},
		{staging, "https", "x.staging.example.com", false},
		{auth{"", ""}, "", "x", false},
	} {
		req := &GitRequest{Protocol: tc.protocol, Host: tc.host}
		if got := IsAkiflowHost(req, tc.auth.scheme, tc.auth.host); got != tc.want {
			t.Errorf("IsAkiflowHost(%s://%s) with the auth host %s://%s = %v, want %v", tc.protocol, tc.host, tc.auth.scheme, tc.auth.host, got, tc.want)
		}
	}
	if IsAkiflowHost(nil, "https", "web.akiflow.com") {
		t.Errorf("IsAkiflowHost(nil) = true")
	}
}
