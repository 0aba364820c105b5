package helper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Logout forgets the selected account's session, or every account's of this
// auth host. It keeps each account's client id, and its lock file.
// Forgetting nothing is fine: an account named with no session is said to
// have none. When the default account (the current record) is logged out,
// the other account that logged in last and still has a session becomes
// the default; with none, there is no default any more.
func (h *Helper) Logout(all bool) error {
	var targets []string
	if all {
		var err error
		if targets, err = h.accounts(); err != nil {
			return err
		}
	} else if email, err := h.account(); err != nil {
		return err
	} else if email == "" {
		return h.noAccountSelected()
	} else {
		targets = []string{email}
	}
	var errs []error
	var done []string // accounts without a session now
	for _, key := range targets {
		forgot, err := h.forget(key)
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case forgot:
			fmt.Fprintf(h.cfg.Stderr, "logged out %s\n", h.shown(key))
		case !all:
			fmt.Fprintf(h.cfg.Stderr, "no session for %s\n", h.shown(key))
		}
		done = append(done, key)
	}
	errs = append(errs, h.passOnDefault(done))
	return errors.Join(errs...)
}

// forget drops an account's tokens, under its lock, and says whether it had
// any. An account with no record is not locked: a logout of a mistyped
// email creates nothing.
func (h *Helper) forget(key string) (bool, error) {
	if _, err := h.store.Read(key); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	lock, err := h.lock(context.Background(), key) // not in the middle of a refresh
	if err != nil {
		return false, err
	}
	defer lock.Close()
	data, err := h.store.Read(key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	s, err := ParseSession(data)
	if errors.Is(err, errNewerFormat) {
		return false, fmt.Errorf("%s was %w", h.store.Path(key), err)
	}
	if err != nil {
		return false, h.store.Remove(key) // unusable anyway: nothing to keep
	}
	if !s.hasTokens() {
		return false, nil // logged out already: nothing to forget
	}
	s.forget()
	if err := h.save(s); err != nil {
		return false, err
	}
	return true, nil
}

// errDefaultMoved stops passOnDefault when another process changed the
// current record meanwhile (a login): its choice stands.
var errDefaultMoved = errors.New("the default account changed meanwhile")

// passOnDefault makes, when the current record names one of the accounts
// gone (now without a session), the other account that logged in last and
// still has a session the default; with none, it removes the record.
func (h *Helper) passOnDefault(gone []string) error {
	current := h.currentAccount()
	if current == "" || !slices.Contains(gone, current) {
		return nil
	}
	next, err := h.lastLoggedIn(gone)
	if err != nil {
		return err
	}
	if next == "" {
		if h.currentAccount() != current {
			return nil
		}
		return h.store.Remove(currentRecord)
	}
	err = h.store.Replace(currentRecord, func() ([]byte, error) {
		if h.currentAccount() != current {
			return nil, errDefaultMoved
		}
		return []byte(next + "\n"), nil
	})
	switch {
	case errors.Is(err, errDefaultMoved):
		return nil
	case err != nil:
		return err
	}
	fmt.Fprintf(h.cfg.Stderr, "the default account is now %s\n", next)
	return nil
}

// lastLoggedIn is the key of the account, other than those gone, that
// logged in last (its session's logged_in_at; for sessions saved before
// akiflow-token kept it, the latest expiry) and whose session can still give
// a token without a login; "" when there is none.
func (h *Helper) lastLoggedIn(gone []string) (string, error) {
	accounts, err := h.accounts()
	if err != nil {
		return "", err
	}
	now := h.now()
	var best *Session
	next := ""
	for _, key := range accounts { // sorted: ties go to the first
		if slices.Contains(gone, key) {
			continue
		}
		s, err := h.peek(key)
		if err != nil || s == nil || !(s.canRefresh() || s.validFor(now, 0)) {
			continue
		}
		if best == nil || s.LoggedInAt.After(best.LoggedInAt) ||
			s.LoggedInAt.Equal(best.LoggedInAt) && s.ExpiresAt.After(best.ExpiresAt) {
			best, next = s, key
		}
	}
	return next, nil
}

// noAccountSelected says that no account is selected, and how to pick one.
func (h *Helper) noAccountSelected() error {
	accounts, _ := h.accounts()
	var withSession []string
	for _, a := range accounts {
		if s, _ := h.peek(a); s.hasTokens() {
			withSession = append(withSession, a)
		}
	}
	if len(withSession) == 0 {
		fmt.Fprintf(h.cfg.Stderr, "no session for %s\n", h.base.Host)
		return nil
	}
	return UsageError("no account is selected (several are cached: %s): name one with -e EMAIL", strings.Join(withSession, ", "))
}
