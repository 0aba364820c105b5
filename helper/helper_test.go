package helper

import (
	"os"
	"strings"
	"testing"
	"time"
)

// The cache hit follows the injected clock: a token is good while it has
// --min-ttl left, and the default account is the one logged in last.
func TestCachedFollowsTheClock(t *testing.T) {
	issued := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	now := issued
	h, err := New(Config{BaseURL: "http://127.0.0.1:1", MinTTL: 5 * time.Minute, Timeout: time.Second,
		Stderr: os.Stderr, Now: func() time.Time { return now }}, newMemStore())
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{Format: sessionFormat, Email: "a@b.c", ClientID: newClientID(),
		AccessToken: "a.b.c", RefreshToken: "def50200", ExpiresAt: issued.Add(30 * time.Minute)}
	if err := h.save(s); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		after time.Duration
		hit   bool
	}{
		{0, true},
		{24 * time.Minute, true},
		{25 * time.Minute, true}, // exactly --min-ttl left
		{25*time.Minute + time.Second, false},
		{31 * time.Minute, false},
	} {
		now = issued.Add(tc.after)
		if _, ok := h.Cached(); ok != tc.hit {
			t.Errorf("%s after issue: cache hit %v, want %v", tc.after, ok, tc.hit)
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{"123456": "123456", " 123 456 ": "123456", "123-456": "123456"} {
		if got, ok := NormalizeCode(in); !ok || got != want {
			t.Errorf("NormalizeCode(%q) = %q, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12a456", "１２３４５６"} {
		if _, ok := NormalizeCode(bad); ok {
			t.Errorf("NormalizeCode(%q) accepted", bad)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	for _, good := range []string{"a@b.c", "bob+work@example.org"} {
		if err := CheckEmail(good); err != nil {
			t.Errorf("CheckEmail(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "a", "@b", "a@", "a b@c.d", "a@b.c\n", "a/b@c.d", strings.Repeat("a", 250) + "@b.cd"} {
		if CheckEmail(bad) == nil {
			t.Errorf("CheckEmail(%q) accepted", bad)
		}
	}
}

func TestParseBaseURL(t *testing.T) {
	for _, good := range []string{"https://web.akiflow.com", "https://staging.example.com/", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"} {
		if _, err := ParseBaseURL(good); err != nil {
			t.Errorf("ParseBaseURL(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "web.akiflow.com", "http://web.akiflow.com", "ftp://x", "https://u:p@x", "https://x?q=1", "http://127.0.0.1.evil.com"} {
		if _, err := ParseBaseURL(bad); err == nil {
			t.Errorf("ParseBaseURL(%q) accepted", bad)
		}
		if bad == "" {
			continue // Config's empty base URL is the default one
		}
		cfg := Config{BaseURL: bad, Source: func(flag string) string { return "AKIFLOW_" + strings.ToUpper(flag) }}
		if _, err := cfg.AuthHost(); ExitCode(err) != ExitUsage || !strings.HasPrefix(err.Error(), "AKIFLOW_BASE-URL ") {
			t.Errorf("AuthHost of %q: got %v, want a usage error naming where it came from", bad, err)
		}
	}
}

func TestGitHostMustBeADNSName(t *testing.T) {
	h, err := New(Config{BaseURL: "https://web.akiflow.com", Timeout: time.Second, MinTTL: time.Minute}, newMemStore())
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"web.akiflow.com":           true,
		"api.akiflow.com:443":       true,
		"akiflow.com":               true,
		"evil.com/.akiflow.com":     false,
		"evil.com#.akiflow.com":     false,
		"evil.com\\.akiflow.com":    false,
		"evil.com?.akiflow.com":     false,
		"evil.com@.akiflow.com":     false,
		"evil.com .akiflow.com":     false,
		"x.akiflow.com:":            false,
		"x.akiflow.com:44a":         false,
		"x.akiflow.com\u202e":       false,
		"evilakiflow.com":           false,
		"web.akiflow.com.evil.test": false,
	} {
		if got := h.isAkiflow(&GitRequest{Protocol: "https", Host: host}); got != want {
			t.Errorf("isAkiflow(https://%s) = %v, want %v", host, got, want)
		}
	}
}

func TestCheckEmailRefusesInvisibleCharacters(t *testing.T) {
	for _, bad := range []string{"a\u202e@b.c", "a\u200b@b.c", "a\u009b@b.c", "a\x7f@b.c", "a@b.c\ufeff", "a\xff@b.c",
		"bob\u2060@b.c", "bob\u00ad@b.c", "bob\U000E0041@b.c", "bob\ufe0f@b.c", "bob\u2028@b.c", "bob\u206a@b.c"} {
		if CheckEmail(bad) == nil {
			t.Errorf("CheckEmail(%q) accepted", bad)
		}
	}
	if err := CheckEmail("jürgen@exämple.de"); err != nil {
		t.Errorf("CheckEmail of an international address: %v", err)
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
