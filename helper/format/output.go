package format

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"akiflow-token/helper/akiflow"
)

// Output formats of the token, by the name -o takes.
const (
	Token          = "token"           // the token and a newline
	Header         = "header"          // an HTTP Authorization header line
	JSON           = "json"            // an object with the token and its expiry
	Curl           = "curl"            // a curl config, for curl -K -
	ExecCredential = "exec-credential" // a Kubernetes ExecCredential
)

// Names lists the output formats, in the order help shows them.
var Names = []string{Token, Header, JSON, Curl, ExecCredential}

// ErrUnknownFormat is wrapped by Write's error for a name that is not one
// of Names: the caller's mistake, not the token's.
var ErrUnknownFormat = errors.New("unknown output format")

// Credential is what an output format or a git answer may print.
type Credential struct {
	AccessToken string    // printable ASCII, as akiflow.CheckAccessToken wants
	ExpiresAt   time.Time // when AccessToken expires
	Email       string    // the account: an address, without spaces or controls
	ClientID    string    // Akiflow-Client-Id: letters, digits and hyphens, or empty

	// Platform and AppVersion are the Akiflow-Platform and Akiflow-Version
	// headers of -o curl; empty means akiflow.Platform and
	// akiflow.AppVersion.
	Platform, AppVersion string

	// ExecAPIVersion is the apiVersion of -o exec-credential, as
	// ParseExecInfo returned it; empty means ExecV1.
	ExecAPIVersion string
}

// check refuses a credential whose token, email or client id could break
// a line of what a shell, curl, git or kubectl parses. They were checked
// on arrival; this is the last line of defence.
func (c *Credential) check() error {
	if err := akiflow.CheckAccessToken(c.AccessToken); err != nil {
		return fmt.Errorf("refusing to print the access token: %v", err)
	}
	if CheckEmail(c.Email) != nil || !ValidClientID(c.ClientID) {
		return errors.New("refusing to print a session whose email or client id is not printable")
	}
	return nil
}

// Write prints c in the format name (one of Names; empty means Token) on
// w, in one write. now is the time expires_in counts from. It refuses,
// writing nothing, an unknown name, and a field of c that is not as
// Credential says or not printable in that format (a client header of
// -o curl, the apiVersion of -o exec-credential).
func Write(w io.Writer, name string, c Credential, now time.Time) error {
	if err := c.check(); err != nil {
		return err
	}
	var out []byte
	switch name {
	case Token, "":
		out = []byte(c.AccessToken + "\n")
	case Header:
		out = []byte("Authorization: Bearer " + c.AccessToken + "\n")
	case JSON:
		out = marshalLine(struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresAt   string `json:"expires_at"`
			ExpiresIn   int64  `json:"expires_in"`
			Email       string `json:"email"`
			ClientID    string `json:"client_id"`
		}{c.AccessToken, "Bearer", rfc3339(c.ExpiresAt), ExpiresIn(c, now), c.Email, c.ClientID})
	case Curl:
		platform, version := orDefault(c.Platform, akiflow.Platform), orDefault(c.AppVersion, akiflow.AppVersion)
		if !ValidHeaderWord(platform) || !ValidHeaderWord(version) {
			return errors.New("refusing to print a curl config whose Akiflow-Platform or Akiflow-Version is not a word of letters, digits, dots and hyphens")
		}
		var b strings.Builder
		for _, header := range []string{
			"Authorization: Bearer " + c.AccessToken,
			"Akiflow-Client-Id: " + c.ClientID,
			"Akiflow-Platform: " + platform,
			"Akiflow-Version: " + version,
		} {
			b.WriteString("header = " + CurlQuote(header) + "\n")
		}
		out = []byte(b.String())
	case ExecCredential:
		apiVersion := orDefault(c.ExecAPIVersion, ExecV1)
		if apiVersion != ExecV1 && apiVersion != ExecV1beta1 {
			return fmt.Errorf("refusing to print an ExecCredential of apiVersion %q; akiflow-token speaks %s and %s", OneLine(apiVersion), ExecV1, ExecV1beta1)
		}
		type status struct {
			Token               string `json:"token"`
			ExpirationTimestamp string `json:"expirationTimestamp"`
		}
		out = marshalLine(struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Status     status `json:"status"`
		}{apiVersion, "ExecCredential", status{c.AccessToken, rfc3339(c.ExpiresAt)}})
	default:
		return fmt.Errorf("%w %q", ErrUnknownFormat, name)
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("could not write the token: %w", err)
	}
	return nil
}

// ExpiresIn is the expires_in of -o json: the whole seconds c's token has
// left at now.
func ExpiresIn(c Credential, now time.Time) int64 {
	return int64(max(0, c.ExpiresAt.Sub(now)) / time.Second)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// marshalLine is indented JSON and a newline, HTML characters escaped as
// encoding/json does by default (what akiflow-token has always printed).
func marshalLine(v any) []byte {
	data, _ := json.MarshalIndent(v, "", "  ") // plain structs of strings: cannot fail
	return append(data, '\n')
}

// CurlQuote quotes s as a double-quoted value of curl's config file, on
// one line: a backslash before \ and ", and \t, \n, \r and \v for the
// controls curl has escapes for. Other bytes pass unchanged: curl has no
// escape for other controls, and a NUL ends the value, as curl reads C
// strings.
func CurlQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	// Bytes, not runes: curl reads bytes, and invalid UTF-8 must reach it
	// unchanged, not as U+FFFD. A UTF-8 sequence holds no ASCII byte, so
	// valid text is quoted as it was rune by rune.
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\v':
			b.WriteString(`\v`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
