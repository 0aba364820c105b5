package helper

import (
	"context"
	"time"
)

// DropAccessToken forgets the cached access token of req's account when
// it is rejected, the one git says the server refused, so that the next
// call refreshes. The refresh token stays.
func (h *Helper) DropAccessToken(ctx context.Context, req Request, rejected string) error {
	if err := checkRequest(req); err != nil {
		return err
	}
	c := h.newCall(req)
	key, err := h.account(req)
	if err != nil || key == "" || rejected == "" {
		return err
	}
	lock, err := c.lock(ctx, key, h.lockWait())
	if err != nil {
		return err
	}
	defer lock.Close()
	s, err := c.load(key)
	if err != nil || s == nil || s.AccessToken != rejected {
		return err
	}
	s.AccessToken, s.ExpiresAt = "", time.Time{}
	c.logf("git rejected the cached token of %s: dropped it", key)
	return c.save(s, keepReply)
}
