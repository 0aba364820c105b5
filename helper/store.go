package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"akiflow-token/helper/akiflow"
)

// Store keeps an auth host's records: one per account, named by its email,
// and currentRecord. The cache package's Store keeps them on disk; a keyring
// or an in-memory store would be another type behind this interface, with
// no change to the flow. Its methods must be safe to call from several
// processes at once.
type Store interface {
	// Read returns the record name. Its error matches fs.ErrNotExist when
	// there is none, and has an Unsafe method that returns true when the
	// store refuses to use the one there (which must not be overwritten).
	Read(name string) ([]byte, error)
	// Replace replaces the record name, atomically, with what content
	// returns. It makes sure the record can be saved before calling
	// content: when it cannot, content is not called. When content fails,
	// the record is left as it was.
	Replace(name string, content func() ([]byte, error)) error
	// Lock takes the record's exclusive lock, across processes, waiting
	// until ctx is done (then its error matches ctx.Err()). Close unlocks.
	Lock(ctx context.Context, name string) (io.Closer, error)
	// Salvage recovers what a killed Replace of name left behind: while the
	// record's lock is held, it offers each leftover, newest first, to keep,
	// moves the first one kept into the record's place and removes the
	// others. It reports whether it moved one.
	Salvage(name string, keep func(data []byte) bool) (bool, error)
	// Remove deletes the record name; a missing record is not an error.
	Remove(name string) error
	// Names lists the records, without reading them.
	Names() ([]string, error)
	// Path says where the record name lives, and Dir where they all do,
	// for messages.
	Path(name string) string
	Dir() string
}

// currentRecord names the account that logged in last: the default one. It
// has no "@", so it never clashes with an account's record.
const currentRecord = "current"

// accountKey is the form of an email that names everything the account
// keeps: its record, its lock and the current record's content. Emails
// match without regard to case, the local part's too (Akiflow's accounts
// do), so the key is the whole address in lower case: -e Work@Example.com
// and -e work@example.com are one account, with one session. The session's
// "email" field holds the key too, since a refresh saves the session under
// the name its email gives. What the person typed is what the login sends
// to Akiflow and what messages show (Helper.shown).
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

// shown is how messages name the account key: as --email spelt it, when
// that is this account, else as the key.
func (h *Helper) shown(email string) string {
	if h.cfg.Email != "" && accountKey(h.cfg.Email) == accountKey(email) {
		return h.cfg.Email
	}
	return email
}

// save replaces an account's session with s, its next generation, under the
// account's key.
func (h *Helper) save(s *Session) error {
	s.Email = accountKey(s.Email)
	s.Generation++
	return h.store.Replace(s.Email, func() ([]byte, error) { return s.marshal(), nil })
}

// salvage puts in place the session a process killed between saving and
// renaming left behind (its refresh token may be the only good one), if it
// is newer than the record; it removes any other leftover. Called with the
// record's lock held.
func (h *Helper) salvage(key string) {
	current, _ := h.readRecord(key, false)
	moved, err := h.store.Salvage(key, func(data []byte) bool {
		s, err := ParseSession(data)
		return err == nil && accountKey(s.Email) == key && (current == nil || s.Generation > current.Generation)
	})
	switch {
	case err != nil:
		h.warnf("%v", err)
	case moved:
		h.logf("recovered the session a killed akiflow-token had saved but not put in place")
	}
}

// account is the selected account's key: --email, else the one that logged
// in last, else the only one cached; "" when there is none. It reads one
// small record, not the sessions.
func (h *Helper) account() (string, error) {
	if h.cfg.Email != "" {
		return accountKey(h.cfg.Email), nil
	}
	if email := h.currentAccount(); email != "" {
		return email, nil
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

// accounts lists the keys of the accounts cached for this auth host,
// sorted: records of one account under several spellings count once.
func (h *Helper) accounts() ([]string, error) {
	names, err := h.store.Names()
	var keys []string
	for _, n := range names {
		if CheckEmail(n) == nil { // a file name is outside input too
			keys = append(keys, accountKey(n))
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys), err
}

// load reads an account's session (email in any case): nil when there is
// none. A record that cannot be used is "no session", with a warning; one
// the store refuses or from a newer akiflow-token is an error, so that it
// is never overwritten.
func (h *Helper) load(email string) (*Session, error) { return h.loadAccount(email, true) }

// peek is load without warnings, for looking at accounts other than the
// selected one.
func (h *Helper) peek(email string) (*Session, error) { return h.loadAccount(email, false) }

func (h *Helper) loadAccount(email string, warn bool) (*Session, error) {
	if email == "" {
		return nil, nil
	}
	return h.readRecord(accountKey(email), warn)
}

// readRecord reads and parses the record name: nil when there is none or
// it cannot be used (with a warning, if warn); an error when the store
// refuses it or a newer akiflow-token wrote it.
func (h *Helper) readRecord(name string, warn bool) (*Session, error) {
	data, err := h.store.Read(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case unsafeRecord(err):
		return nil, err
	case err != nil:
		if warn {
			h.warnf("%v; treating it as no session", err)
		}
		return nil, nil
	}
	s, err := ParseSession(data)
	switch {
	case errors.Is(err, errNewerFormat):
		return nil, fmt.Errorf("%s was %w", h.store.Path(name), err)
	case err != nil:
		if warn {
			h.warnf("ignoring %s: %v", h.store.Path(name), err)
		}
		return nil, nil
	}
	return s, nil
}

// hasTokens says the session holds a token: it has not been logged out.
func (s *Session) hasTokens() bool { return s != nil && (s.AccessToken != "" || s.RefreshToken != "") }

// lockWait bounds the wait for another process's refresh or login, and for
// the refresh process: longer than a refresh can take.
func (h *Helper) lockWait() time.Duration {
	return max(30*time.Second, akiflow.RefreshBound(h.cfg.Timeout)+5*time.Second)
}

// lock takes an account's lock (email in any case: the key's), for at
// most lockWait, then recovers a killed save.
func (h *Helper) lock(ctx context.Context, email string) (io.Closer, error) {
	key := accountKey(email)
	wait, cancel := context.WithTimeout(ctx, h.lockWait())
	defer cancel()
	// Say why, when the wait is long enough to notice (another terminal's
	// login waiting for its code).
	notice := time.AfterFunc(lockNotice, func() {
		fmt.Fprintf(h.cfg.Stderr, "akiflow-token: waiting for another akiflow-token refreshing or logging in to %s (at most %s)\n", h.shown(key), h.lockWait())
	})
	lock, err := h.store.Lock(wait, key)
	notice.Stop()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("another akiflow-token has been refreshing or logging in to %s for over %s; try again", h.shown(key), h.lockWait())
	case errors.Is(err, context.Canceled):
		return nil, ErrInterrupted
	case err != nil:
		return nil, err
	}
	h.salvage(key)
	return lock, nil
}

// lockNotice is how long a wait for the lock goes unexplained.
const lockNotice = 2 * time.Second

// unsafeRecord says err is a store's refusal to use a record.
func unsafeRecord(err error) bool {
	var u interface{ Unsafe() bool }
	return errors.As(err, &u) && u.Unsafe()
}
