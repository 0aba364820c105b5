package helper

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// The unit tests of refresh tokens kept in a vault (the OS keyring), with
// an in-memory one: where each token goes, in what order, and what a
// vault's failure does.

// memVault is a Vault in memory that counts its calls and fails on demand.
type memVault struct {
	mu      sync.Mutex
	f       *flow
	items   map[string]string // by host + " " + account
	calls   []string          // "get", "set", "delete", in order
	failGet error
	failSet error
	failDel error
	// recordAtSet is the flow's record of the account when Set was
	// called: the record that points at the vault must not be replaced yet.
	recordAtSet *Session
}

func (v *memVault) Name() string { return "keyring" }

func (v *memVault) Get(host, store, account string) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, "get")
	return v.items[host+" "+account], v.failGet
}

func (v *memVault) Set(host, store, account, token string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, "set")
	if v.failSet != nil {
		return v.failSet
	}
	v.recordAtSet = v.f.storedAs(account)
	v.items[host+" "+account] = token
	return nil
}

func (v *memVault) Delete(host, store, account string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, "delete")
	if v.failDel != nil {
		return v.failDel
	}
	delete(v.items, host+" "+account)
	return nil
}

// token is what the vault holds for flowEmail.
func (v *memVault) token() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.items[v.f.h.Host()+" "+flowEmail]
}

// took returns the calls since the last look, and forgets them.
func (v *memVault) took() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	calls := strings.Join(v.calls, ",")
	v.calls = nil
	return calls
}

// slowError is a vault's failure to answer in time, as package keyring
// reports it: a deadline exceeded, which may pass.
type slowError struct{}

func (slowError) Error() string        { return "no answer within 3s" }
func (slowError) Transient() bool      { return true }
func (slowError) Is(target error) bool { return target == context.DeadlineExceeded }

// newVaultFlow is a flow whose Helper knows the memVault as "keyring".
func newVaultFlow(t *testing.T) (*flow, *memVault) {
	v := &memVault{items: map[string]string{}}
	f := newFlow(t, func(c *Config) {
		c.Vault = func(name string) Vault {
			if name == "keyring" {
				return v
			}
			return nil
		}
	})
	v.f = f
	return f, v
}

// seedInVault saves a session whose refresh token is in the vault.
func (f *flow) seedInVault(v *memVault, left time.Duration) *Session {
	f.t.Helper()
	s := f.serverSession(left)
	v.items[f.h.Host()+" "+flowEmail] = s.RefreshToken
	rec := *s
	rec.RefreshToken, rec.RefreshIn = "", "keyring"
	f.put(&rec)
	f.markRequests()
	return s
}

// A login with --store keyring puts the refresh token in the vault and
// only its name in the record; a cache hit does not call the vault; a
// refresh reads the token from it, then writes the new one there before
// the record is replaced; logout removes it from the vault.
func TestVaultKeepsTheRefreshToken(t *testing.T) {
	f, v := newVaultFlow(t)
	f.withTerminal(f.theCode)
	f.req.Store = "keyring"
	got, err := f.h.Login(context.Background(), f.req)
	if err != nil {
		t.Fatal(err)
	}
	rec := f.stored()
	if rec.RefreshIn != "keyring" || rec.RefreshToken != "" || v.token() != got.RefreshToken || got.RefreshToken == "" {
		t.Fatalf("after the login: the record's refresh_in %q, a refresh token in it: %v, in the vault: %v",
			rec.RefreshIn, rec.RefreshToken != "", v.token() == got.RefreshToken)
	}
	if calls := v.took(); calls != "get,set" { // the check before the code is mailed, then the save
		t.Errorf("the login's vault calls: %s", calls)
	}

	f.req.Prompt = nil
	f.markRequests()
	if _, err := f.token(); err != nil {
		t.Fatal(err)
	}
	if calls := v.took(); calls != "" {
		t.Errorf("a cache hit called the vault: %s", calls)
	}

	old := v.token()
	var staged int
	f.store.Do(func() { staged = f.store.Staged })
	f.now = f.now.Add(29 * time.Minute)
	fresh, err := f.token()
	if err != nil {
		t.Fatal(err)
	}
	f.wantRequests(refreshed)
	// The new token was staged for recovery before the vault was called.
	f.store.Do(func() { staged = f.store.Staged - staged })
	if staged != 1 {
		t.Errorf("the refresh staged %d records before the vault's call, want 1", staged)
	}
	if calls := v.took(); calls != "get,set" {
		t.Errorf("the refresh's vault calls: %s", calls)
	}
	if v.token() == old || v.token() != fresh.RefreshToken {
		t.Error("the vault does not hold the rotated refresh token")
	}
	if v.recordAtSet == nil || v.recordAtSet.AccessToken != rec.AccessToken {
		t.Error("the record was replaced before the vault had the new refresh token")
	}
	if rec := f.stored(); rec.RefreshToken != "" || rec.AccessToken != fresh.AccessToken || rec.RefreshIn != "keyring" {
		t.Errorf("the record after the refresh: refresh_in %q, a refresh token in it: %v", rec.RefreshIn, rec.RefreshToken != "")
	}
	st, _ := f.h.Status(f.req)
	if st.RefreshStore != "keyring" || st.Pending {
		t.Errorf("status: the refresh token is in %q (pending %v)", st.RefreshStore, st.Pending)
	}

	if _, err := f.h.Logout(f.req, false); err != nil {
		t.Fatal(err)
	}
	if calls := v.took(); calls != "delete" || v.token() != "" {
		t.Errorf("logout's vault calls: %s; the vault still holds a token: %v", calls, v.token() != "")
	}
	if rec := f.stored(); rec.hasTokens() {
		t.Errorf("the record after logout still says it has tokens (refresh_in %q)", rec.RefreshIn)
	}
	f.noSecrets()
}

// A rotated refresh token the vault refuses is not lost: it waits in the
// record, with a warning at every call, until a later refresh puts it in
// the vault.
func TestVaultRefusalKeepsTheRotatedToken(t *testing.T) {
	f, v := newVaultFlow(t)
	f.seedInVault(v, time.Minute) // under --min-ttl: refreshed
	v.failSet = errors.New("the keyring is locked")
	got, err := f.token()
	if err != nil {
		t.Fatal(err)
	}
	f.wantRequests(refreshed)
	rec := f.stored()
	if rec.RefreshToken != got.RefreshToken || rec.RefreshIn != "keyring" {
		t.Fatalf("the refused token is not in the record (refresh_in %q)", rec.RefreshIn)
	}
	st, _ := f.h.Status(f.req)
	if st.RefreshStore != StoreFile || !st.Pending {
		t.Errorf("status: the refresh token is in %q (pending %v); want file, pending", st.RefreshStore, st.Pending)
	}
	f.stderr.Reset()
	if _, err := f.token(); err != nil { // a cache hit: warns, no vault call
		t.Fatal(err)
	}
	if !strings.Contains(f.stderr.String(), "not the keyring, which refused it") {
		t.Errorf("a cache hit said nothing of the waiting token: %q", f.stderr.String())
	}
	v.took()

	v.failSet = nil
	f.now = f.now.Add(29 * time.Minute)
	fresh, err := f.token()
	if err != nil {
		t.Fatal(err)
	}
	if calls := v.took(); calls != "set" { // the record's token was used, not the vault's stale one
		t.Errorf("the next refresh's vault calls: %s", calls)
	}
	if rec := f.stored(); rec.RefreshToken != "" || v.token() != fresh.RefreshToken {
		t.Error("the next refresh did not move the refresh token to the vault")
	}
	f.noSecrets()
}

// A vault that cannot be read stops a refresh before it is sent: the
// session stays, a still-good token serves with a warning, an expired one
// is an error naming the vault (exit 4 when it is merely slow); an item
// that is gone means a login.
func TestVaultFailureSendsNoRefresh(t *testing.T) {
	t.Run("locked", func(t *testing.T) {
		f, v := newVaultFlow(t)
		f.seedInVault(v, -time.Minute)
		v.failGet = errors.New("the keyring is locked; unlock it")
		got, err := f.token()
		wantExit(t, "Token", got, err, ExitFailure, "the keyring is locked")
		f.wantRequests(nil)
		if rec := f.stored(); rec.RefreshIn != "keyring" {
			t.Error("the session changed")
		}
	})
	t.Run("slow", func(t *testing.T) {
		f, v := newVaultFlow(t)
		f.seedInVault(v, -time.Minute)
		v.failGet = slowError{}
		got, err := f.token()
		wantExit(t, "Token", got, err, ExitUnavailable, "no answer within 3s")
		f.wantRequests(nil)
	})
	t.Run("still good", func(t *testing.T) {
		f, v := newVaultFlow(t)
		want := f.seedInVault(v, time.Minute)
		v.failGet = errors.New("the keyring is locked")
		got, err := f.token()
		if err != nil || got.AccessToken != want.AccessToken {
			t.Fatalf("Token: %v; want the cached token", err)
		}
		f.wantRequests(nil)
	})
	t.Run("gone", func(t *testing.T) {
		f, v := newVaultFlow(t)
		f.seedInVault(v, -time.Minute)
		delete(v.items, f.h.Host()+" "+flowEmail)
		got, err := f.token()
		wantExit(t, "Token", got, err, ExitLoginNeeded)
		f.wantRequests(nil)
	})
	t.Run("gone, still good", func(t *testing.T) {
		f, v := newVaultFlow(t)
		want := f.seedInVault(v, time.Minute)
		delete(v.items, f.h.Host()+" "+flowEmail)
		got, err := f.token()
		if err != nil || got.AccessToken != want.AccessToken || !strings.Contains(f.stderr.String(), "holds no refresh token") {
			t.Errorf("Token: %v; want the cached token with a warning (stderr %q)", err, f.stderr.String())
		}
	})
}

// Move puts the refresh token in the other store, and leaves no copy in
// the old one; a vault that refuses changes nothing.
func TestMove(t *testing.T) {
	f, v := newVaultFlow(t)
	s := f.seed(time.Hour)
	v.failSet = errors.New("the keyring is locked")
	if _, err := f.h.Move(f.req, "keyring"); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("Move to a locked vault: %v", err)
	}
	if rec := f.stored(); rec.RefreshToken != s.RefreshToken || rec.RefreshIn != "" {
		t.Error("a failed move changed the record")
	}
	v.failSet = nil
	res, err := f.h.Move(f.req, "keyring")
	if err != nil || res.From != StoreFile || res.To != "keyring" || res.Already {
		t.Fatalf("Move to the vault: %+v, %v", res, err)
	}
	if rec := f.stored(); rec.RefreshToken != "" || rec.RefreshIn != "keyring" || v.token() != s.RefreshToken {
		t.Error("after the move to the vault, the record still holds the token, or the vault does not")
	}
	if res, _ := f.h.Move(f.req, "keyring"); !res.Already {
		t.Errorf("a second move: %+v", res)
	}
	v.took()
	res, err = f.h.Move(f.req, StoreFile)
	if err != nil || res.From != "keyring" || res.To != StoreFile {
		t.Fatalf("Move to the file: %+v, %v", res, err)
	}
	if calls := v.took(); calls != "get,delete" || v.token() != "" {
		t.Errorf("the move to the file: vault calls %s; the vault still holds it: %v", calls, v.token() != "")
	}
	if rec := f.stored(); rec.RefreshToken != s.RefreshToken || rec.RefreshIn != "" {
		t.Error("after the move to the file, the record does not hold the token")
	}
	if _, err := f.h.Move(f.req, "wallet"); err == nil || !strings.Contains(err.Error(), "no refresh token in a wallet") {
		t.Errorf("Move to an unknown store: %v", err)
	}
}

// A login whose vault does not answer is refused before a code is mailed;
// a login of an account keeps its store unless the request names one;
// Config.NewStore is the store of new sessions.
func TestLoginStore(t *testing.T) {
	t.Run("vault fails", func(t *testing.T) {
		f, v := newVaultFlow(t)
		f.withTerminal(f.theCode)
		f.req.Store = "keyring"
		v.failGet = errors.New("no Secret Service runs on the session bus")
		got, err := f.h.Login(context.Background(), f.req)
		wantExit(t, "Login", got, err, ExitFailure, "no Secret Service")
		f.wantRequests(nil)
	})
	t.Run("keeps the account's", func(t *testing.T) {
		f, v := newVaultFlow(t)
		f.seedInVault(v, time.Hour)
		f.withTerminal(f.theCode)
		if _, err := f.h.Login(context.Background(), f.req); err != nil {
			t.Fatal(err)
		}
		if rec := f.stored(); rec.RefreshIn != "keyring" || rec.RefreshToken != "" {
			t.Errorf("a new login moved the token out of the vault (refresh_in %q)", rec.RefreshIn)
		}
		f.req.Store = StoreFile
		f.withTerminal(f.theCode)
		got, err := f.h.Login(context.Background(), f.req)
		if err != nil {
			t.Fatal(err)
		}
		if rec := f.stored(); rec.RefreshIn != "" || rec.RefreshToken != got.RefreshToken || v.token() != "" {
			t.Errorf("login --store file: refresh_in %q; the vault still holds a token: %v", rec.RefreshIn, v.token() != "")
		}
	})
	t.Run("new sessions", func(t *testing.T) {
		f, v := newVaultFlow(t)
		f.h.cfg.NewStore = "keyring"
		f.withTerminal(f.theCode)
		got, err := f.h.Login(context.Background(), f.req)
		if err != nil {
			t.Fatal(err)
		}
		if rec := f.stored(); rec.RefreshIn != "keyring" || v.token() != got.RefreshToken {
			t.Errorf("a new session with NewStore keyring: refresh_in %q", rec.RefreshIn)
		}
	})
}

// A logout whose vault refuses to delete fails and changes nothing: it
// can be tried again.
func TestLogoutVaultFailure(t *testing.T) {
	f, v := newVaultFlow(t)
	f.seedInVault(v, time.Hour)
	v.failDel = errors.New("the keyring is locked")
	if _, err := f.h.Logout(f.req, false); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("Logout: %v", err)
	}
	if rec := f.stored(); !rec.hasTokens() || v.token() == "" {
		t.Error("a failed logout forgot the session")
	}
}

// A token waiting in the record for the vault that refused it moves to
// the file with store file (and the vault's stale copy goes); a record
// naming a vault this build does not know can still be logged out.
func TestMovePendingAndUnknownVault(t *testing.T) {
	f, v := newVaultFlow(t)
	f.seedInVault(v, time.Minute)
	v.failSet = errors.New("the keyring is locked")
	if _, err := f.token(); err != nil { // refreshed: the new token waits in the record
		t.Fatal(err)
	}
	v.failSet = nil
	res, err := f.h.Move(f.req, StoreFile)
	if err != nil || res.Already {
		t.Fatalf("Move of a waiting token to the file: %+v, %v", res, err)
	}
	if rec := f.stored(); rec.RefreshIn != "" || rec.RefreshToken == "" || v.token() != "" {
		t.Errorf("after the move: refresh_in %q, a token in the record %v, in the vault %v", rec.RefreshIn, rec.RefreshToken != "", v.token() != "")
	}

	rec := f.stored()
	rec.RefreshToken, rec.RefreshIn = "", "wallet"
	f.put(rec)
	if _, err := f.h.Logout(f.req, false); err != nil {
		t.Fatalf("Logout of a session in an unknown vault: %v", err)
	}
	if rec := f.stored(); rec.hasTokens() {
		t.Error("the session was not forgotten")
	}
	if !strings.Contains(f.stderr.String(), "keeps no refresh token in a wallet") {
		t.Errorf("no warning: %q", f.stderr.String())
	}
}
