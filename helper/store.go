package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// currentRecord names the account that logged in last. It has no "@", so it
// never clashes with an account's record.
const currentRecord = "current"

// save replaces an account's session with s, its next generation.
func (h *Helper) save(s *Session) error {
	s.Generation++
	return h.store.Replace(s.Email, func() ([]byte, error) { return s.marshal(), nil })
}

// salvage puts in place the session a process killed between saving and
// renaming left behind (its refresh token may be the only good one), if it
// is newer than the record; it removes any other leftover. Called with the
// account's lock held.
func (h *Helper) salvage(email string) {
	current, _ := h.load(email)
	moved, err := h.store.Salvage(email, func(data []byte) bool {
		s, err := ParseSession(data)
		return err == nil && s.Email == email && (current == nil || s.Generation > current.Generation)
	})
	switch {
	case err != nil:
		h.warnf("%v", err)
	case moved:
		h.logf("recovered the session a killed akiflow-token had saved but not put in place")
	}
}

// account is the selected account: --email, else the one that logged in
// last, else the only one cached; "" when there is none. It reads one small
// record, not the sessions.
func (h *Helper) account() (string, error) {
	if h.cfg.Email != "" {
		return h.cfg.Email, nil
	}
	data, err := h.store.Read(currentRecord)
	if err == nil {
		if email := strings.TrimSpace(string(data)); CheckEmail(email) == nil {
			return email, nil
		}
	}
	accounts, err := h.accounts()
	if err != nil || len(accounts) != 1 {
		return "", err
	}
	return accounts[0], nil
}

// accounts lists the cached accounts of this auth host.
func (h *Helper) accounts() ([]string, error) {
	names, err := h.store.Names()
	var emails []string
	for _, n := range names {
		if CheckEmail(n) == nil { // a file name is outside input too
			emails = append(emails, n)
		}
	}
	return emails, err
}

// load reads an account's session: nil when there is none. A record that
// cannot be used is "no session", with a warning; one the store refuses or
// from a newer akiflow-token is an error, so that it is never overwritten.
func (h *Helper) load(email string) (*Session, error) {
	if email == "" {
		return nil, nil
	}
	data, err := h.store.Read(email)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case unsafeRecord(err):
		return nil, err
	case err != nil:
		h.warnf("%v; treating it as no session", err)
		return nil, nil
	}
	s, err := ParseSession(data)
	switch {
	case errors.Is(err, errNewerFormat):
		return nil, fmt.Errorf("%s was %w", h.store.Path(email), err)
	case err != nil:
		h.warnf("ignoring %s: %v", h.store.Path(email), err)
		return nil, nil
	}
	return s, nil
}

// lockWait bounds the wait for another process's refresh or login, and for
// the refresh process: longer than a refresh can take.
func (h *Helper) lockWait() time.Duration {
	return max(30*time.Second, akiflow.RefreshBound(h.cfg.Timeout)+5*time.Second)
}

// lock takes an account's lock, for at most lockWait.
func (h *Helper) lock(ctx context.Context, email string) (io.Closer, error) {
	ctx, cancel := context.WithTimeout(ctx, h.lockWait())
	defer cancel()
	lock, err := h.store.Lock(ctx, email)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("another akiflow-token has been refreshing or logging in to %s for over %s; try again", email, h.lockWait())
	case errors.Is(err, context.Canceled):
		return nil, ErrInterrupted
	case err != nil:
		return nil, err
	}
	h.salvage(email)
	return lock, nil
}

// unsafeRecord says err is a store's refusal to use a record.
func unsafeRecord(err error) bool {
	var u interface{ Unsafe() bool }
	return errors.As(err, &u) && u.Unsafe()
}
