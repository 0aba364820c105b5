package format

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"akiflow-token/helper/akiflow"
)

// A fake JWT, as the script tests use: never a real one.
const tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"

var alice = Credential{
	AccessToken: tok,
	ExpiresAt:   time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
	Email:       "alice@example.com",
	ClientID:    "0f5e2a1c-3b4d-4e6f-8a9b-0c1d2e3f4a5b",
	Platform:    "web",
	AppVersion:  "2.69.3",
}

// An hour and a half second before alice's token expires: expires_in
// counts whole seconds, rounded down.
var aliceNow = time.Date(2098, 12, 31, 23, 0, 0, 5e8, time.UTC)

// redact hides the test token in what a failure prints.
func redact(s string) string {
	return strings.ReplaceAll(s, tok, fmt.Sprintf("<token, %d bytes>", len(tok)))
}

// countingWriter records each write, to check that an output is one.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func (w *countingWriter) WriteString(s string) (int, error) {
	w.writes++
	return w.Buffer.WriteString(s)
}

func with(c Credential, edit func(*Credential)) Credential {
	edit(&c)
	return c
}

func TestWrite(t *testing.T) {
	const aliceJSON = `{
  "access_token": "` + tok + `",
  "token_type": "Bearer",
  "expires_at": "2099-01-01T00:00:00Z",
  "expires_in": 3599,
  "email": "alice@example.com",
  "client_id": "0f5e2a1c-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
}
`
	execCredential := func(apiVersion string) string {
		return `{
  "apiVersion": "` + apiVersion + `",
  "kind": "ExecCredential",
  "status": {
    "token": "` + tok + `",
    "expirationTimestamp": "2099-01-01T00:00:00Z"
  }
}
`
	}
	curl := func(platform, version string) string {
		return `header = "Authorization: Bearer ` + tok + `"
header = "Akiflow-Client-Id: 0f5e2a1c-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
header = "Akiflow-Platform: ` + platform + `"
header = "Akiflow-Version: ` + version + `"
`
	}
	for _, tc := range []struct {
		desc, name string
		c          Credential
		now        time.Time
		want       string
	}{
		{"token", Token, alice, aliceNow, tok + "\n"},
		{"empty name means token", "", alice, aliceNow, tok + "\n"},
		{"header", Header, alice, aliceNow, "Authorization: Bearer " + tok + "\n"},
		{"json", JSON, alice, aliceNow, aliceJSON},
		{"json after expiry", JSON, alice, alice.ExpiresAt.Add(time.Hour), strings.Replace(aliceJSON, `"expires_in": 3599`, `"expires_in": 0`, 1)},
		{"json at expiry", JSON, alice, alice.ExpiresAt, strings.Replace(aliceJSON, `"expires_in": 3599`, `"expires_in": 0`, 1)},
		{"json in UTC", JSON, with(alice, func(c *Credential) { c.ExpiresAt = c.ExpiresAt.In(time.FixedZone("CET", 3600)) }), aliceNow, aliceJSON},
		{"json drops fractions of a second", JSON, with(alice, func(c *Credential) { c.ExpiresAt = c.ExpiresAt.Add(999 * time.Millisecond) }), aliceNow.Add(5e8), aliceJSON},
		{"json without client id", JSON, with(alice, func(c *Credential) { c.ClientID = "" }), aliceNow, strings.Replace(aliceJSON, `"client_id": "0f5e2a1c-3b4d-4e6f-8a9b-0c1d2e3f4a5b"`, `"client_id": ""`, 1)},
		{"json escapes HTML characters as encoding/json does", JSON, with(alice, func(c *Credential) { c.Email = "a<b>&c@example.com" }), aliceNow, strings.Replace(aliceJSON, "alice@example.com", `a\u003cb\u003e\u0026c@example.com`, 1)},
		{"json keeps an international email", JSON, with(alice, func(c *Credential) { c.Email = "jürgen@exämple.de" }), aliceNow, strings.Replace(aliceJSON, "alice@example.com", "jürgen@exämple.de", 1)},
		{"curl", Curl, alice, aliceNow, curl("web", "2.69.3")},
		{"curl with other client headers", Curl, with(alice, func(c *Credential) { c.Platform, c.AppVersion = "mac", "3.0.0-beta.1" }), aliceNow, curl("mac", "3.0.0-beta.1")},
		{"curl with Akiflow's client headers by default", Curl, with(alice, func(c *Credential) { c.Platform, c.AppVersion = "", "" }), aliceNow, curl(akiflow.Platform, akiflow.AppVersion)},
		{"exec-credential: v1 by default", ExecCredential, alice, aliceNow, execCredential(ExecV1)},
		{"exec-credential v1", ExecCredential, with(alice, func(c *Credential) { c.ExecAPIVersion = ExecV1 }), aliceNow, execCredential(ExecV1)},
		{"exec-credential v1beta1", ExecCredential, with(alice, func(c *Credential) { c.ExecAPIVersion = ExecV1beta1 }), aliceNow, execCredential(ExecV1beta1)},
	} {
		var w countingWriter
		if err := Write(&w, tc.name, tc.c, tc.now); err != nil {
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
}

func TestWriteRefuses(t *testing.T) {
	const (
		badToken  = "refusing to print the access token: "
		badPerson = "refusing to print a session whose email or client id is not printable"
	)
	for _, tc := range []struct {
		desc, name string
		c          Credential
		want       string // the error's start
	}{
		{"an empty token", Token, with(alice, func(c *Credential) { c.AccessToken = "" }), badToken + "it is empty"},
		{"a token with a line break", Token, with(alice, func(c *Credential) { c.AccessToken = "x\nprotocol=https" }), badToken},
		{"a token with a CR", Header, with(alice, func(c *Credential) { c.AccessToken = "x\rX-Evil: 1" }), badToken},
		{"a token with a NUL", JSON, with(alice, func(c *Credential) { c.AccessToken = "x\x00y" }), badToken},
		{"a token with a space", Curl, with(alice, func(c *Credential) { c.AccessToken = "x -K /etc/passwd" }), badToken},
		{"a token with a C1 control", Token, with(alice, func(c *Credential) { c.AccessToken = "x\u009b2Jy" }), badToken},
		{"a token with DEL", Token, with(alice, func(c *Credential) { c.AccessToken = "x\x7f" }), badToken},
		{"a token too long", ExecCredential, with(alice, func(c *Credential) { c.AccessToken = strings.Repeat("a", akiflow.MaxTokenSize+1) }), badToken},
		{"an empty email", Token, with(alice, func(c *Credential) { c.Email = "" }), badPerson},
		{"an email with a line break", Token, with(alice, func(c *Credential) { c.Email = "a@b.c\npassword=x" }), badPerson},
		{"an email with a space", JSON, with(alice, func(c *Credential) { c.Email = "a b@c.d" }), badPerson},
		{"an email with a bidi override", JSON, with(alice, func(c *Credential) { c.Email = "a\u202e@b.c" }), badPerson},
		{"an email with invalid UTF-8", JSON, with(alice, func(c *Credential) { c.Email = "a\xff@b.c" }), badPerson},
		{"an email with a slash", JSON, with(alice, func(c *Credential) { c.Email = "a/b@c.d" }), badPerson},
		{"an email that starts with =", Token, with(alice, func(c *Credential) { c.Email = "=a@b.c" }), badPerson},
		{"an email that starts with -", Token, with(alice, func(c *Credential) { c.Email = "-a@b.c" }), badPerson},
		{"an email without @", Token, with(alice, func(c *Credential) { c.Email = "alice" }), badPerson},
		{"an email too long", Token, with(alice, func(c *Credential) { c.Email = strings.Repeat("a", 250) + "@b.cd" }), badPerson},
		{"a client id with a quote", Curl, with(alice, func(c *Credential) { c.ClientID = `x"y` }), badPerson},
		{"a client id with a line break", Curl, with(alice, func(c *Credential) { c.ClientID = "x\ny" }), badPerson},
		{"a client id too long", Curl, with(alice, func(c *Credential) { c.ClientID = strings.Repeat("a", 65) }), badPerson},
		{"a client id not ASCII", Curl, with(alice, func(c *Credential) { c.ClientID = "é" }), badPerson},
		{"a platform with a line break", Curl, with(alice, func(c *Credential) { c.Platform = "web\nheader = x" }), "refusing to print a curl config"},
		{"a platform with a space", Curl, with(alice, func(c *Credential) { c.Platform = "web 2" }), "refusing to print a curl config"},
		{"an app version with an escape", Curl, with(alice, func(c *Credential) { c.AppVersion = "1\x1b[2J" }), "refusing to print a curl config"},
		{"an app version too long", Curl, with(alice, func(c *Credential) { c.AppVersion = strings.Repeat("1", 33) }), "refusing to print a curl config"},
		{"an unknown apiVersion", ExecCredential, with(alice, func(c *Credential) { c.ExecAPIVersion = "client.authentication.k8s.io/v2" }), `refusing to print an ExecCredential of apiVersion "client.authentication.k8s.io/v2"`},
		{"an apiVersion with a line break", ExecCredential, with(alice, func(c *Credential) { c.ExecAPIVersion = ExecV1 + "\n" }), `refusing to print an ExecCredential of apiVersion "client.authentication.k8s.io/v1"`},
		{"an unknown format", "yaml", alice, `unknown output format "yaml"`},
		{"a format in capitals", "TOKEN", alice, `unknown output format "TOKEN"`},
	} {
		var w countingWriter
		err := Write(&w, tc.name, tc.c, aliceNow)
		switch {
		case err == nil:
			t.Errorf("%s: printed (%d bytes)", tc.desc, w.Len())
			continue
		case !strings.HasPrefix(err.Error(), tc.want):
			t.Errorf("%s: error %q, want it to start with %q", tc.desc, redact(err.Error()), tc.want)
		case strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: a multi-line error %q", tc.desc, redact(err.Error()))
		}
		if strings.Contains(err.Error(), tok) {
			t.Errorf("%s: the error holds the token", tc.desc)
		}
		if w.writes != 0 {
			t.Errorf("%s: %d writes (%d bytes), want none", tc.desc, w.writes, w.Len())
		}
	}
	if err := Write(&bytes.Buffer{}, "yaml", alice, aliceNow); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("an unknown format: %v, want ErrUnknownFormat", err)
	}
	if err := Write(&bytes.Buffer{}, "", with(alice, func(c *Credential) { c.AccessToken = "" }), aliceNow); errors.Is(err, ErrUnknownFormat) {
		t.Errorf("a refused token says the format is unknown: %v", err)
	}
}

// Only the formats that print them check the client headers and the
// apiVersion.
func TestWriteChecksOnlyWhatItPrints(t *testing.T) {
	odd := with(alice, func(c *Credential) { c.Platform, c.AppVersion, c.ExecAPIVersion = "a b", "\n", "v2" })
	for _, name := range []string{Token, Header, JSON} {
		if err := Write(&bytes.Buffer{}, name, odd, aliceNow); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

var errBroken = errors.New("broken pipe")

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errBroken }

func TestWriteError(t *testing.T) {
	for _, name := range Names {
		err := Write(brokenWriter{}, name, alice, aliceNow)
		if !errors.Is(err, errBroken) || err.Error() != "could not write the token: broken pipe" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNames(t *testing.T) {
	want := []string{"token", "header", "json", "curl", "exec-credential"}
	if strings.Join(Names, ",") != strings.Join(want, ",") {
		t.Errorf("Names = %q, want %q", Names, want)
	}
	for _, name := range Names {
		if err := Write(&bytes.Buffer{}, name, alice, aliceNow); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCurlQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":                      `""`,
		"Authorization: Bearer": `"Authorization: Bearer"`,
		`a"b`:                   `"a\"b"`,
		`a\b`:                   `"a\\b"`,
		`\"`:                    `"\\\""`,
		"a\nb\rc\td\ve":         `"a\nb\rc\td\ve"`,
		"jürgen 🙂":              `"jürgen 🙂"`,
		// curl has no escape for other controls: they pass as they are.
		"a\fb\x1b":   "\"a\fb\x1b\"",
		"\xff\xfe":   "\"\xff\xfe\"", // bytes, as curl reads them
		"a\xc3":      "\"a\xc3\"",
		"\xc3\"":     "\"\xc3\\\"\"",
		"\u2028\x7f": "\"\u2028\x7f\"",
	} {
		if got := CurlQuote(in); got != want {
			t.Errorf("CurlQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
