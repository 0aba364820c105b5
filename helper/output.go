package helper

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Output formats of the default command.
const (
	FormatToken  = "token"  // the token and a newline
	FormatHeader = "header" // an HTTP Authorization header line
	FormatJSON   = "json"   // an object with the token and its expiry
)

// Formats lists the output formats, for --help and validation.
var Formats = []string{FormatToken, FormatHeader, FormatJSON}

// Write prints s's access token on w in the given format, in one write.
func Write(w io.Writer, format string, s *Session, now time.Time) error {
	var out []byte
	switch format {
	case FormatToken:
		out = []byte(s.AccessToken + "\n")
	case FormatHeader:
		out = []byte("Authorization: Bearer " + s.AccessToken + "\n")
	case FormatJSON:
		data, err := json.MarshalIndent(struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresAt   string `json:"expires_at"`
			ExpiresIn   int64  `json:"expires_in"`
			Email       string `json:"email"`
		}{s.AccessToken, "Bearer", s.ExpiresAt.UTC().Format(time.RFC3339), int64(max(0, s.ExpiresAt.Sub(now)) / time.Second), s.Email}, "", "  ")
		if err != nil {
			return err
		}
		out = append(data, '\n')
	default:
		return UsageError("unknown output format %q", format)
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("could not write the token: %w", err)
	}
	return nil
}
