package format

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckEmail(t *testing.T) {
	for _, good := range []string{"a@b.c", "bob+work@example.org", "jürgen@exämple.de"} {
		if err := CheckEmail(good); err != nil {
			t.Errorf("CheckEmail(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "a", "@b", "a@", "a b@c.d", "a@b.c\n", "a/b@c.d", `a\b@c.d`, "-e@x.y", "=a@b.c",
		strings.Repeat("a", 250) + "@b.cd",
		// Invisible or reordering characters: an address that looks like
		// another one.
		"a\u202e@b.c", "a\u200b@b.c", "a\u009b@b.c", "a\x7f@b.c", "a@b.c\ufeff", "a\xff@b.c",
		"bob\u2060@b.c", "bob\u00ad@b.c", "bob\U000E0041@b.c", "bob\ufe0f@b.c", "bob\u2028@b.c", "bob\u206a@b.c"} {
		if CheckEmail(bad) == nil {
			t.Errorf("CheckEmail(%q) accepted", bad)
		}
	}
}

func TestSafeText(t *testing.T) {
	for in, want := range map[string]string{
		"plain words\n":         "plain words\n",
		"\x1b[2Jcleared":        "?[2Jcleared",
		"csi\u009b31m":          "csi?31m",
		"\u202egnp.exe":         "?gnp.exe",
		"zero\u200bwidth":       "zero?width",
		"bad \xff utf8":         "bad ? utf8",
		"tab\tand\rreturn":      "tab?and?return",
		"jürgen@exämple.de 🙂\n": "jürgen@exämple.de 🙂\n",
		"word\u2060joiner":      "word?joiner",
		"soft\u00adhyphen":      "soft?hyphen",
		"tag\U000E0041s":        "tag?s",
	} {
		if got := SafeText(in); got != want {
			t.Errorf("SafeText(%q) = %q, want %q", in, got, want)
		}
	}
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
		if line := OneLine(s); strings.ContainsFunc(line, unsafeRune) || strings.Contains(line, "\n") {
			t.Errorf("OneLine(%q) = %q is not one safe line", s, line)
		}
	})
}
