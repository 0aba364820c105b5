package helper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
)

// Logout forgets the selected account's session, or every account's of this
// auth host. It keeps each account's client id. Forgetting nothing is fine.
func (h *Helper) Logout(all bool) error {
	var targets []string
	if all {
		var err error
		if targets, err = h.accounts(); err != nil {
			return err
		}
	} else if email, err := h.account(); err != nil || email == "" {
		return err
	} else {
		targets = []string{email}
	}
	var errs []error
	for _, email := range slices.Compact(targets) {
		errs = append(errs, h.forget(email))
	}
	return errors.Join(errs...)
}

func (h *Helper) forget(email string) error {
	lock, err := h.lock(context.Background(), email) // not in the middle of a refresh
	if err != nil {
		return err
	}
	defer lock.Close()
	data, err := h.store.Read(email)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	s, err := ParseSession(data)
	if errors.Is(err, errNewerFormat) {
		return fmt.Errorf("%s was %w", h.store.Path(email), err)
	}
	if err != nil {
		return h.store.Remove(email) // unusable anyway: nothing to keep
	}
	if s.AccessToken == "" && !s.canRefresh() {
		return nil // logged out already: nothing to forget
	}
	s.forget()
	if err := h.save(s); err != nil {
		return err
	}
	fmt.Fprintf(h.cfg.Stderr, "logged out %s\n", email)
	return nil
}
