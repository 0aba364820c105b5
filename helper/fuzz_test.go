package helper

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for every parser of outside input. Their seeds run in every
// go test; run one for longer with, for example:
//   go test ./helper -run '^$' -fuzz FuzzParseSession -fuzztime 2m

func FuzzParseSession(f *testing.F) {
	f.Add([]byte(`{"format":1,"email":"a@b.c","client_id":"x","access_token":"t","refresh_token":"r","expires_at":"2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"format":2,"email":"a@b.c"}`))
	f.Add([]byte(`{"format":1,"email":"a@b.c","expires_at":"not a time"}`))
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSession(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		// What parses survives a save and a load unchanged.
		again, err := ParseSession(s.marshal())
		if err != nil {
			t.Fatalf("a parsed session does not parse again: %v", err)
		}
		if !bytes.Equal(again.marshal(), s.marshal()) {
			t.Errorf("round trip changed the session")
		}
	})
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "123-456", "12345", "１２３４５６"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		code, ok := NormalizeCode(in)
		if ok && (len(code) != 6 || strings.Trim(code, "0123456789") != "") {
			t.Errorf("NormalizeCode(%q) = %q", in, code)
		}
	})
}

func FuzzParseGitRequest(f *testing.F) {
	f.Add("protocol=https\nhost=api.akiflow.com\nusername=a@b.c\n\n")
	f.Add("capability[]=authtype\ncapability[]=state\nwwwauth[]=Bearer realm=x\nprotocol=https\nhost=x\n")
	f.Add("no equals sign\n")
	f.Add("=value\n")
	f.Add("password=a\x00b\n")
	f.Fuzz(func(t *testing.T, in string) {
		req, err := ParseGitRequest(strings.NewReader(in))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		for _, v := range []string{req.Protocol, req.Host, req.Username, req.Password} {
			if strings.ContainsAny(v, "\n\x00") {
				t.Errorf("a value with a newline or NUL: %q", v)
			}
		}
	})
}

func FuzzParseExecInfo(f *testing.F) {
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true}}`)
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"cluster":{"server":"x"}}}`)
	f.Add(``)
	f.Add(`{`)
	f.Add(`{"apiVersion":"v2\n","kind":"ExecCredential"}`)
	f.Fuzz(func(t *testing.T, env string) {
		info, err := ParseExecInfo(env)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		if info.APIVersion != execV1 && info.APIVersion != execV1beta1 {
			t.Errorf("accepted apiVersion %q", info.APIVersion)
		}
	})
}

func FuzzCurlQuote(f *testing.F) {
	for _, s := range []string{"Authorization: Bearer a.b.c", `a"b\c`, "new\nline"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := CurlQuote(s)
		inner := q[1 : len(q)-1]
		// No raw newline, and every quote inside is escaped.
		if strings.ContainsAny(inner, "\n\r") {
			t.Errorf("CurlQuote(%q) = %q has a raw line break", s, q)
		}
		for i := 0; i < len(inner); i++ {
			if inner[i] == '\\' {
				i++
			} else if inner[i] == '"' {
				t.Errorf("CurlQuote(%q) = %q has an unescaped quote", s, q)
			}
		}
	})
}

func FuzzSafeText(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[2J", "\u009b31m", "\u202eabc", "a\u200bb", "\xff\xfe", "line\nbreak"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := SafeText(s)
		if strings.ContainsFunc(out, unsafeRune) || !utf8.ValidString(out) {
			t.Errorf("SafeText(%q) = %q still holds a control or invalid UTF-8", s, out)
		}
		if line := oneLine(s); strings.ContainsFunc(line, unsafeRune) || strings.Contains(line, "\n") {
			t.Errorf("oneLine(%q) = %q is not one safe line", s, line)
		}
	})
}
