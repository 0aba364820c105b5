package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"akiflow-token/helper/akiflow"
)

// Token returns a session whose access token has at least MinTTL left, or
// the freshest token the server gives. Read it top to bottom:
//
//  1. a cached token that is still good is returned: no lock, no network;
//  2. otherwise, under the account's lock, the cache is read again (another
//     process may have refreshed it);
//  3. a refresh token is traded for new tokens, saved before returning;
//  4. only with no session, or a refresh token the server rejected, does the
//     person log in again, if there is a terminal and prompting is allowed;
//  5. a transient failure keeps the session, and returns the cached token
//     with a warning while it has not expired.
func (h *Helper) Token(ctx context.Context) (*Session, error) {
	email, err := h.account()
	if err != nil {
		return nil, err
	}
	if s, ok := h.cached(email); ok && !h.cfg.ForceRefresh {
		h.logf("using the cached token of %s (%s left)", email, h.left(s))
		return s, nil
	}
	cached, err := h.load(email)
	if err != nil {
		return nil, err
	}

	ctx, stop := interruptible(ctx)
	defer stop()
	if !cached.canRefresh() {
		// Only a login can help: without anyone to ask, say so at once
		// rather than wait for the lock.
		tty, err := h.terminal()
		if err != nil {
			return nil, err
		}
		tty.Close()
	}
	if email == "" {
		if email, err = h.askEmail(ctx); err != nil {
			return nil, err
		}
	}
	// While the cached token is still good, another process's refresh or
	// login (a person at its code prompt) is not worth a long wait.
	lockCtx, cancelLock := ctx, context.CancelFunc(func() {})
	if cached.validFor(h.now(), 0) {
		lockCtx, cancelLock = context.WithTimeout(ctx, stillGoodWait)
	}
	lock, err := h.lock(lockCtx, email)
	timedOut := errors.Is(lockCtx.Err(), context.DeadlineExceeded)
	cancelLock()
	if err != nil && timedOut && cached.validFor(h.now(), 0) {
		h.warnf("another akiflow-token is refreshing or logging in to %s; using the cached token, which expires in %s", email, h.left(cached))
		return cached, nil
	}
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	s, err := h.load(email)
	if err != nil {
		return nil, err
	}
	if h.refreshedMeanwhile(s, cached) {
		h.logf("another akiflow-token refreshed the token meanwhile")
		return s, nil
	}

	if s.canRefresh() {
		h.logf("refreshing the token of %s (%s left, --min-ttl %s)", email, h.left(s), h.minTTL(s))
		fresh, err := h.refresh(ctx, lock, s)
		if err != nil {
			// Decide on what is saved now: a reply that rotated the
			// refresh token beside an unusable access token left the new
			// refresh token and no access token.
			if saved, lerr := h.load(email); lerr == nil && saved != nil {
				s = saved
			}
		}
		var se *akiflow.ServerError
		switch {
		case err == nil:
			return fresh, nil
		case errors.As(err, &se) && se.Rejected():
			h.warnf("Akiflow rejected the saved session (%s); a new login is needed", se.Code)
			// The refresh token is dead: forget it, so that the next calls
			// ask for a login at once instead of trying it again.
			s.forget()
			if err := h.save(s); err != nil {
				h.warnf("%v", err)
			}
		case ExitCode(err) == ExitInterrupted:
			return nil, err
		case s.validFor(h.now(), 0):
			// Not a rejection: the session is as good as it was, and so is
			// the token it holds, for a while.
			h.warnf("%v; using the cached token, which expires in %s", err, h.left(s))
			return s, nil
		default:
			return nil, explainRefreshError(err)
		}
	}
	return h.login(ctx, email, s)
}

// refreshedMeanwhile says s, read under the lock, is good enough because
// another process refreshed it while this one waited: with --force-refresh,
// only a token other than the one this process meant to replace counts.
func (h *Helper) refreshedMeanwhile(s, cached *Session) bool {
	if !s.validFor(h.now(), h.minTTL(s)) {
		return false
	}
	if h.stale != "" { // Renew
		return s.AccessToken != h.stale
	}
	return !h.cfg.ForceRefresh || cached == nil || s.AccessToken != cached.AccessToken
}

// Cached returns the selected account's cached session if its access token
// has at least MinTTL left: no lock, no network, no warnings. This is the
// cache hit, the path every call takes most of the time.
func (h *Helper) Cached() (*Session, bool) {
	email, err := h.account()
	if err != nil {
		return nil, false
	}
	return h.cached(email)
}

func (h *Helper) cached(email string) (*Session, bool) {
	if email == "" {
		return nil, false
	}
	data, err := h.store.Read(email)
	if err != nil {
		return nil, false
	}
	s, err := ParseSession(data)
	if err != nil || !s.validFor(h.now(), h.minTTL(s)) {
		return nil, false
	}
	return s, true
}

// A refresher trades s's refresh token for new tokens and saves them while
// the account's lock is held. The detached process does it in production
// (refreshDetached); refreshHere does it in this process.
type refresher func(ctx context.Context, lock io.Closer, s *Session) (*Session, error)

// notSentError is a refresh that was not sent because its result could not
// have been saved: sending it would have spent the refresh token.
type notSentError struct{ err error }

func (e *notSentError) Error() string {
	return e.err.Error() + "; not refreshing, since the new session could not be saved"
}

func (e *notSentError) Unwrap() error { return e.err }

// refreshHere refreshes in this process, under the lock its caller holds.
// The record that will hold the new tokens is prepared first (its space
// reserved), so that a refresh whose result could not be saved (and whose
// rotated token would be lost) is never sent. Once sent, a refresh is not
// abandoned on Ctrl-C: the server would spend the old token all the same.
// Whatever new refresh token the server sent is saved, even beside an
// access token that could not be used.
func (h *Helper) refreshHere(ctx context.Context, _ io.Closer, s *Session) (*Session, error) {
	var next *Session
	var refused error // the reply's error, once its new refresh token is saved
	sent := false
	err := h.store.Replace(s.Email, func() ([]byte, error) {
		sent = true
		tokens, err := h.httpClient().Refresh(context.WithoutCancel(ctx), s.RefreshToken, s.ClientID)
		if err != nil && (tokens == nil || tokens.RefreshToken == "") {
			return nil, err
		}
		fresh := *s
		fresh.apply(tokens)
		fresh.Generation++
		next, refused = &fresh, err
		return next.marshal(), nil
	})
	switch {
	case err != nil && !sent:
		return nil, &notSentError{err}
	case err != nil && next != nil && next.AccessToken != "":
		// The server has rotated the refresh token and the new one could
		// not be saved (a copy-on-write file system, where no space can be
		// reserved): the token still serves until it expires.
		h.warnf("%v; the refreshed session could not be saved: this token works until %s, then a login will be needed",
			err, next.ExpiresAt.Local().Format("15:04"))
		return next, nil
	case err != nil:
		return nil, err
	case refused != nil:
		h.logf("saved the new refresh token from a reply whose access token was refused")
		return nil, refused
	}
	h.logf("saved the refreshed session to %s", h.store.Path(s.Email))
	return next, nil
}

// minTTL is the effective --min-ttl for s: at most half the lifetime
// Akiflow issued its token for, so that short-lived tokens (a staging
// server, or Akiflow shortening them) cost one refresh per half lifetime,
// not one per call.
func (h *Helper) minTTL(s *Session) time.Duration {
	if s != nil && s.Lifetime > 0 {
		return min(h.cfg.MinTTL, time.Duration(s.Lifetime)*time.Second/2)
	}
	return h.cfg.MinTTL
}

// explainRefreshError says what to do about a failed refresh when no
// still-good token remains: try later (exit 4) for what may pass; for a
// refusal that is not Akiflow's rejection of the token (a proxy's 401, a
// firewall's 403), a login may still help.
func explainRefreshError(err error) error {
	var se *akiflow.ServerError
	if errors.As(err, &se) && !se.Transient() {
		switch se.Status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w; if it goes on, run \"akiflow-token login\"", err)
		}
	}
	return err
}

// stillGoodWait bounds the wait for the lock when the cached token is still
// good: a refresh by another process takes less, a login much more.
const stillGoodWait = 3 * time.Second

// interruptible cancels ctx on Ctrl-C, SIGTERM or SIGHUP (a closed
// terminal). Only the slow paths set it up: a cache hit has no use for it.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}
