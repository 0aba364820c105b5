package helper

import "fmt"

// Vault keeps refresh tokens apart from the records, in a place of their
// own (the OS keyring): the seam where a second home for them plugs in,
// with no change to the records, the locks or the flow. A record says
// which vault holds its token (Session.RefreshIn), so that later calls
// need no flag to find it; a record without one holds its token itself.
//
// The record's lock is the one lock for both (a keyring has no
// compare-and-swap), and the vault is written before the record that
// points at it: a record always names a token the vault holds, and a
// process killed between the two leaves the vault one step ahead, which
// the next refresh reads.
type Vault interface {
	// Name is what a record says of where its refresh token is
	// ("keyring").
	Name() string
	// Get returns the refresh token of the account of the store (its
	// folder, as Store.Describe("") names it) for the auth host; "" when
	// there is none. The store is part of the key: two cache folders of
	// one user (a sandboxed app's, a project's XDG_CACHE_HOME) keep
	// sessions of the same account that must not share a token.
	Get(host, store, account string) (string, error)
	// Set replaces the account's refresh token; Delete forgets it (none is
	// no error).
	Set(host, store, account, refreshToken string) error
	Delete(host, store, account string) error
}

// vaultKey is the key of an account's token in a vault: this Helper's
// auth host (its kind of session included) and store.
func (c *call) vaultKey() (host, store string) { return c.h.group, c.h.store.Describe("") }

// StoreFile is the store of a refresh token kept in the record itself, as
// Request.Store names it.
const StoreFile = "file"

// vault is the Vault of a name, or an error that says this build knows
// none of that name.
func (h *Helper) vault(name string) (Vault, error) {
	if h.cfg.Vault != nil {
		if v := h.cfg.Vault(name); v != nil {
			return v, nil
		}
	}
	return nil, fmt.Errorf("this akiflow-token keeps no refresh token in a %s", oneLine(name))
}

// A save either keeps a reply that arrived, come what may, or changes
// nothing unless all of it can be done.
type saveMode int

const (
	// keepReply: a refresh token the server just gave (a refresh, a
	// login) that the vault refuses is kept in the record instead, with a
	// warning on every call until a later save moves it to the vault: the
	// server has spent the old one.
	keepReply saveMode = iota
	// strict: a vault's failure fails the save (logout, a move between
	// stores): nothing is lost by trying again.
	strict
)

// encode is s as its record holds it, after doing to the vault what the
// record will say: the refresh token set there (the record then holds
// only the vault's name), or removed from there when s has none. Every
// save goes through it.
func (c *call) encode(s *Session, mode saveMode) ([]byte, error) {
	out := *s
	if s.RefreshIn == "" || s.inVault {
		if s.inVault {
			out.RefreshToken = ""
		}
		return out.marshal(), nil
	}
	v, err := c.h.vault(s.RefreshIn)
	host, store := c.vaultKey()
	switch {
	case err != nil && s.RefreshToken == "":
		// Forgetting a token in a vault this build does not know (a newer
		// one's): the record forgets it; the vault's copy cannot be reached.
		c.warnf("%v: its refresh token there is left alone", err)
		out.RefreshIn, err = "", nil
	case err != nil:
	case s.RefreshToken == "":
		err = v.Delete(host, store, s.Email)
		out.RefreshIn = ""
	default:
		if err = v.Set(host, store, s.Email, s.RefreshToken); err == nil {
			out.RefreshToken = ""
			s.inVault = true
		}
	}
	switch {
	case err == nil:
	case mode == strict:
		return nil, err
	case s.RefreshToken == "":
		// A forgotten token (rejected by Akiflow) the vault still holds
		// is a dead one: the record says there is none.
		c.warnf("%v", err)
	default:
		c.warnf("keeping the new refresh token in %s until the %s takes it: %v", c.h.store.Describe(s.Email), s.RefreshIn, err)
	}
	return out.marshal(), nil
}

// fetchRefreshToken makes sure s holds its refresh token, reading it from
// its vault: before a refresh is sent, which also checks that the vault
// answers, so that the new token will have somewhere to go.
func (c *call) fetchRefreshToken(s *Session) error {
	if s.RefreshToken != "" || s.RefreshIn == "" {
		return nil
	}
	v, err := c.h.vault(s.RefreshIn)
	if err != nil {
		return err
	}
	host, store := c.vaultKey()
	token, err := v.Get(host, store, s.Email)
	switch {
	case err != nil:
		return err
	case token == "":
		return &rejectedError{fmt.Sprintf("the %s holds no refresh token for %s", s.RefreshIn, c.shown(s.Email))}
	}
	s.RefreshToken = token
	return nil
}

// pendingWarning is the warning of every call while a refresh token the
// vault refused waits in the record.
func (c *call) warnIfPending(s *Session) {
	if s != nil && s.RefreshIn != "" && s.RefreshToken != "" && !s.inVault {
		c.warnf("the refresh token of %s is in %s, not the %s, which refused it; the next refresh moves it there", c.shown(s.Email), c.h.store.Describe(s.Email), s.RefreshIn)
	}
}
