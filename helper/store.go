package helper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/store"
)

// Store keeps an auth host's records (package helper/store says what it
// must guarantee); Pending and Lock are its prepared replacement and its
// held lock.
type (
	Store   = store.Store
	Pending = store.Pending
	Lock    = store.Lock
)

// currentRecord names the account that logged in last: the default one. It
// has no "@", so it never clashes with an account's record.
const currentRecord = "current"

// accountKey is the form of an email that names everything the account
// keeps: its record, its lock and the current record's content. Emails
// match without regard to case, the local part's too (Akiflow's accounts
// do), so the key is the whole address in lower case: -e Work@Example.com
// and -e work@example.com are one account, with one session. What the
// person typed is what the login sends to Akiflow and what messages show.
//
// Only ASCII letters are folded: Unicode's lower-casing would make İnfo@ and
// info@, or the Kelvin sign and k, one account.
func accountKey(email string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, email)
}

// shown is how messages name the account key: as the request spelt it,
// when that is this account, else as the key.
func (c *call) shown(key string) string {
	if c.req.Account != "" && accountKey(c.req.Account) == key {
		return c.req.Account
	}
	return key
}

// replace replaces the record name with what content returns, preparing
// it first: content runs only once its result can be saved.
func (h *Helper) replace(name string, content func() ([]byte, error)) error {
	return store.Replace(h.store, name, content)
}

// save replaces an account's session, read as s under its lock, with s,
// its next generation, unless another process saved it meanwhile (sole).
func (c *call) save(s *Session, mode saveMode) error {
	s.Email = accountKey(s.Email)
	p, err := c.h.store.Prepare(s.Email)
	if err != nil {
		return err
	}
	defer p.Discard()
	if changed, err := c.sole(p, s.Email, s); err != nil || changed {
		return orChanged(err)
	}
	s.Generation++
	data, err := c.encode(s, mode)
	if err != nil {
		return err
	}
	return p.Commit(data)
}

// sole says p is the only save of the account key under way and the
// record is still the one the caller read as read (nil: none); else
// changed is true, or the error says why it cannot tell. Another process may hold the account's lock
// too (its lock file removed under one of them): what it saves, or is
// saving, must not be written over, nor its refresh token spent again.
func (c *call) sole(p Pending, key string, read *Session) (changed bool, err error) {
	if err := p.Alone(); err != nil {
		return false, err
	}
	now, err := c.load(key)
	if err != nil {
		return false, err
	}
	return (now == nil) != (read == nil) || now != nil && now.Generation != read.Generation, nil
}

// orChanged is the error of a save that sole turned down: err, or that
// the session changed meanwhile. Either way, try again (exit 4).
func orChanged(err error) error {
	if err == nil {
		err = errors.New("another akiflow-token saved this session meanwhile")
	}
	return &Error{Code: ExitUnavailable, Err: fmt.Errorf("%w; try again", err)}
}

// recoverSave puts in place the session a process killed between saving
// and renaming left behind (its refresh token may be the only good one), if
// it is newer than the record; it removes any other leftover. Called with
// the record's lock held. A record that is refused (one the store will
// not use, or from a newer akiflow-token) is left alone, leftovers and
// all; a leftover from a newer akiflow-token is put in place, not thrown
// away: only that version can tell whether it is newer, and this one then
// refuses it, saying to upgrade.
func (c *call) recoverSave(key string) {
	current, err := c.readRecord(key, false)
	if err != nil {
		return // the caller's own read says why
	}
	moved, err := c.h.store.Recover(key, func(data []byte) bool {
		s, err := parseRecord(key, data) // the vault is not read: a leftover's token is in the record or the vault already
		if errors.Is(err, errNewerFormat) {
			return true
		}
		return err == nil && (current == nil || s.Generation > current.Generation)
	})
	switch {
	case err != nil:
		c.warnf("%v", err)
	case moved:
		c.logf("recovered the session a killed akiflow-token had saved but not put in place")
	}
}

// account is the selected account's key: the request's, else the one that
// logged in last, else the only one cached; "" when there is none.
func (h *Helper) account(req Request) (string, error) {
	if req.Account != "" {
		return accountKey(req.Account), nil
	}
	if key := h.currentAccount(); key != "" {
		return key, nil
	}
	accounts, err := h.accounts()
	if err != nil || len(accounts) != 1 {
		return "", err
	}
	return accounts[0], nil
}

// currentAccount is the key of the account the current record names; ""
// when there is none (or it names none).
func (h *Helper) currentAccount() string {
	data, err := h.store.Read(currentRecord)
	if err != nil {
		return ""
	}
	if email := strings.TrimSpace(string(data)); CheckEmail(email) == nil {
		return accountKey(email)
	}
	return ""
}

// setCurrent makes key the default account.
func (h *Helper) setCurrent(key string) error {
	return h.replace(currentRecord, func() ([]byte, error) { return []byte(key + "\n"), nil })
}

// accounts lists the keys of the accounts cached for this auth host,
// sorted.
func (h *Helper) accounts() ([]string, error) {
	names, err := h.store.List()
	var keys []string
	for _, n := range names {
		if CheckEmail(n) == nil { // a record's name is outside input too
			keys = append(keys, accountKey(n))
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys), err
}

// load reads an account's session (its key): nil when there is none. A
// record that cannot be used is "no session", with a warning; one the store
// refuses or from a newer akiflow-token is an error, so that it is never
// overwritten.
func (c *call) load(key string) (*Session, error) {
	if key == "" {
		return nil, nil
	}
	return c.readRecord(key, true)
}

// readRecord reads and parses the record name: nil when there is none or
// it cannot be used (with a warning, if warn); an error when the store
// refuses it or a newer akiflow-token wrote it.
func (c *call) readRecord(name string, warn bool) (*Session, error) {
	data, err := c.h.store.Read(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case unsafeRecord(err):
		return nil, err
	case err != nil:
		if warn {
			c.warnf("%v; treating it as no session", err)
		}
		return nil, nil
	}
	s, err := parseRecord(name, data)
	switch {
	case errors.Is(err, errNewerFormat):
		return nil, fmt.Errorf("%s was %w", c.h.store.Describe(name), err)
	case err != nil:
		if warn {
			c.warnf("ignoring %s: %v", c.h.store.Describe(name), err)
		}
		return nil, nil
	}
	return s, nil
}

// parseRecord parses the record of the account key. A record's name is
// its account: one whose email names another account (copied, or edited
// by hand) is no session. Trusted, its refresh would be saved under the
// other name while its spent refresh token stayed here to be sent again,
// and its logout would clear the other account. An email in another case
// is the account's own, and becomes the key.
func parseRecord(key string, data []byte) (*Session, error) {
	s, err := ParseSession(data)
	if err != nil {
		return nil, err
	}
	if accountKey(s.Email) != key {
		return nil, fmt.Errorf("not a valid session file: it holds the session of %q", s.Email)
	}
	s.Email = key
	return s, nil
}

// hasTokens says the session holds a token: it has not been logged out.
func (s *Session) hasTokens() bool {
	return s != nil && (s.AccessToken != "" || s.RefreshToken != "" || s.RefreshIn != "")
}

// lockWait bounds the wait for another process's refresh or login, and for
// the refresh process: longer than a refresh can take.
func (h *Helper) lockWait() time.Duration {
	return max(30*time.Second, akiflow.RefreshBound(h.cfg.Timeout)+5*time.Second)
}

// lock takes an account's lock for at most wait, then recovers a killed
// save of its record.
func (c *call) lock(ctx context.Context, key string, wait time.Duration) (Lock, error) {
	lock, err := c.wait(ctx, key, key, wait)
	if err == nil {
		c.recoverSave(key)
	}
	return lock, err
}

// wait takes the lock name, of the account key, for at most wait.
func (c *call) wait(ctx context.Context, name, key string, wait time.Duration) (Lock, error) {
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// Say why, when the wait is long enough to notice (another terminal's
	// login waiting for its code).
	notice := time.AfterFunc(lockNotice, func() {
		fmt.Fprintf(c.h.cfg.Stderr, "akiflow-token: waiting for another akiflow-token refreshing or logging in to %s (at most %s)\n", orDefault(c.shown(key), c.h.Host()), wait)
	})
	lock, err := c.h.store.Lock(waitCtx, name)
	notice.Stop()
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		// Exit 4: it may pass, as a slow Akiflow or keyring does.
		return nil, &Error{Code: ExitUnavailable, Err: fmt.Errorf("another akiflow-token has been refreshing or logging in to %s for over %s; try again: %w", c.shown(key), wait, errLockBusy)}
	case errors.Is(err, context.Canceled), ctx.Err() != nil:
		return nil, ErrInterrupted
	case err != nil:
		return nil, err
	}
	return lock, nil
}

// errLockBusy marks a lock another process held for longer than the wait.
var errLockBusy = errors.New("the lock is busy")

// lockNotice is how long a wait for the lock goes unexplained.
const lockNotice = 2 * time.Second

// unsafeRecord says err is a store's refusal to use a record.
func unsafeRecord(err error) bool {
	var u interface{ Unsafe() bool }
	return errors.As(err, &u) && u.Unsafe()
}
