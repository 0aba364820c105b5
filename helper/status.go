package helper

import (
	"fmt"
	"time"
)

// AccountStatus is what status reports: never a token. Accounts are named
// by their keys.
type AccountStatus struct {
	Email        string `json:"email"` // "" when no account is selected
	AuthHost     string `json:"auth_host"`
	ExpiresAt    string `json:"expires_at,omitempty"` // RFC 3339, UTC
	ExpiresIn    int64  `json:"expires_in"`           // seconds the access token has left
	RefreshToken bool   `json:"refresh_token"`
	// RefreshStore is where the refresh token is: "file" (the cache
	// file) or a vault's name; "" without one. Pending says the cache
	// file holds it because that vault refused it.
	RefreshStore string   `json:"refresh_store,omitempty"`
	Pending      bool     `json:"refresh_pending,omitempty"`
	LoggedIn     bool     `json:"logged_in"` // a token can be had without asking
	CacheFile    string   `json:"cache_file"`
	Others       []string `json:"other_accounts"`
	// Auth is "oauth" for Akiflow's official sign-in's sessions (--oauth);
	// absent for the email-code ones.
	Auth    string    `json:"auth,omitempty"`
	Expiry  time.Time `json:"-"` // ExpiresAt, for text; zero without an access token
	Expired bool      `json:"-"`
}

// Status reports the selected account, and lists the others that have not
// been logged out. Each account's record is read once. With the report, it
// returns an exit-3 error when a login is needed.
func (h *Helper) Status(req Request) (*AccountStatus, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	c := h.newCall(req)
	key, err := h.account(req)
	if err != nil {
		return nil, err
	}
	s, err := c.load(key)
	if err != nil {
		return nil, err
	}
	accounts, err := h.accounts()
	if err != nil {
		return nil, err
	}
	now := c.now()
	st := &AccountStatus{Email: key, AuthHost: h.base.Host, CacheFile: h.store.Describe(key), Others: []string{},
		RefreshToken: s.canRefresh(), LoggedIn: s.canRefresh() || s.validFor(now, 0), ExpiresIn: int64(c.left(s) / time.Second)}
	if h.cfg.OAuth {
		st.Auth = "oauth"
	}
	if s.canRefresh() {
		st.RefreshStore = storeOf(s)
		st.Pending = s.RefreshIn != "" && st.RefreshStore == StoreFile
	}
	if s != nil && s.AccessToken != "" {
		st.Expiry, st.Expired = s.ExpiresAt, !now.Before(s.ExpiresAt)
		st.ExpiresAt = s.ExpiresAt.UTC().Format(time.RFC3339)
	}
	for _, other := range accounts {
		if other == key {
			continue
		}
		// A logged-out account (no token at all) is no other account to
		// switch to; one whose record cannot be read is listed all the same.
		if o, err := c.readRecord(other, false); err == nil && o != nil && !o.hasTokens() {
			continue
		}
		st.Others = append(st.Others, other)
	}
	switch {
	case st.Email == "" && len(st.Others) > 1:
		return st, withCode(ExitLoginNeeded, "no account is selected (several are cached): name one with -e EMAIL, or log in to make it the default")
	case !st.LoggedIn && st.Email == "":
		return st, h.loginNeeded(fmt.Sprintf("no account is logged in to %s", h.base.Host), "")
	case !st.LoggedIn:
		return st, h.loginNeeded(fmt.Sprintf("%s is not logged in to %s", c.shown(st.Email), h.base.Host), c.shown(st.Email))
	}
	return st, nil
}

// Accounts lists the keys of the accounts that have a session on this auth
// host (for completion), sorted.
func (h *Helper) Accounts() []string {
	c := h.newCall(Request{})
	keys, _ := h.accounts()
	var out []string
	for _, key := range keys {
		if s, err := c.readRecord(key, false); err == nil && s.hasTokens() {
			out = append(out, key)
		}
	}
	return out
}

// Account is the key of the account req selects: its own, else the
// default one, else the only one cached; "" when there is none.
func (h *Helper) Account(req Request) (string, error) {
	if err := checkRequest(req); err != nil {
		return "", err
	}
	return h.account(req)
}
