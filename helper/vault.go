package helper

import (
	"errors"
	"fmt"
)

// Vault keeps refresh tokens apart from the records, in a place of their
// own (an OS keyring): the seam where a second home for them plugs in,
// with no change to the records, the locks or the flow. Without one
// (Config.Vault nil), a record holds its refresh token itself. A record
// says which vault holds its token (Session.RefreshIn), so that later
// calls need no flag to find it.
type Vault interface {
	// Name is what a record says of where its refresh token is
	// ("keyring").
	Name() string
	// Get returns the account's refresh token.
	Get(account string) (string, error)
	// Set replaces the account's refresh token; Delete forgets it.
	Set(account, refreshToken string) error
	Delete(account string) error
}

// encode is s as its record holds it: with its refresh token, or with the
// vault's name in its place once the vault holds it. Every save goes
// through it.
func (h *Helper) encode(s *Session) ([]byte, error) {
	v := h.cfg.Vault
	if v == nil {
		out := *s
		out.RefreshIn = ""
		return out.marshal(), nil
	}
	var err error
	if s.RefreshToken == "" {
		err = v.Delete(s.Email)
	} else {
		err = v.Set(s.Email, s.RefreshToken)
	}
	if err != nil {
		return nil, fmt.Errorf("could not keep the refresh token in the %s: %w", v.Name(), err)
	}
	out := *s
	out.RefreshToken, out.RefreshIn = "", ""
	if s.RefreshToken != "" {
		out.RefreshIn = v.Name()
	}
	return out.marshal(), nil
}

// decode parses a record, fetching its refresh token from the vault that
// holds it.
func (h *Helper) decode(data []byte) (*Session, error) {
	s, err := ParseSession(data)
	if err != nil || s.RefreshIn == "" {
		return s, err
	}
	v := h.cfg.Vault
	if v == nil || v.Name() != s.RefreshIn {
		return nil, fmt.Errorf("its refresh token is in the %s, which this call does not use", oneLine(s.RefreshIn))
	}
	token, err := v.Get(s.Email)
	if err != nil {
		return nil, fmt.Errorf("could not read the refresh token from the %s: %w", v.Name(), err)
	}
	if token == "" {
		return nil, errors.New("its refresh token is missing from the " + v.Name())
	}
	s.RefreshToken = token
	return s, nil
}
