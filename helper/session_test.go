package helper

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/store/memstore"
)

// The unit tests of the session record: what ParseSession accepts, how new
// tokens are taken in, and what the flow does with a record it cannot use.

func TestParseSession(t *testing.T) {
	good := Session{Format: sessionFormat, Email: "a@b.c", ClientID: newClientID(), AccessToken: "a.b.c",
		RefreshToken: "def50200", ExpiresAt: flowT0, Lifetime: 1800, Generation: 3, LoggedInAt: flowT0}
	s, err := ParseSession(good.marshal())
	if err != nil {
		t.Fatalf("ParseSession of a saved session: %v", err)
	}
	if d := sessionDiff(s, &good); d != "" || s.Lifetime != good.Lifetime || s.Generation != good.Generation || !s.LoggedInAt.Equal(good.LoggedInAt) {
		t.Errorf("the round trip: %s; lifetime %d, generation %d, logged in at %s", d, s.Lifetime, s.Generation, s.LoggedInAt)
	}
	loggedOut := good
	loggedOut.forget()
	if _, err := ParseSession(loggedOut.marshal()); err != nil {
		t.Errorf("ParseSession of a logged-out session: %v", err)
	}

	for _, tc := range []struct {
		name  string
		edit  func(*Session)
		newer bool
	}{
		{"a newer format", func(s *Session) { s.Format = sessionFormat + 1 }, true},
		{"no format", func(s *Session) { s.Format = 0 }, false},
		{"no email", func(s *Session) { s.Email = "" }, false},
		{"not an email", func(s *Session) { s.Email = "a b@c.d" }, false},
		{"a token without expiry", func(s *Session) { s.ExpiresAt = time.Time{} }, false},
		{"an access token with a line break", func(s *Session) { s.AccessToken = "a.b\nc" }, false},
		{"a client id with a line break", func(s *Session) { s.ClientID = "x\ny" }, false},
		{"too long an access token", func(s *Session) { s.AccessToken = strings.Repeat("a", akiflow.MaxTokenSize+1) }, false},
	} {
		bad := good
		tc.edit(&bad)
		_, err := ParseSession(bad.marshal())
		if err == nil || errors.Is(err, errNewerFormat) != tc.newer || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSession of %s: %v; want a one-line error, of a newer format: %v", tc.name, err, tc.newer)
		}
	}
	for _, bad := range []string{"", "null", "[]", `{"format":1}`, "not JSON"} {
		if _, err := ParseSession([]byte(bad)); err == nil {
			t.Errorf("ParseSession(%q) accepted", bad)
		}
	}
}

// apply takes in new tokens: a reply without a refresh token keeps ours,
// one without an access token leaves none, and the expiry is rounded down.
func TestSessionApply(t *testing.T) {
	s := Session{AccessToken: "old.access", RefreshToken: "old-refresh", ExpiresAt: flowT0, Lifetime: 60}
	s.apply(&akiflow.Tokens{AccessToken: "new.access", ExpiresAt: flowT0.Add(30*time.Minute + 999*time.Millisecond), Lifetime: 1800 * time.Second})
	if s.AccessToken != "new.access" || s.RefreshToken != "old-refresh" || !s.ExpiresAt.Equal(flowT0.Add(30*time.Minute)) || s.Lifetime != 1800 {
		t.Errorf("after a reply without a refresh token: new access token %v, refresh token kept %v, expires %s, lifetime %d",
			s.AccessToken == "new.access", s.RefreshToken == "old-refresh", s.ExpiresAt, s.Lifetime)
	}
	if s.ExpiresAt.Location() != time.UTC {
		t.Errorf("the expiry is in %s, want UTC", s.ExpiresAt.Location())
	}
	s.apply(&akiflow.Tokens{RefreshToken: "new-refresh", ExpiresAt: flowT0, Lifetime: time.Minute})
	if s.AccessToken != "" || s.RefreshToken != "new-refresh" || !s.ExpiresAt.IsZero() || s.Lifetime != 0 {
		t.Errorf("after a reply without an access token: access token %v, new refresh token %v, expires %s, lifetime %d",
			s.AccessToken != "", s.RefreshToken == "new-refresh", s.ExpiresAt, s.Lifetime)
	}
	s.ClientID, s.Email = "id", "a@b.c"
	s.forget()
	if s.hasTokens() || s.ClientID != "id" || s.Email != "a@b.c" {
		t.Errorf("forget: tokens %v, client id %q, email %q", s.hasTokens(), s.ClientID, s.Email)
	}
}

// The effective MinTTL is at most half the token's lifetime.
func TestMinTTLIsAtMostHalfTheLifetime(t *testing.T) {
	c := (&Helper{}).newCall(Request{MinTTL: 5 * time.Minute})
	if got := c.minTTL(nil); got != 5*time.Minute {
		t.Errorf("minTTL without a session: %s, want the request's", got)
	}
	for lifetime, want := range map[int64]time.Duration{
		0:    5 * time.Minute, // unknown: the request's
		1800: 5 * time.Minute,
		600:  5 * time.Minute,
		60:   30 * time.Second,
		1:    500 * time.Millisecond,
	} {
		if got := c.minTTL(&Session{Lifetime: lifetime}); got != want {
			t.Errorf("minTTL with a lifetime of %d s: %s, want %s", lifetime, got, want)
		}
	}
}

func TestNewClientID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id := newClientID()
		if !uuid.MatchString(id) || seen[id] {
			t.Fatalf("newClientID() = %q: not a new version 4 UUID", id)
		}
		seen[id] = true
	}
}

// A record from a newer akiflow-token is an error, and is never
// overwritten; one that cannot be used is no session, with one warning
// per call however often it is read.
func TestTokenWithARecordItCannotUse(t *testing.T) {
	t.Run("newer", func(t *testing.T) {
		f := newFlow(t, nil)
		f.withTerminal(f.theCode)
		newer := []byte(`{"format":99,"email":"ada@example.com"}`)
		f.store.Put(flowEmail, newer)
		got, err := f.token()
		wantExit(t, "Token", got, err, ExitFailure, "memory:"+flowEmail+" was written by a newer akiflow-token")
		if data, _ := f.store.Record(flowEmail); string(data) != string(newer) {
			t.Errorf("the newer record was overwritten")
		}
		if n := f.lockings(); n != 0 || f.opens != 0 {
			t.Errorf("locks %d, terminal openings %d; want 0, 0", n, f.opens)
		}
		_, err = f.h.Status(f.req)
		if !errors.Is(err, errNewerFormat) {
			t.Errorf("Status: %v, want the newer format", err)
		}
		res, err := f.h.Logout(f.req, false)
		if !errors.Is(err, errNewerFormat) || len(res.Accounts) != 0 {
			t.Errorf("Logout: %+v, %v; want nothing logged out and the newer format", res, err)
		}
		if data, _ := f.store.Record(flowEmail); string(data) != string(newer) {
			t.Errorf("the newer record was overwritten")
		}
		f.wantRequests(nil)
		f.wantStderr()
	})
	t.Run("unusable", func(t *testing.T) {
		f := newFlow(t, nil)
		f.withTerminal(f.theCode)
		f.store.Put(flowEmail, []byte("not JSON"))
		got, err := f.token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		f.wantRequests(loggedIn)
		wantSession(t, "stored (vs the login's)", f.stored(), got)
		f.wantStderr("akiflow-token: warning: ignoring memory:"+flowEmail+": not a valid session file", "logged in as "+flowEmail)
	})
}

// unsafeStore is a memstore whose record name is refused (its error has an
// Unsafe method, as a file another user owns does), or fails to be read
// (err, as an I/O error).
type unsafeStore struct {
	*memstore.Store
	name   string
	unsafe bool
}

type readError struct{ unsafe bool }

func (e readError) Error() string {
	if e.unsafe {
		return "the record is not safe to use"
	}
	return "the record could not be read"
}
func (e readError) Unsafe() bool { return e.unsafe }

func (s unsafeStore) Read(name string) ([]byte, error) {
	if name == s.name {
		return nil, readError{s.unsafe}
	}
	return s.Store.Read(name)
}

// A record the store refuses is an error, never overwritten; one it fails
// to read is no session, with a warning.
func TestTokenWithARecordTheStoreRefuses(t *testing.T) {
	for _, unsafe := range []bool{true, false} {
		t.Run(fmt.Sprintf("unsafe %v", unsafe), func(t *testing.T) {
			f := newFlow(t, nil)
			old := f.seed(-time.Minute)
			store := unsafeStore{f.store, flowEmail, unsafe}
			h, err := New(Config{BaseURL: f.srv.URL, Timeout: 2 * time.Second, Stderr: f.stderr, Now: func() time.Time { return f.now }},
				func(string) Store { return store })
			if err != nil {
				t.Fatal(err)
			}
			h.refresher = inProcess
			f.h = h
			got, err := f.token()
			if unsafe {
				wantExit(t, "Token", got, err, ExitFailure, "not safe to use")
				f.wantStderr()
			} else {
				wantExit(t, "Token", got, err, ExitLoginNeeded, "no terminal")
				f.wantStderr("akiflow-token: warning: the record could not be read; treating it as no session")
			}
			wantSession(t, "stored", f.stored(), old)
			f.wantRequests(nil)
		})
	}
}
