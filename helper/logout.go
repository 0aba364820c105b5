package helper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// LogoutResult is what Logout did.
type LogoutResult struct {
	Accounts []LoggedOut // in the order they were logged out
	// NewDefault is the account that became the default because the
	// default one was logged out; "" when none did.
	NewDefault string
	// None is set when no account was selected and none has a session:
	// there was nothing to log out of.
	None bool
}

// LoggedOut is one account Logout looked at.
type LoggedOut struct {
	Account string // as the request spelt it, else its key
	Forgot  bool   // it had tokens, now forgotten; false: it had none
}

// Logout forgets the selected account's session, or every account's of
// this auth host (all). It keeps each account's client id, and its lock.
// Forgetting nothing is fine: an account named with no session is said to
// have none. When the default account is logged out, the other account
// that logged in last and still has a session becomes the default; with
// none, there is no default any more.
func (h *Helper) Logout(req Request, all bool) (LogoutResult, error) {
	var res LogoutResult
	if err := checkRequest(req); err != nil {
		return res, err
	}
	c := h.newCall(req)
	var targets []string
	if all {
		var err error
		if targets, err = h.accounts(); err != nil {
			return res, err
		}
	} else if key, err := h.account(req); err != nil {
		return res, err
	} else if key == "" {
		return c.noAccountSelected()
	} else {
		targets = []string{key}
	}
	var errs []error
	var gone []string        // accounts without a session now
	var forgotten []*Session // as they were, for their revocation
	for _, key := range targets {
		old, err := c.forget(key)
		forgot := old != nil
		if forgot {
			forgotten = append(forgotten, old)
		}
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case forgot || !all:
			res.Accounts = append(res.Accounts, LoggedOut{c.shown(key), forgot})
		}
		gone = append(gone, key)
	}
	next, err := c.passOnDefault(gone)
	res.NewDefault = next
	c.revoke(forgotten)
	return res, errors.Join(append(errs, err)...)
}

// revoke revokes, at the authorization server, the OAuth sessions just
// forgotten here, when its metadata offer a revocation endpoint (RFC
// 7009): best effort, as they are gone here whatever it answers. A
// failure is one warning, naming no token.
func (c *call) revoke(sessions []*Session) {
	sessions = slices.DeleteFunc(sessions, func(s *Session) bool { return s.RefreshToken == "" || s.OAuthClient == "" })
	if !c.h.cfg.OAuth || len(sessions) == 0 {
		return
	}
	ctx := context.Background()
	client := c.h.newClient()
	d, err := client.Discover(ctx, c.h.mcp)
	if err != nil {
		c.warnf("could not revoke the session at %s (it is forgotten here): %v", c.h.base.Host, err)
		return
	}
	if d.Server.RevocationEndpoint == "" {
		c.logf("%s offers no revocation: the session is forgotten here only", c.h.base.Host)
		return
	}
	for _, s := range sessions {
		if err := client.Revoke(ctx, d.Server.RevocationEndpoint, s.OAuthClient, s.RefreshToken); err != nil {
			c.warnf("could not revoke the session of %s at %s (it is forgotten here): %v", c.shown(s.Email), c.h.base.Host, err)
			continue
		}
		c.logf("revoked the session of %s at %s", c.shown(s.Email), c.h.base.Host)
	}
}

// forget drops an account's tokens, under its lock, and returns the
// session as it was (its refresh token read from its vault, if it can be:
// for its revocation), or nil when it had none. An account with no record
// is not locked: a logout of a mistyped email creates nothing.
func (c *call) forget(key string) (*Session, error) {
	if _, err := c.h.store.Read(key); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	lock, err := c.lock(context.Background(), key, c.h.lockWait()) // not in the middle of a refresh
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	data, err := c.h.store.Read(key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	s, err := parseRecord(key, data)
	if errors.Is(err, errNewerFormat) {
		return nil, fmt.Errorf("%s was %w", c.h.store.Describe(key), err)
	}
	if err != nil {
		return nil, c.removeUnusable(key, data) // unusable anyway: nothing to keep
	}
	if !s.hasTokens() {
		return nil, nil // logged out already: nothing to forget
	}
	if c.h.cfg.OAuth && c.fetchRefreshToken(s) != nil {
		s.RefreshToken = "" // the vault does not give it: nothing to revoke
	}
	old := *s
	s.forget()
	if err := c.save(s, strict); err != nil {
		return nil, err
	}
	return &old, nil
}

// removeUnusable removes the record key that could not be used, read as
// data, under its lock, unless another process saves it meanwhile (sole's
// rule: a login saved there must not be removed).
func (c *call) removeUnusable(key string, data []byte) error {
	p, err := c.h.store.Prepare(key)
	if err != nil {
		return err
	}
	defer p.Discard() // after the Remove: a save starting meanwhile sees this one
	if err := p.Alone(); err != nil {
		return orChanged(err)
	}
	if now, err := c.h.store.Read(key); err == nil && !bytes.Equal(now, data) {
		return orChanged(nil)
	}
	return c.h.store.Remove(key)
}

// errDefaultMoved stops passOnDefault when another process changed the
// current record meanwhile (a login): its choice stands.
var errDefaultMoved = errors.New("the default account changed meanwhile")

// passOnDefault makes, when the current record names one of the accounts
// gone (now without a session), the other account that logged in last and
// still has a session the default, and returns it; with none, it removes
// the record.
func (c *call) passOnDefault(gone []string) (string, error) {
	current := c.h.currentAccount()
	if current == "" || !slices.Contains(gone, current) {
		return "", nil
	}
	next, err := c.lastLoggedIn(gone)
	if err != nil {
		return "", err
	}
	if next == "" {
		if c.h.currentAccount() != current {
			return "", nil
		}
		return "", c.h.store.Remove(currentRecord)
	}
	err = c.h.replace(currentRecord, func() ([]byte, error) {
		if c.h.currentAccount() != current {
			return nil, errDefaultMoved
		}
		return []byte(next + "\n"), nil
	})
	switch {
	case errors.Is(err, errDefaultMoved):
		return "", nil
	case err != nil:
		return "", err
	}
	return next, nil
}

// lastLoggedIn is the key of the account, other than those gone, that
// logged in last (its session's logged_in_at, then the latest expiry) and
// whose session can still give a token without a login; "" when there is
// none.
func (c *call) lastLoggedIn(gone []string) (string, error) {
	accounts, err := c.h.accounts()
	if err != nil {
		return "", err
	}
	now := c.now()
	var best *Session
	next := ""
	for _, key := range accounts { // sorted: ties go to the first
		if slices.Contains(gone, key) {
			continue
		}
		s, err := c.readRecord(key, false)
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
func (c *call) noAccountSelected() (LogoutResult, error) {
	accounts, _ := c.h.accounts()
	var withSession []string
	for _, a := range accounts {
		if s, _ := c.readRecord(a, false); s.hasTokens() {
			withSession = append(withSession, a)
		}
	}
	if len(withSession) == 0 {
		return LogoutResult{None: true}, nil
	}
	return LogoutResult{}, UsageError("no account is selected (several are cached: %s): name one with -e EMAIL", strings.Join(withSession, ", "))
}

// Switch makes req's account, which must have a session, the default one.
func (h *Helper) Switch(req Request) error {
	if err := checkRequest(req); err != nil {
		return err
	}
	if req.Account == "" {
		return UsageError("switch needs the account to make the default: akiflow-token switch EMAIL")
	}
	c := h.newCall(req)
	key := accountKey(req.Account)
	s, err := c.readRecord(key, true)
	if err != nil {
		return err
	}
	if !s.canRefresh() && !s.validFor(c.now(), 0) {
		return h.loginNeeded(fmt.Sprintf("%s has no session on %s to switch to", c.shown(key), h.base.Host), c.shown(key))
	}
	return h.setCurrent(key)
}
