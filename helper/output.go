package helper

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"akiflow-token/helper/akiflow"
)

// Output formats of the default command.
const (
	FormatToken          = "token"           // the token and a newline
	FormatHeader         = "header"          // an HTTP Authorization header line
	FormatJSON           = "json"            // an object with the token and its expiry
	FormatCurl           = "curl"            // a curl config, for curl -K -
	FormatExecCredential = "exec-credential" // a Kubernetes ExecCredential
)

// Formats lists the output formats.
var Formats = []string{FormatToken, FormatHeader, FormatJSON, FormatCurl, FormatExecCredential}

// Write prints s's access token on w in the format the helper was set up
// with, in one write.
func (h *Helper) Write(w io.Writer, s *Session) error {
	// Every format carries the token, the email or the client id into
	// what a shell, curl, git or kubectl parses: none may break a line.
	// They were checked on arrival; this is the last line of defence.
	if err := akiflow.CheckAccessToken(s.AccessToken); err != nil {
		return fmt.Errorf("refusing to print the access token: %v", err)
	}
	if CheckEmail(s.Email) != nil || !validClientID(s.ClientID) {
		return errors.New("refusing to print a session whose email or client id is not printable")
	}
	var out []byte
	switch h.cfg.Output {
	case FormatToken, "":
		out = []byte(s.AccessToken + "\n")
	case FormatHeader:
		out = []byte("Authorization: Bearer " + s.AccessToken + "\n")
	case FormatJSON:
		out = marshalLine(struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresAt   string `json:"expires_at"`
			ExpiresIn   int64  `json:"expires_in"`
			Email       string `json:"email"`
			ClientID    string `json:"client_id"`
		}{s.AccessToken, "Bearer", rfc3339(s.ExpiresAt), int64(max(0, s.ExpiresAt.Sub(h.now())) / time.Second), s.Email, s.ClientID})
	case FormatCurl:
		var b strings.Builder
		for _, header := range []string{
			"Authorization: Bearer " + s.AccessToken,
			"Akiflow-Client-Id: " + s.ClientID,
			"Akiflow-Platform: " + h.cfg.Platform,
			"Akiflow-Version: " + h.cfg.AppVersion,
		} {
			b.WriteString("header = " + CurlQuote(header) + "\n")
		}
		out = []byte(b.String())
	case FormatExecCredential:
		type status struct {
			Token               string `json:"token"`
			ExpirationTimestamp string `json:"expirationTimestamp"`
		}
		out = marshalLine(struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Status     status `json:"status"`
		}{h.execInfo.APIVersion, "ExecCredential", status{s.AccessToken, rfc3339(s.ExpiresAt)}})
	default:
		return UsageError("unknown output format %q", h.cfg.Output)
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("could not write the token: %w", err)
	}
	return nil
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func marshalLine(v any) []byte {
	data, _ := json.MarshalIndent(v, "", "  ") // plain structs: cannot fail
	return append(data, '\n')
}

// CurlQuote quotes s as curl's config file wants a double-quoted value:
// backslash escapes for \, ", and control characters.
func CurlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\v':
			b.WriteString(`\v`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Kubernetes exec credential API versions.
const (
	execV1      = "client.authentication.k8s.io/v1"
	execV1beta1 = "client.authentication.k8s.io/v1beta1"
)

// ExecInfo is what kubectl says in KUBERNETES_EXEC_INFO.
type ExecInfo struct {
	APIVersion  string
	Interactive bool
}

// ParseExecInfo parses KUBERNETES_EXEC_INFO. Empty (an older caller) means
// v1, interactive if there is a terminal.
func ParseExecInfo(env string) (*ExecInfo, error) {
	if strings.TrimSpace(env) == "" {
		return &ExecInfo{APIVersion: execV1, Interactive: true}, nil
	}
	var in struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Interactive *bool `json:"interactive"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(env), &in); err != nil {
		return nil, errors.New("KUBERNETES_EXEC_INFO is not valid JSON")
	}
	if in.APIVersion != execV1 && in.APIVersion != execV1beta1 {
		return nil, fmt.Errorf("KUBERNETES_EXEC_INFO asks for apiVersion %q; akiflow-token speaks %s and %s", oneLine(in.APIVersion), execV1, execV1beta1)
	}
	if in.Kind != "ExecCredential" {
		return nil, fmt.Errorf("KUBERNETES_EXEC_INFO has kind %q, not ExecCredential", oneLine(in.Kind))
	}
	info := &ExecInfo{APIVersion: in.APIVersion, Interactive: true}
	if in.Spec.Interactive != nil {
		info.Interactive = *in.Spec.Interactive
	}
	return info, nil
}
