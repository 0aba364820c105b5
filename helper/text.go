package helper

import (
	"io"

	"akiflow-token/helper/format"
)

// CheckEmail refuses what cannot be an email before any request is sent
// (format.CheckEmail).
func CheckEmail(email string) error { return format.CheckEmail(email) }

// safeWriter passes what is written through format.SafeText: text from the
// server, the disk or the environment reaches a terminal only through it
// (a C1 control, an escape sequence, a bidi override or a zero-width
// character could rewrite or hide what the person reads), and every
// message of a Helper reaches stderr through one.
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(s.w, format.SafeText(string(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// oneLine keeps outside text to one short line for a message.
func oneLine(s string) string { return format.OneLine(s) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
