package helper

import (
	"os"
	"testing"
	"time"

	"github.com/adrg/xdg"
)

// The cache hit follows the injected clock: a token is good while it has
// --min-ttl left, and the default account is the one logged in last.
func TestCachedFollowsTheClock(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	xdg.Reload()
	t.Cleanup(xdg.Reload)
	issued := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	now := issued
	h, err := New(Config{BaseURL: "http://127.0.0.1:1", MinTTL: 5 * time.Minute, Timeout: time.Second,
		Stderr: os.Stderr, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{Format: sessionFormat, Email: "a@b.c", ClientID: newClientID(),
		AccessToken: "a.b.c", RefreshToken: "def50200", ExpiresAt: issued.Add(30 * time.Minute)}
	if err := h.store.Write(s.Email, s.marshal()); err != nil {
		t.Fatal(err)
	}
	h.store.Write(currentRecord, []byte("a@b.c\n"))

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
