package format

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// unsafeRune says r could move the cursor, change a terminal's state, or
// hide or reorder text: every control (C0 but the line break, DEL, C1),
// every format character, the line and paragraph separators, private use
// characters and the variation selectors. A copy of package helper's.
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

// OneLine keeps outside text (git's, kubectl's) to one short, safe line
// for a message.
func OneLine(s string) string {
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

// CheckEmail refuses what cannot be an email before any request is sent,
// or be printed as a git username or a JSON field: spaces, controls,
// invisible characters, slashes, invalid UTF-8, a leading "=" or "-" (a
// flag's value taken for the email), no "@".
func CheckEmail(email string) error {
	at := strings.LastIndexByte(email, '@')
	switch {
	case len(email) > 254:
		return errors.New("the email is too long")
	case strings.ContainsFunc(email, func(r rune) bool { return r <= ' ' || unsafeRune(r) }):
		return fmt.Errorf("the email %q has spaces, control or invisible characters", email)
	case strings.ContainsAny(email, "/\\"):
		return fmt.Errorf("the email %q has a slash", email)
	case !utf8.ValidString(email):
		return errors.New("the email is not valid UTF-8")
	case email != "" && (email[0] == '=' || email[0] == '-'):
		return fmt.Errorf("%q starts with %q: give the address alone, as -e you@example.com", email, email[:1])
	case at <= 0 || at == len(email)-1:
		return fmt.Errorf("%q is not an email address", email)
	}
	return nil
}

// ValidClientID accepts what akiflow-token makes (a UUID) and what may
// safely reach a header: a short word of letters, digits and hyphens, or
// nothing.
func ValidClientID(id string) bool {
	return id == "" || len(id) <= 64 && !strings.ContainsFunc(id, func(r rune) bool {
		return !(r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	})
}

// ValidHeaderWord accepts what may go in Akiflow-Version and
// Akiflow-Platform: a short word of letters, digits, dots and hyphens.
func ValidHeaderWord(s string) bool {
	return s != "" && len(s) <= 32 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '.' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	})
}

// SafeText replaces what could move a terminal's cursor, change its state,
// or hide or reorder text (unsafeRune), and invalid UTF-8, with "?": text
// from the server, the disk or the environment reaches a terminal only
// through it.
func SafeText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
