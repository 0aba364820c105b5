package helper

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"akiflow-token/helper/store/memstore"
)

// Records from a newer akiflow-token: once archives of several versions
// exist, an older binary meets what a newer one wrote. It refuses it, in
// one line naming the record's format and its own and saying to upgrade,
// with exit 1 (any record it must not use: docs/commands.md), and nothing
// it does writes over it or removes it.

// newerRecords are records of format 2: one an older binary could read as
// its own, and one whose fields changed (which it cannot read at all).
var newerRecords = map[string]string{
	"same fields": `{"format":2,"email":"ada@example.com","base_url":"http://127.0.0.1:1","client_id":"0f5e2a1c-3b4d-4e6f-8a9b-0c1d2e3f4a5b",` +
		`"access_token":"a.b.c","refresh_token":"def50200","expires_at":"2099-01-01T00:00:00Z","passkey":"new in format 2"}`,
	"other fields": `{"format":2,"email":{"address":"ada@example.com"},"expires_at":4102444800,"tokens":["a.b.c","def50200"]}`,
}

// newerSays is what every refusal of a format-2 record says.
const newerSays = "was written by a newer akiflow-token (format 2; this one knows format 1); upgrade akiflow-token"

func TestParseSessionOfANewerFormat(t *testing.T) {
	for name, record := range newerRecords {
		_, err := ParseSession([]byte(record))
		if !errors.Is(err, errNewerFormat) || !strings.Contains(err.Error(), "(format 2; this one knows format 1); upgrade akiflow-token") ||
			strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSession of a newer record with %s: %v; want one line naming formats 2 and 1", name, err)
		}
	}
	// Not a newer format: damaged, as before.
	for _, bad := range []string{`{"format":1,"email":{"address":"ada@example.com"}}`, `{"format":"2","email":"a@b.c"}`, `{"format":2`} {
		if _, err := ParseSession([]byte(bad)); err == nil || errors.Is(err, errNewerFormat) {
			t.Errorf("ParseSession(%s): %v; want a damaged record", bad, err)
		}
	}
}

// Every call that reads, refreshes, logs in over, logs out of, lists or
// switches to the account refuses its newer record, sends nothing to
// Akiflow, and leaves the record as it was.
func TestANewerRecordIsNeverOverwritten(t *testing.T) {
	const bob = "bob@example.com"
	calls := []struct {
		name string
		call func(f *flow) error
		// others: the call is about another account, and lists ada's.
		others bool
	}{
		{"token", func(f *flow) error { _, err := f.token(); return err }, false},
		{"forced refresh", func(f *flow) error {
			req := f.req
			req.Force = true
			_, err := f.h.Token(context.Background(), req)
			return err
		}, false},
		{"login", func(f *flow) error { _, err := f.h.Login(context.Background(), f.req); return err }, false},
		{"logout", func(f *flow) error { _, err := f.h.Logout(f.req, false); return err }, false},
		{"logout --all", func(f *flow) error {
			res, err := f.h.Logout(Request{}, true)
			if want := []LoggedOut{{bob, true}}; !slices.Equal(res.Accounts, want) {
				f.t.Errorf("logout --all logged out %+v, want %+v", res.Accounts, want)
			}
			return err
		}, false},
		{"status", func(f *flow) error { _, err := f.h.Status(f.req); return err }, false},
		{"switch", func(f *flow) error { return f.h.Switch(f.req) }, false},
		{"git's erase", func(f *flow) error { return f.h.DropAccessToken(context.Background(), f.req, "a.b.c") }, false},
		{"status of another account", func(f *flow) error {
			st, err := f.h.Status(Request{Account: bob})
			if err == nil && !slices.Equal(st.Others, []string{flowEmail}) {
				f.t.Errorf("status of %s lists %v, want %s", bob, st.Others, flowEmail)
			}
			return err
		}, true},
	}
	for recordName, record := range newerRecords {
		for _, tc := range calls {
			t.Run(recordName+"/"+tc.name, func(t *testing.T) {
				f := newFlow(t, nil)
				f.put(f.sessionOf(bob, flowT0, time.Hour))
				f.store.Put(flowEmail, []byte(record))
				f.withTerminal(f.theCode)
				f.markRequests()
				err := tc.call(f)
				if cached, ok := f.h.Cached(f.req); ok || cached != nil {
					t.Errorf("Cached: a session of the newer record")
				}
				switch {
				case tc.others && err != nil:
					t.Errorf("%s: %v", tc.name, err)
				case !tc.others && (ExitCode(err) != ExitFailure || !errors.Is(err, errNewerFormat) ||
					err.Error() != "memory:"+flowEmail+" "+newerSays):
					t.Errorf("%s: exit %d: %v; want exit 1: memory:%s %s", tc.name, ExitCode(err), err, flowEmail, newerSays)
				}
				if data, _ := f.store.Record(flowEmail); string(data) != record {
					t.Errorf("%s overwrote the newer record: %q", tc.name, data)
				}
				f.wantRequests(nil) // no code mailed, no refresh sent
				f.wantStderr()
			})
		}
	}
}

// recoverStore is a memstore whose Recover offers a leftover of a killed
// save of flowEmail's record, as cache's does, and records what happened
// to it.
type recoverStore struct {
	*memstore.Store
	leftover       []byte
	offered, moved bool
}

func (s *recoverStore) Recover(name string, keep func([]byte) bool) (bool, error) {
	if name != flowEmail || s.leftover == nil {
		return false, nil
	}
	s.offered = true
	if keep(s.leftover) {
		s.Put(name, s.leftover)
		s.moved = true
	}
	s.leftover = nil // removed, or put in place
	return s.moved, nil
}

// A killed save's leftover never goes over a newer record, and a newer
// akiflow-token's leftover is put in place (then refused) rather than
// thrown away: it may hold the only good refresh token.
func TestANewerRecordAndLeftovers(t *testing.T) {
	for _, tc := range []struct {
		name             string
		record, leftover func(f *flow) []byte
		offered, moved   bool
		call             string // set below: token, logout, git's erase
	}{
		{"our leftover, a newer record",
			func(*flow) []byte { return []byte(newerRecords["same fields"]) },
			func(f *flow) []byte { s := f.serverSession(time.Hour); s.Generation = 99; return s.marshal() },
			false, false, ""},
		{"a newer leftover, our expired record",
			func(f *flow) []byte { return f.serverSession(-time.Minute).marshal() },
			func(*flow) []byte { return []byte(newerRecords["other fields"]) },
			true, true, ""},
	} {
		for _, call := range []string{"token", "logout", "git's erase"} {
			tc := tc
			tc.call = call
			t.Run(tc.name+"/"+call, func(t *testing.T) {
				f := newFlow(t, nil)
				store := &recoverStore{Store: f.store, leftover: tc.leftover(f)}
				record := tc.record(f)
				store.Put(flowEmail, record)
				h, err := New(Config{BaseURL: f.srv.URL, Timeout: 2 * time.Second, Stderr: f.stderr, Now: func() time.Time { return f.now }},
					func(string) Store { return store })
				if err != nil {
					t.Fatal(err)
				}
				h.refresher = inProcess
				f.h = h
				f.withTerminal(f.theCode)
				f.markRequests()
				switch tc.call {
				case "token":
					_, err = f.token()
				case "logout":
					_, err = f.h.Logout(f.req, false)
				case "git's erase":
					err = f.h.DropAccessToken(context.Background(), f.req, "a.b.c")
				}
				if ExitCode(err) != ExitFailure || !errors.Is(err, errNewerFormat) || !strings.Contains(err.Error(), newerSays) {
					t.Errorf("%s: exit %d: %v; want exit 1: … %s", tc.call, ExitCode(err), err, newerSays)
				}
				if store.offered != tc.offered || store.moved != tc.moved {
					t.Errorf("the leftover was offered: %v, put in place: %v; want %v, %v", store.offered, store.moved, tc.offered, tc.moved)
				}
				want := record
				if tc.moved {
					want = []byte(newerRecords["other fields"])
				}
				if data, _ := store.Record(flowEmail); string(data) != string(want) {
					t.Errorf("the record is %q, want %q", data, want)
				}
				f.wantRequests(nil)
				f.wantStderr()
			})
		}
	}
}
