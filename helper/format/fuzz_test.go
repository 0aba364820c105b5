package format

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for every parser of outside input, and for the encoders
// whose output other programs parse. Their seeds run in every go test; run
// one for longer with, for example:
//   go test ./helper/format -run '^$' -fuzz '^FuzzWrite$' -fuzztime 2m
//
// A token is a secret: failures print lengths, never values.

func FuzzParseGitRequest(f *testing.F) {
	f.Add("protocol=https\nhost=api.akiflow.com\nusername=a@b.c\n\n")
	f.Add("capability[]=authtype\ncapability[]=state\nwwwauth[]=Bearer realm=x\nprotocol=https\nhost=x\n")
	f.Add("protocol=http\r\nhost=127.0.0.1:1\r\npassword=x\r\ncredential=y\r\n\r\nmore")
	f.Add("protocol=https\nhost=evil.com/.akiflow.com\n")
	f.Add("no equals sign\n")
	f.Add("=value\n")
	f.Add("password=a\x00b\n")
	f.Add("\x1b[2J\u202e=\x00\n")
	f.Fuzz(func(t *testing.T, in string) {
		req, err := ParseGitRequest(strings.NewReader(in))
		if err != nil {
			if msg := err.Error(); strings.ContainsFunc(msg, unsafeRune) || strings.Contains(msg, "\n") || !utf8.ValidString(msg) {
				t.Errorf("error %q is not one safe line", msg)
			}
			return
		}
		fields := append([]string{req.Protocol, req.Host, req.Path, req.Username, req.Password, req.Credential}, req.Capabilities...)
		for i, v := range fields {
			if strings.ContainsAny(v, "\n\x00") {
				t.Errorf("field %d (%d bytes) holds a line break or a NUL", i, len(v))
			}
			if len(v) > gitMaxLine {
				t.Errorf("field %d is %d bytes long", i, len(v))
			}
		}
		if len(req.Capabilities) > gitMaxLines {
			t.Errorf("%d capabilities", len(req.Capabilities))
		}
		// A request for Akiflow is https on an Akiflow name, or the auth
		// host exactly: nothing a URL parser could read as another site.
		if IsAkiflowHost(req, "http", "127.0.0.1:1") && !(req.Protocol == "http" && req.Host == "127.0.0.1:1") {
			host := strings.TrimSuffix(strings.ToLower(req.Host), ":443")
			if req.Protocol != "https" || !(host == "akiflow.com" || strings.HasSuffix(host, ".akiflow.com")) ||
				strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
				t.Errorf("IsAkiflowHost(%q://%q)", req.Protocol, req.Host)
			}
		}
		req.CanBearer()
		req.Rejected()
	})
}

func FuzzParseExecInfo(f *testing.F) {
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true}}`)
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"cluster":{"server":"x"}}}`)
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`)
	f.Add(``)
	f.Add(`{`)
	f.Add(`null`)
	f.Add(`{"apiVersion":"v2\n","kind":"ExecCredential"}`)
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"\u009b2J"}`)
	f.Fuzz(func(t *testing.T, env string) {
		info, err := ParseExecInfo(env)
		if err != nil {
			if msg := err.Error(); strings.ContainsFunc(msg, unsafeRune) || strings.Contains(msg, "\n") || !utf8.ValidString(msg) {
				t.Errorf("error %q is not one safe line", msg)
			}
			if info != (ExecInfo{}) {
				t.Errorf("%+v beside an error", info)
			}
			return
		}
		if info.APIVersion != ExecV1 && info.APIVersion != ExecV1beta1 {
			t.Errorf("accepted apiVersion %q", info.APIVersion)
		}
		// What parses is what Write speaks.
		c := alice
		c.ExecAPIVersion = info.APIVersion
		if err := Write(&bytes.Buffer{}, ExecCredential, c, aliceNow); err != nil {
			t.Errorf("apiVersion %q: %v", info.APIVersion, err)
		}
	})
}

// curlUnslashquote reads a double-quoted value of a curl config as curl
// does (unslashquote in curl's src/tool_parsecfg.c), from just after the
// opening quote: a backslash gives the next byte, or a tab, a line feed, a
// CR or a vertical tab for t, n, r and v; the value ends at an unescaped
// quote or, since curl reads C strings, at a NUL or the end of the line.
// closed says a quote ended it, and rest is what follows that quote.
func curlUnslashquote(line string) (value, rest string, closed bool) {
	var b strings.Builder
	i := 0
	for i < len(line) && line[i] != 0 && line[i] != '"' {
		c := line[i]
		if c == '\\' {
			i++
			if i == len(line) || line[i] == 0 {
				break
			}
			switch c = line[i]; c {
			case 't':
				c = '\t'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 'v':
				c = '\v'
			}
		}
		b.WriteByte(c)
		i++
	}
	if i < len(line) && line[i] == '"' {
		return b.String(), line[i+1:], true
	}
	return b.String(), "", false
}

// curlHeaders reads a curl config of header = "…" lines, as curl splits
// it into lines and unquotes each, and returns the headers.
func curlHeaders(t *testing.T, config string) []string {
	t.Helper()
	var headers []string
	for i, line := range strings.SplitAfter(config, "\n") {
		if line == "" {
			continue // after the last line break
		}
		quoted, ok := strings.CutPrefix(line, `header = "`)
		if !ok || !strings.HasSuffix(line, "\n") {
			t.Fatalf("line %d (%d bytes) is not a whole header line", i+1, len(line))
		}
		value, rest, closed := curlUnslashquote(strings.TrimSuffix(quoted, "\n"))
		if !closed || rest != "" {
			t.Fatalf("line %d (%d bytes): curl reads a value of %d bytes, closed %v, %d bytes after it", i+1, len(line), len(value), closed, len(rest))
		}
		headers = append(headers, value)
	}
	return headers
}

func TestCurlUnslashquote(t *testing.T) {
	for _, tc := range []struct {
		in, value, rest string
		closed          bool
	}{
		{`abc"`, "abc", "", true},
		{`a\"b" x`, `a"b`, " x", true},
		{`a\\" x`, `a\`, " x", true},
		{`\t\n\r\v\f\q"`, "\t\n\r\vfq", "", true},
		{`abc`, "abc", "", false},
		{`ab\`, "ab", "", false},
		{"a\x00b\"", "a", "", false},
		{"a\\\x00b\"", "a", "", false},
	} {
		value, rest, closed := curlUnslashquote(tc.in)
		if value != tc.value || rest != tc.rest || closed != tc.closed {
			t.Errorf("curlUnslashquote(%q) = %q, %q, %v", tc.in, value, rest, closed)
		}
	}
}

func FuzzCurlQuote(f *testing.F) {
	for _, s := range []string{"Authorization: Bearer a.b.c", `a"b\c`, "new\nline", "\\", "\"", "tab\tcr\rvt\v", "jürgen", "\x00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := CurlQuote(s)
		if !strings.HasPrefix(q, `"`) || strings.Contains(q, "\n") {
			t.Fatalf("CurlQuote(%q) = %q is not one quoted line", s, q)
		}
		value, rest, closed := curlUnslashquote(q[1:])
		// curl reads C strings: a NUL ends the value, and with it the line.
		want, nul := s, strings.IndexByte(s, 0)
		if nul >= 0 {
			want = s[:nul]
		}
		if value != want {
			t.Errorf("curl reads CurlQuote(%q) = %q as %q", s, q, value)
		}
		if nul < 0 && (!closed || rest != "") {
			t.Errorf("curl reads CurlQuote(%q) = %q as closed %v, with %q after", s, q, closed, rest)
		}
	})
}

// FuzzWrite checks every format, and the git answers, for any credential:
// either an error and nothing written, or one safe output that its reader
// parses back into what was given.
func FuzzWrite(f *testing.F) {
	add := func(name string, c Credential, now time.Time) {
		f.Add(name, c.AccessToken, c.Email, c.ClientID, c.Platform, c.AppVersion, c.ExecAPIVersion, c.ExpiresAt.Unix(), now.Unix())
	}
	for _, name := range append(Names, "", "git", "git-bearer", "yaml") {
		add(name, alice, aliceNow)
	}
	add(Curl, with(alice, func(c *Credential) { c.Platform, c.AppVersion, c.ClientID = "", "", "" }), aliceNow)
	add(JSON, with(alice, func(c *Credential) { c.Email = "a<b>&\"c\\@exämple.de" }), aliceNow.Add(-time.Hour))
	add(ExecCredential, with(alice, func(c *Credential) { c.ExecAPIVersion = ExecV1beta1 }), time.Unix(0, 0))
	add(Token, with(alice, func(c *Credential) { c.AccessToken = "x\ny" }), aliceNow)
	add("git", with(alice, func(c *Credential) { c.Email = "a@b.c\npassword=x" }), aliceNow)
	add(Curl, with(alice, func(c *Credential) { c.AccessToken = `a"b\c` }), aliceNow)
	f.Fuzz(func(t *testing.T, name, token, email, clientID, platform, appVersion, apiVersion string, expires, now int64) {
		c := Credential{AccessToken: token, ExpiresAt: time.Unix(expires, 0), Email: email, ClientID: clientID,
			Platform: platform, AppVersion: appVersion, ExecAPIVersion: apiVersion}
		var w countingWriter
		var err error
		switch name {
		case "git":
			err = WriteGitAnswer(&w, &GitRequest{}, c)
		case "git-bearer":
			err = WriteGitAnswer(&w, &GitRequest{Capabilities: []string{"authtype"}}, c)
		default:
			err = Write(&w, name, c, time.Unix(now, 0))
		}
		if err != nil {
			if w.writes != 0 {
				t.Errorf("%q: %d writes (%d bytes) beside an error", name, w.writes, w.Len())
			}
			if msg := err.Error(); strings.ContainsFunc(msg, unsafeRune) || strings.Contains(msg, "\n") {
				t.Errorf("%q: the error (%d bytes) is not one safe line", name, len(msg))
			}
			return
		}
		out := w.String()
		if w.writes != 1 {
			t.Errorf("%q: %d writes, want 1", name, w.writes)
		}
		if !utf8.ValidString(out) || strings.ContainsFunc(out, unsafeRune) || !strings.HasSuffix(out, "\n") {
			t.Fatalf("%q: the output (%d bytes) holds a control or invalid UTF-8, or does not end its line", name, len(out))
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		same := func(what, got, want string) {
			if got != want {
				t.Errorf("%q: %s reads back as %d bytes, want %d", name, what, len(got), len(want))
			}
		}
		expiresAt := time.Unix(expires, 0).UTC().Format(time.RFC3339)
		switch name {
		case Token, "":
			if len(lines) != 1 {
				t.Fatalf("%q: %d lines", name, len(lines))
			}
			same("the token", lines[0], token)
		case Header:
			if len(lines) != 1 {
				t.Fatalf("%q: %d lines", name, len(lines))
			}
			same("the header", lines[0], "Authorization: Bearer "+token)
		case Curl:
			headers := curlHeaders(t, out)
			if len(headers) != 4 {
				t.Fatalf("%q: %d headers", name, len(headers))
			}
			same("the Authorization header", headers[0], "Authorization: Bearer "+token)
			same("the Akiflow-Client-Id header", headers[1], "Akiflow-Client-Id: "+clientID)
			for i, h := range headers[2:] {
				if k, v, _ := strings.Cut(h, ": "); k != []string{"Akiflow-Platform", "Akiflow-Version"}[i] || !ValidHeaderWord(v) ||
					v != orDefault([]string{platform, appVersion}[i], v) {
					t.Errorf("%q: header %d is %q", name, i+2, h)
				}
			}
		case JSON:
			var got struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresAt   string `json:"expires_at"`
				ExpiresIn   int64  `json:"expires_in"`
				Email       string `json:"email"`
				ClientID    string `json:"client_id"`
			}
			decodeStrict(t, out, &got)
			same("access_token", got.AccessToken, token)
			same("token_type", got.TokenType, "Bearer")
			same("expires_at", got.ExpiresAt, expiresAt)
			same("email", got.Email, email)
			same("client_id", got.ClientID, clientID)
			// Whole seconds on both sides, rounded down and capped as a
			// Duration is; far times wrap inside package time, so only
			// the sign is checked there.
			if got.ExpiresIn < 0 {
				t.Errorf("%q: expires_in %d", name, got.ExpiresIn)
			}
			const far = 1e12
			if -far < expires && expires < far && -far < now && now < far {
				if want := min(max(0, expires-now), int64(time.Duration(1<<63-1)/time.Second)); got.ExpiresIn != want {
					t.Errorf("%q: expires_in %d, want %d", name, got.ExpiresIn, want)
				}
			}
		case ExecCredential:
			var got struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Status     struct {
					Token               string `json:"token"`
					ExpirationTimestamp string `json:"expirationTimestamp"`
				} `json:"status"`
			}
			decodeStrict(t, out, &got)
			same("apiVersion", got.APIVersion, orDefault(apiVersion, ExecV1))
			same("kind", got.Kind, "ExecCredential")
			same("the token", got.Status.Token, token)
			same("expirationTimestamp", got.Status.ExpirationTimestamp, expiresAt)
		case "git", "git-bearer":
			want := []string{"username=" + email, "password=" + token, "password_expiry_utc=" + strconv.FormatInt(expires, 10)}
			if name == "git-bearer" {
				want = []string{"capability[]=authtype", "authtype=Bearer", "credential=" + token, "ephemeral=1", want[2]}
			}
			if len(lines) != len(want) {
				t.Fatalf("%q: %d lines, want %d", name, len(lines), len(want))
			}
			for i := range want {
				same("line "+strconv.Itoa(i+1), lines[i], want[i])
			}
		default:
			t.Errorf("%q: an unknown format printed %d bytes", name, len(out))
		}
	})
}

// decodeStrict parses out as one JSON object with no unknown field.
func decodeStrict(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("the output (%d bytes) does not parse back: %v", len(out), err)
	}
	if dec.More() {
		t.Fatalf("the output (%d bytes) holds more than one value", len(out))
	}
}
