package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"akiflow-token/cache"
)

// Status reports the selected account (and lists the others) on w, never a
// token. It returns an exit-3 error when a login is needed.
func (h *Helper) Status(w io.Writer) error {
	email, err := h.account()
	if err != nil {
		return err
	}
	accounts, err := h.accounts()
	if err != nil {
		return err
	}
	if email == "" {
		fmt.Fprintf(w, "not logged in to %s\n", h.base.Host)
		fmt.Fprintf(w, "cache:   %s\n", h.store.Dir())
		return loginNeeded("not logged in")
	}
	s, err := h.load(email)
	if err != nil {
		return err
	}
	now := h.now()
	fmt.Fprintf(w, "account: %s on %s\n", email, h.base.Host)
	switch {
	case s == nil || s.AccessToken == "":
		fmt.Fprintf(w, "access:  none\n")
	case now.Before(s.ExpiresAt):
		fmt.Fprintf(w, "access:  expires %s (in %s)\n", s.ExpiresAt.Local().Format(time.RFC3339), h.left(s))
	default:
		fmt.Fprintf(w, "access:  expired %s\n", s.ExpiresAt.Local().Format(time.RFC3339))
	}
	if s.canRefresh() {
		fmt.Fprintf(w, "refresh: held\n")
	} else {
		fmt.Fprintf(w, "refresh: none\n")
	}
	fmt.Fprintf(w, "cache:   %s\n", h.store.Path(email))
	for _, other := range accounts {
		if other != email {
			fmt.Fprintf(w, "other:   %s\n", other)
		}
	}
	if !s.validFor(now, 0) && !s.canRefresh() {
		return loginNeeded(fmt.Sprintf("%s is not logged in", email))
	}
	return nil
}

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
	unlock, err := h.lock(context.Background(), email) // not in the middle of a refresh
	if err != nil {
		return err
	}
	defer unlock()
	data, err := h.store.Read(email)
	if err != nil {
		if errors.Is(err, cache.ErrNotFound) {
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
	s.forget()
	if err := h.store.Write(email, s.marshal()); err != nil {
		return err
	}
	fmt.Fprintf(h.cfg.Stderr, "logged out %s\n", email)
	return nil
}
