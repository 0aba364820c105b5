package endpoint

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"akiflow-token/helper/format"
)

// source gives the endpoint's requests their tokens, through the Source
// (in akiflow-token, the same cache, lock and refresh as every other call,
// so that a CLI call, a kubectl call and the endpoint never spend the
// refresh token twice).
//
// A cache hit (Source.Cached) costs a read of the session file and no
// network, and runs in any request's goroutine. Anything else (a refresh,
// a login that is needed, a failure) runs one call at a time: the requests
// that arrive meanwhile wait for it and share its outcome, so that a burst
// of requests costs one refresh.
type source struct {
	src Source
	ctx context.Context // the endpoint's life: a request that leaves does not cut a refresh short

	// hit is the last cache hit, served from memory for hitFor: a burst
	// of requests reads the cache once, not once each.
	hit atomic.Pointer[memoryHit]

	mu      sync.Mutex
	running chan struct{} // closed when the call under way ends; nil when none
	last    outcome       // of the last call
	// The last refresh forced by a 401: the token refused, the one the
	// refresh gave, and when. A token that a forced refresh gave and that
	// is refused too forces another only after forcedBackoff, which
	// doubles each time (a path that always answers 401 would otherwise
	// cost a refresh per request), up to maxForcedBackoff: a token revoked
	// later is renewed then.
	forcedFrom, forcedTo string
	forcedAt             time.Time
	forcedBackoff        time.Duration
}

type outcome struct {
	s     format.Credential
	err   error
	at    time.Time
	fresh bool // s had at least the effective --min-ttl left (a cache hit right after)
}

type memoryHit struct {
	s  format.Credential
	at time.Time
}

// hitFor is how long a cache hit is served from memory. A token another
// process replaced meanwhile is still good (it was not revoked: a revoked
// one comes back as a 401, and renew goes to the Source); a logout is
// seen hitFor late. (A variable for the tests, whose stub changes state
// at once.)
var hitFor = 100 * time.Millisecond

// The bounds of the wait between refreshes forced by 401s to tokens that
// forced refreshes gave.
const (
	firstForcedBackoff = 10 * time.Second
	maxForcedBackoff   = 30 * time.Minute
)

// cached is Source.Cached, through the memory of the last hit.
func (t *source) cached() (format.Credential, bool) {
	if h := t.hit.Load(); h != nil && time.Since(h.at) < hitFor {
		return h.s, true
	}
	s, ok := t.src.Cached()
	if ok {
		t.hit.Store(&memoryHit{s, time.Now()})
	} else {
		t.hit.Store(nil)
	}
	return s, ok
}

// holdoff is how long a failing Akiflow is left alone: within it, a call
// that failed for a reason that may pass (or fell back on a token that is
// still good, but under --min-ttl) is not tried again; its outcome serves.
// Without it, every request would try a refresh of its own.
const holdoff = 5 * time.Second

// token returns a session whose access token has at least the effective
// --min-ttl left (or, while Akiflow fails, one that is still good).
func (t *source) token(ctx context.Context) (format.Credential, error) {
	return t.get(ctx, "")
}

// renew returns a session whose access token is not stale, one the API
// refused: refreshed if need be, at most once per access token (a token
// that a forced refresh gave forces none). ok is false when no other token
// could be had: the 401 stands.
func (t *source) renew(ctx context.Context, stale string) (format.Credential, bool, error) {
	s, err := t.get(ctx, stale)
	if err != nil {
		return s, false, err
	}
	return s, s.AccessToken != stale, nil
}

func (t *source) get(ctx context.Context, stale string) (format.Credential, error) {
	for {
		if s, ok := t.cached(); ok && s.AccessToken != stale {
			return s, nil
		}
		t.mu.Lock()
		if o, ok := t.recent(stale); ok {
			t.mu.Unlock()
			return o.s, o.err
		}
		if running := t.running; running != nil {
			t.mu.Unlock()
			select {
			case <-running:
			case <-ctx.Done():
				return format.Credential{}, ctx.Err()
			}
			t.mu.Lock()
			o := t.last
			t.mu.Unlock()
			// The call waited for serves, unless it gave the very token
			// that was refused.
			if o.err != nil || o.s.AccessToken != stale {
				return o.s, o.err
			}
			continue
		}
		if stale != "" && (stale == t.forcedFrom || stale == t.forcedTo && time.Since(t.forcedAt) < t.forcedBackoff) {
			// A refresh was forced for this token already, or gave it a
			// moment ago: take the token as it is.
			t.mu.Unlock()
			stale = ""
			continue
		}
		if stale != "" {
			if stale == t.forcedTo {
				t.forcedBackoff = min(2*t.forcedBackoff, maxForcedBackoff)
			} else {
				t.forcedBackoff = firstForcedBackoff
			}
			t.forcedFrom, t.forcedTo, t.forcedAt = stale, "", time.Now()
		}
		running := make(chan struct{})
		t.running = running
		t.mu.Unlock()

		t.hit.Store(nil)
		o := t.call(stale)
		t.hit.Store(nil)

		t.mu.Lock()
		t.last, t.running = o, nil
		if stale != "" && o.err == nil {
			t.forcedTo = o.s.AccessToken
		}
		close(running)
		t.mu.Unlock()
		return o.s, o.err
	}
}

// recent returns the last call's outcome while it stands in for a new
// call: within holdoff of a failure that a new call would only repeat, or
// of a fallback on a still-good token. A login that is needed is looked at
// again at every request (it costs no network), so that a login elsewhere
// is picked up at once. Called with t.mu held.
func (t *source) recent(stale string) (outcome, bool) {
	o := t.last
	if o.at.IsZero() || time.Since(o.at) > holdoff {
		return o, false
	}
	switch {
	case o.err != nil:
		return o, !errors.Is(o.err, ErrLoginNeeded) && !errors.Is(o.err, ErrInterrupted)
	case o.fresh:
		return o, false // then it was a cache hit, which Cached would have found
	}
	return o, o.s.AccessToken != stale && time.Now().Before(o.s.ExpiresAt)
}

// call runs the flow once: Token, or Renew for a refused token.
func (t *source) call(stale string) outcome {
	var s format.Credential
	var err error
	if stale != "" {
		s, err = t.src.Renew(t.ctx, stale)
	} else {
		s, err = t.src.Token(t.ctx)
	}
	o := outcome{s: s, err: err, at: time.Now()}
	if err == nil {
		c, ok := t.src.Cached()
		o.fresh = ok && c.AccessToken == s.AccessToken
	}
	return o
}
