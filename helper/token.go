package helper

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"akiflow-token/helper/akiflow"
)

// Token returns a session whose access token has at least req.MinTTL left,
// or the freshest token the server gives. Read it top to bottom:
//
//  1. a cached token that is still good is returned: no lock, no network;
//  2. otherwise, under the account's lock, the cache is read again (another
//     process may have refreshed it);
//  3. a refresh token is traded for new tokens, saved before returning;
//  4. only with no session, or a refresh token the server rejected, does the
//     person log in again, if req.Prompt can ask them;
//  5. a failure that is not a rejection keeps the session, and returns the
//     cached token with a warning while it has not expired.
func (h *Helper) Token(ctx context.Context, req Request) (*Session, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	c := h.newCall(req)
	key, err := h.account(req)
	if err != nil {
		return nil, err
	}
	cached, ok := c.cached(key)
	if ok && !req.Force {
		c.logf("using the cached token of %s (%s left)", key, c.left(cached))
		c.warnIfPending(cached)
		return cached, nil
	}
	if cached == nil {
		// No record, or one that cannot be used: read it again to say why.
		if cached, err = c.load(key); err != nil {
			return nil, err
		}
	}

	ctx, stop := interruptible(ctx)
	defer stop()
	if !cached.canRefresh() {
		// Only a login can help: without anyone to ask, say so at once
		// rather than wait for the lock.
		tty, err := c.terminalFor(key)
		if err != nil {
			return nil, err
		}
		tty.Close()
	}
	if key == "" && c.h.cfg.OAuth {
		return c.implicitLogin(ctx, "") // the sign-in names the account
	}
	if key == "" {
		email, err := c.askEmail(ctx)
		if err != nil {
			return nil, err
		}
		c.req.Account, key = email, accountKey(email)
	}
	// While the cached token is still good, another process's refresh or
	// login (a person at its code prompt) is not worth a long wait.
	wait := h.lockWait()
	if cached.validFor(c.now(), 0) {
		wait = stillGoodWait
	}
	lock, err := c.lock(ctx, key, wait)
	if errors.Is(err, errLockBusy) && wait < h.lockWait() && !cached.validFor(c.now(), 0) {
		// The token expired while this call waited: only the refresh or
		// login in progress can help now, worth the whole wait.
		lock, err = c.lock(ctx, key, h.lockWait()-wait)
	}
	switch {
	case err == nil:
	case ExitCode(err) != ExitInterrupted && cached.validFor(c.now(), 0):
		// Another process's refresh or login is taking long, or the lock
		// cannot be had at all (a read-only or full cache): the token
		// still serves.
		if errors.Is(err, errLockBusy) {
			c.warnf("another akiflow-token is refreshing or logging in to %s; using the cached token, which expires in %s", c.shown(key), c.left(cached))
		} else {
			// The error last: it may end with a command to run.
			c.warnf("using the cached token, which expires in %s (no refresh runs without the account's lock): %v", c.left(cached), err)
		}
		return cached, nil
	default:
		return nil, err
	}
	s, err := c.refreshLocked(ctx, lock, key, cached)
	lock.Close()
	if err != nil || s != nil {
		return s, err
	}
	return c.implicitLogin(ctx, key)
}

// refreshLocked is Token's work under the account's lock: the session if
// another process refreshed it meanwhile, else a refreshed one; nil and
// no error when only a login can help.
func (c *call) refreshLocked(ctx context.Context, lock Lock, key string, cached *Session) (*Session, error) {
	s, err := c.load(key)
	if err != nil {
		return nil, err
	}
	if c.refreshedMeanwhile(s, cached) {
		c.logf("another akiflow-token refreshed the token meanwhile")
		return s, nil
	}
	if !s.canRefresh() {
		return nil, nil
	}
	c.logf("refreshing the token of %s (%s left, --min-ttl %s)", key, c.left(s), c.minTTL(s))
	fresh, err := c.h.refresher(ctx, c, lock, s)
	if err != nil {
		// Decide on what is saved now: a rejected refresh token was
		// forgotten, and a reply that rotated the refresh token beside an
		// unusable access token left the new refresh token alone.
		if saved, lerr := c.load(key); lerr == nil && saved != nil {
			s = saved
		}
	}
	var rejected *rejectedError
	switch {
	case err == nil:
		return fresh, nil
	case ExitCode(err) == ExitInterrupted:
		return nil, err
	case s.validFor(c.now(), 0):
		// The session holds a token that is still good: not a rejection
		// by Akiflow (which forgets it), or one of the refresh token alone
		// (a vault that lost it). It serves, for a while.
		c.warnf("using the cached token, which expires in %s: %v", c.left(s), err) // the error last: it may end with a command
		return s, nil
	case errors.As(err, &rejected):
		c.warnf("%v; a new login is needed", err)
		return nil, nil
	}
	return nil, err
}

// Cached returns the requested account's cached session if its access
// token has at least req.MinTTL left and is not req.Stale: no lock, no
// network, no warnings. This is the cache hit, the path every call takes
// most of the time.
func (h *Helper) Cached(req Request) (*Session, bool) {
	if checkRequest(req) != nil {
		return nil, false
	}
	key, err := h.account(req)
	if err != nil {
		return nil, false
	}
	if s, ok := h.newCall(req).cached(key); ok {
		return s, true
	}
	return nil, false
}

// cached reads the account's record, once: ok says its access token has
// at least the effective --min-ttl left and is not req.Stale. s is the
// record as it is, good or not (its refresh token not fetched from a
// vault); nil when there is none or it cannot be read or parsed.
func (c *call) cached(key string) (s *Session, ok bool) {
	if key == "" {
		return nil, false
	}
	data, err := c.h.store.Read(key)
	if err != nil {
		return nil, false
	}
	if s, err = parseRecord(key, data); err != nil {
		return nil, false
	}
	return s, s.validFor(c.now(), c.minTTL(s)) && s.AccessToken != c.req.Stale
}

// refreshedMeanwhile says s, read under the lock, is good enough because
// another process refreshed it while this one waited: with req.Force, only
// a token other than the one this process meant to replace counts.
func (c *call) refreshedMeanwhile(s, cached *Session) bool {
	switch {
	case !s.validFor(c.now(), c.minTTL(s)):
		return false
	case c.req.Stale != "":
		return s.AccessToken != c.req.Stale
	}
	return !c.req.Force || cached == nil || s.AccessToken != cached.AccessToken
}

// A refresher trades s's refresh token for new tokens and saves them (or,
// when Akiflow rejects it, forgets it) while the account's lock is held.
// The detached process does it in production (refreshDetached); in the
// unit tests, refreshAndSave does it in the test's process.
type refresher func(ctx context.Context, c *call, lock Lock, s *Session) (*Session, error)

// refreshAndSave refreshes in this process, under the lock its caller
// holds. The record that will hold the new tokens is prepared first (its
// space reserved), so that a refresh whose result could not be saved (and
// whose rotated token would be lost) is never sent. Once sent, a refresh is
// not abandoned on Ctrl-C: the server would spend the old token all the
// same. Whatever new refresh token the server sent is saved, even beside
// an access token that could not be used; a refresh token Akiflow rejected
// is forgotten, so that the next calls ask for a login at once.
func (c *call) refreshAndSave(ctx context.Context, s *Session) (*Session, error) {
	p, err := c.h.store.Prepare(s.Email)
	if err != nil {
		return nil, fmt.Errorf("not refreshing, since the new session could not be saved: %w", err) // the cause last: it may end with its fix
	}
	defer p.Discard()
	// One refresh token, one sender: another process's save of the
	// session, under way or done, is the one that counts.
	if changed, err := c.sole(p, s.Email, s); err != nil || changed {
		if now, lerr := c.load(s.Email); err == nil && lerr == nil && now.validFor(c.now(), 0) {
			c.logf("another akiflow-token saved the session meanwhile")
			return now, nil
		}
		return nil, fmt.Errorf("not refreshing: %w", orChanged(err))
	}
	if err := c.fetchRefreshToken(s); err != nil {
		return nil, err
	}
	tokens, err := c.refreshTokens(context.WithoutCancel(ctx), s)
	next := *s
	next.Generation++
	switch {
	case err != nil && (tokens == nil || tokens.RefreshToken == ""):
		failure := refreshFailure(err, c.h.LoginCommand(c.shown(s.Email)))
		var rejected *rejectedError
		var se *akiflow.ServerError
		switch {
		case errors.As(err, &se) && se.ClientUnknown():
			// The registration is gone, and with it the refresh token it
			// was issued to; the access token serves until it expires.
			c.forgetRegistration(s.OAuthClient)
			next.RefreshToken, next.inVault = "", false
			if serr := c.commit(p, &next); serr != nil {
				c.warnf("%v", serr)
			}
		case errors.As(failure, &rejected):
			next.forget()
			if serr := c.commit(p, &next); serr != nil {
				c.warnf("%v", serr)
			}
		}
		return nil, failure
	case err != nil:
		// A new refresh token beside an access token that cannot be used:
		// the refresh token is what matters.
		next.apply(tokens)
		if serr := c.commit(p, &next); serr != nil {
			return nil, serr
		}
		c.logf("saved the new refresh token from a reply whose access token was refused")
		return nil, refreshFailure(err, c.h.LoginCommand(c.shown(s.Email)))
	}
	next.apply(tokens)
	if err := c.commit(p, &next); err != nil {
		// The server has rotated the refresh token and the new one could
		// not be saved (a copy-on-write file system, where no space can be
		// reserved): the token still serves until it expires.
		c.warnf("%v; the refreshed session could not be saved: this token works until %s; after that, unless a later run can still put it in place, a login is needed",
			err, next.ExpiresAt.Local().Format("15:04"))
		c.unsaved = true
		return &next, nil
	}
	c.logf("saved the refreshed session to %s", c.h.store.Describe(s.Email))
	return &next, nil
}

// commit saves s in the prepared record p. A refresh token for a vault
// is staged in p first, as the record the vault's refusal would leave:
// the vault's call may take seconds, and a process killed meanwhile leaves
// it where the next run recovers it.
func (c *call) commit(p Pending, s *Session) error {
	if s.RefreshIn != "" && !s.inVault && s.RefreshToken != "" {
		if err := p.Stage(s.marshal()); err != nil {
			return err
		}
	}
	data, err := c.encode(s, keepReply)
	if err != nil {
		return err
	}
	return p.Commit(data)
}

// rejectedError is Akiflow's refusal of the refresh token: the session is
// over, and only a login helps.
type rejectedError struct{ msg string }

func (e *rejectedError) Error() string { return e.msg }
func (e *rejectedError) ExitCode() int { return ExitLoginNeeded }

// refreshFailure classifies a failed refresh: Akiflow's rejection of the
// refresh token, or else the error, saying what to do about it: try later
// (exit 4) for what may pass; for a refusal that is not Akiflow's
// rejection of the token (a proxy's 401, a firewall's 403), a login may
// still help.
func refreshFailure(err error, login string) error {
	var se *akiflow.ServerError
	if !errors.As(err, &se) || se.Transient() {
		return err
	}
	if se.Rejected() {
		return &rejectedError{fmt.Sprintf("Akiflow rejected the saved session (%s)", oneLine(se.Code))}
	}
	if se.ClientUnknown() {
		return &rejectedError{"Akiflow no longer knows the registration of akiflow-token that this session was issued to (invalid_client)"}
	}
	switch se.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w; if it goes on, run: %s", err, login)
	}
	return err
}

// minTTL is the effective --min-ttl for s: at most half the lifetime
// Akiflow issued its token for, so that short-lived tokens (a staging
// server, or Akiflow shortening them) cost one refresh per half lifetime,
// not one per call.
func (c *call) minTTL(s *Session) time.Duration {
	if s != nil && s.Lifetime > 0 {
		return min(c.req.MinTTL, time.Duration(s.Lifetime)*time.Second/2)
	}
	return c.req.MinTTL
}

// stillGoodWait bounds the wait for the lock when the cached token is still
// good: a refresh by another process takes less, a login much more.
var stillGoodWait = 3 * time.Second // a variable for the tests

// interruptible cancels ctx on Ctrl-C, SIGTERM or SIGHUP (a closed
// terminal). Only the slow paths set it up: a cache hit has no use for it.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}
