package helper

import (
	"context"
	"fmt"
)

// MoveResult is what Move did.
type MoveResult struct {
	Account  string // as the request spelt it, else its key
	From, To string // StoreFile or a vault's name
	Already  bool   // the refresh token was there already: nothing moved
}

// Move puts the selected account's refresh token in the store to
// (StoreFile, or a vault's name), under the account's lock: written to the
// new store before the record says so, then removed from the old one, so
// that no copy is left behind (but by a process killed between the two,
// which leaves the old vault's copy).
func (h *Helper) Move(req Request, to string) (MoveResult, error) {
	var res MoveResult
	if err := checkRequest(req); err != nil {
		return res, err
	}
	target := to
	if to == StoreFile {
		target = ""
	} else if _, err := h.vault(to); err != nil {
		return res, err
	}
	c := h.newCall(req)
	key, err := h.account(req)
	if err != nil {
		return res, err
	}
	if key == "" {
		none, err := c.noAccountSelected()
		if err == nil && none.None {
			err = h.loginNeeded(fmt.Sprintf("no account is logged in to %s", h.base.Host), "")
		}
		return res, err
	}
	res.Account, res.To = c.shown(key), to
	lock, err := c.lock(context.Background(), key, h.lockWait())
	if err != nil {
		return res, err
	}
	defer lock.Close()
	s, err := c.load(key)
	if err != nil {
		return res, err
	}
	if !s.canRefresh() {
		return res, h.loginNeeded(fmt.Sprintf("%s has no session on %s to move", res.Account, h.base.Host), res.Account)
	}
	res.From = storeOf(s)
	// Already there: the record holds it and names no vault, or the
	// vault holds it as it is. A token that waits in the record for its
	// vault (which refused it) is moved either way.
	if to == StoreFile && s.RefreshIn == "" || to != StoreFile && s.RefreshIn == to && s.inVault {
		res.Already = true
		return res, nil
	}
	if err := c.fetchRefreshToken(s); err != nil {
		return res, err
	}
	old := *s
	s.RefreshIn, s.inVault = target, false
	if err := c.save(s, strict); err != nil {
		return res, err
	}
	if old.RefreshIn != "" && old.RefreshIn != target {
		c.leaveVault(&old)
	}
	return res, nil
}

// storeOf names where s's refresh token is: StoreFile for the record (a
// token the vault refused, waiting in the record, counts as there), or
// the vault's name.
func storeOf(s *Session) string {
	if s.RefreshIn == "" || s.RefreshToken != "" && !s.inVault {
		return StoreFile
	}
	return s.RefreshIn
}
