package helper

import (
	"io"
	"strings"
	"unicode"
)

// Text from the server, the disk or the environment reaches a terminal
// only through SafeText: a C1 control (U+009B is ESC [ on many terminals),
// an escape sequence, a bidi override or a zero-width character could
// rewrite or hide what the person reads.

// unsafeRune says r could move the cursor, change the terminal's state, or
// hide or reorder text: every control (C0 but the line break, DEL, C1),
// every format character (zero-width ones, bidi marks, overrides and
// isolates, the soft hyphen, tags), the line and paragraph separators, and
// the variation selectors.
func unsafeRune(r rune) bool {
	switch {
	case r == '\n':
		return false
	case r < 0x80:
		return r < ' ' || r == 0x7f
	case r >= 0xfe00 && r <= 0xfe0f, r >= 0xe0100 && r <= 0xe01ef: // variation selectors
		return true
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co)
}

// SafeText replaces what unsafeRune refuses, and invalid UTF-8, with "?".
func SafeText(s string) string {
	if isValidUTF8(s) && !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "") == s }

// safeWriter passes what is written through SafeText: every message of a
// Helper reaches stderr through one.
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(s.w, SafeText(string(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// oneLine keeps outside text (git's, kubectl's) to one short line for a
// message.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unsafeRune(r) || r == '\n' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
