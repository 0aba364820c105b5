package endpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// What the endpoint adds to a Source (tokens.go): one Token or Renew call
// at a time, its outcome shared by the requests that arrive meanwhile, a
// holdoff after failures, at most one forced renew per access token.

func newSource(src *stubSource) *source { return &source{src: src, ctx: context.Background()} }

// The tests' stub changes its state at once (an expiry, a revocation):
// the endpoint's memory of the last hit would hide that for hitFor, which
// TestSourceRemembersTheLastHit tests alone.
func TestMain(m *testing.M) {
	hitFor = 0
	os.Exit(m.Run())
}

// A burst of requests reads the cache once per hitFor: the last hit is
// served from memory, and asked for again once hitFor has passed, or once
// a refresh ran.
func TestSourceRemembersTheLastHit(t *testing.T) {
	defer func(d time.Duration) { hitFor = d }(hitFor)
	hitFor = time.Hour
	src := newStub(t)
	s := newSource(src)
	for range 5 {
		if c, err := s.token(context.Background()); err != nil || c.AccessToken != "tok-1" {
			t.Fatalf("token: %s, %v", c.AccessToken, err)
		}
	}
	if c := src.count(); c.Cached != 1 {
		t.Errorf("5 requests made %d Cached calls, want 1", c.Cached)
	}
	s.hit.Load().at = time.Now().Add(-2 * hitFor) // hitFor has passed
	s.token(context.Background())
	if c := src.count(); c.Cached != 2 {
		t.Errorf("after hitFor: %d Cached calls in all, want 2", c.Cached)
	}
	// A refused token is never served from memory: renew asks the Source.
	if c, ok, err := s.renew(context.Background(), "tok-1"); err != nil || !ok || c.AccessToken != "tok-2" {
		t.Errorf("renew tok-1: %s, %v, %v; want tok-2", c.AccessToken, ok, err)
	}
	if c, err := s.token(context.Background()); err != nil || c.AccessToken != "tok-2" {
		t.Errorf("token after the renew: %s, %v; want tok-2 (not the remembered tok-1)", c.AccessToken, err)
	}
}

// A fresh token costs a Cached call, nothing more.
func TestSourceCacheHit(t *testing.T) {
	src := newStub(t)
	s := newSource(src)
	for range 3 {
		if c, err := s.token(context.Background()); err != nil || c.AccessToken != "tok-1" {
			t.Fatalf("token: %s, %v", c.AccessToken, err)
		}
	}
	if c := src.count(); c != (stubCalls{Cached: 3}) {
		t.Errorf("calls: %+v, want 3 Cached", c)
	}
}

// A burst of calls on an expired token costs one Token call: the calls
// that arrive while it runs wait for it and take its outcome, a token or
// a failure.
func TestSourceOneCallForABurst(t *testing.T) {
	for _, fails := range []bool{false, true} {
		src := newStub(t)
		src.expire()
		if fails {
			src.fail(fmt.Errorf("Akiflow answered 503: %w", ErrUnavailable))
		}
		s := newSource(src)
		release := src.hold()
		const n = 30
		var wg sync.WaitGroup
		got := make([]string, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.token(context.Background())
				got[i], errs[i] = c.AccessToken, err
			}()
		}
		// Every call has missed the cache while Token runs: each waits.
		waitFor(t, "the burst to wait for one Token call", func() bool {
			c := src.count()
			return c.Token == 1 && c.Cached >= n
		})
		release()
		wg.Wait()
		if c := src.count(); c.Token != 1 || c.Renew != 0 {
			t.Errorf("failing %v: a burst of %d made %d Token and %d Renew calls, want 1 and 0", fails, n, c.Token, c.Renew)
		}
		for i := range n {
			switch {
			case fails && !errors.Is(errs[i], ErrUnavailable):
				t.Errorf("call %d: %q, %v; want the shared failure", i, got[i], errs[i])
			case !fails && (errs[i] != nil || got[i] != "tok-2"):
				t.Errorf("call %d: %q, %v; want tok-2", i, got[i], errs[i])
			}
		}
	}
}

// The same through the endpoint: a burst of requests on an expired token,
// on the token URL and the proxy, costs one Token call, and every request
// gets the token it made.
func TestTokenURLAndProxyShareOneTokenCall(t *testing.T) {
	r := newRig(t, nil, nil)
	r.src.expire()
	release := r.src.hold()
	defer release()
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				resp, body := r.get("GET", r.ep.TokenURL()+"?format=raw", nil)
				if resp.StatusCode != 200 || body != "tok-2" {
					t.Errorf("token URL: %d %q, want tok-2", resp.StatusCode, body)
				}
			} else {
				resp, body := r.get("GET", r.ep.ProxyURL()+"/v5/tasks", nil)
				if resp.StatusCode != 200 {
					t.Errorf("proxy: %d %q", resp.StatusCode, body)
				}
			}
		}()
	}
	waitFor(t, "the burst to wait for one Token call", func() bool {
		c := r.src.count()
		return c.Token == 1 && c.Cached >= n
	})
	release()
	wg.Wait()
	if c := r.src.count(); c.Token != 1 {
		t.Errorf("a burst of %d requests made %d Token calls, want 1", n, c.Token)
	}
	if a := r.stubAPI(); a.calls("tok-2") != n/2 {
		t.Errorf("the API saw tok-2 %d times, want %d", a.calls("tok-2"), n/2)
	}
}

// A failure that a new call would only repeat stands for holdoff: calls
// within it take its outcome, then Token is tried again. A login that is
// needed, or an interruption, is looked at again at every call. A failure
// never hides a token the cache has.
func TestSourceHoldsOffAfterAFailure(t *testing.T) {
	for _, tc := range []struct {
		err  error
		held bool
	}{
		{fmt.Errorf("Akiflow answered 500: %w", ErrUnavailable), true},
		{fmt.Errorf("no answer: %w", ErrTimeout), true},
		{errors.New("the disk is full"), true},
		{fmt.Errorf("revoked: %w", ErrLoginNeeded), false},
		{fmt.Errorf("a signal: %w", ErrInterrupted), false},
	} {
		src := newStub(t)
		src.expire()
		src.fail(tc.err)
		s := newSource(src)
		start := time.Now()
		for range 3 {
			if _, err := s.token(context.Background()); !errors.Is(err, tc.err) {
				t.Errorf("%q: got %v", tc.err, err)
			}
		}
		switch n := src.count().Token; {
		case !tc.held && n != 3:
			t.Errorf("%q: 3 calls made %d Token calls, want 3", tc.err, n)
		case tc.held && within(t, start, holdoff, "the holdoff") && n != 1:
			t.Errorf("%q: 3 calls within the holdoff made %d Token calls, want 1", tc.err, n)
		}

		// Past the holdoff, Token is tried again.
		before := src.count().Token
		s.mu.Lock()
		s.last.at = s.last.at.Add(-holdoff - time.Second)
		s.mu.Unlock()
		s.token(context.Background())
		if n := src.count().Token; n != before+1 {
			t.Errorf("%q: past the holdoff, %d Token calls, want 1", tc.err, n-before)
		}

		// A token in the cache is served whatever failed.
		src.login()
		if c, err := s.token(context.Background()); err != nil || c.AccessToken != "tok-2" {
			t.Errorf("%q: after a login elsewhere: %s, %v; want tok-2", tc.err, c.AccessToken, err)
		}
	}
}

// While Akiflow fails, Token falls back on a token that is still good
// (under the min-ttl): within holdoff it serves without another call, as
// long as it has not expired.
func TestSourceFallbackStandsWhileStillGood(t *testing.T) {
	src := newStub(t)
	src.underMinTTL()
	src.set(func(s *stubSource) { s.tokenFails = true })
	s := newSource(src)
	start := time.Now()
	for range 3 {
		if c, err := s.token(context.Background()); err != nil || c.AccessToken != "tok-1" {
			t.Errorf("token: %s, %v; want the fallback tok-1", c.AccessToken, err)
		}
	}
	if n := src.count().Token; within(t, start, holdoff, "the holdoff") && n != 1 {
		t.Errorf("3 calls within the holdoff made %d Token calls, want 1", n)
	}

	// Expired, it does not stand, even within the holdoff.
	src.expire()
	s.mu.Lock()
	s.last.s.ExpiresAt = time.Now().Add(-time.Minute) // the outcome's copy
	s.mu.Unlock()
	before := src.count().Token
	if _, err := s.token(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("an expired fallback: %v, want ErrUnavailable", err)
	}
	if n := src.count().Token - before; n != 1 {
		t.Errorf("an expired fallback: %d Token calls, want 1", n)
	}
}

// renew gets a token other than the refused one: the first refusal
// forces a Renew; another request refused with the same token takes the
// new one without a call; a refusal of the token a forced renew gave
// forces nothing (ok false: the refusal stands); a token an ordinary
// refresh gave forces one again.
func TestSourceRenew(t *testing.T) {
	src := newStub(t)
	s := newSource(src)
	ctx := context.Background()
	start := time.Now()
	if c, ok, err := s.renew(ctx, "tok-1"); err != nil || !ok || c.AccessToken != "tok-2" {
		t.Fatalf("renew tok-1: %s, %v, %v; want tok-2", c.AccessToken, ok, err)
	}
	if c, ok, err := s.renew(ctx, "tok-1"); err != nil || !ok || c.AccessToken != "tok-2" || src.count().Renew != 1 {
		t.Errorf("renew tok-1 again: %s, %v, %v, %d Renew calls; want tok-2 and 1", c.AccessToken, ok, err, src.count().Renew)
	}
	for range 3 {
		if c, ok, err := s.renew(ctx, "tok-2"); err != nil || ok || c.AccessToken != "tok-2" || src.count().Renew != 1 {
			t.Errorf("renew tok-2, which a forced renew gave: %s, %v, %v, %d Renew calls; want tok-2, not ok, 1", c.AccessToken, ok, err, src.count().Renew)
		}
	}
	_ = start
	src.expire() // an ordinary refresh gives tok-3
	if c, err := s.token(ctx); err != nil || c.AccessToken != "tok-3" {
		t.Fatalf("token after the expiry: %s, %v", c.AccessToken, err)
	}
	if c, ok, err := s.renew(ctx, "tok-3"); err != nil || !ok || c.AccessToken != "tok-4" {
		t.Errorf("renew tok-3: %s, %v, %v; want tok-4", c.AccessToken, ok, err)
	}
	if n := src.count().Token; n != 1 {
		t.Errorf("%d Token calls, want the one after the expiry", n)
	}
}

// A Renew that gives the refused token back (its refresh failed, the
// token has not expired) is no cure: ok is false, no error. One that
// fails says why.
func TestSourceRenewWithoutACure(t *testing.T) {
	src := newStub(t)
	src.set(func(s *stubSource) { s.renewFails = true })
	c, ok, err := newSource(src).renew(context.Background(), "tok-1")
	if err != nil || ok || c.AccessToken != "tok-1" {
		t.Errorf("Renew gives tok-1 back: %s, %v, %v; want tok-1, not ok", c.AccessToken, ok, err)
	}

	src = newStub(t)
	src.fail(fmt.Errorf("no: %w", ErrUnavailable))
	if _, ok, err := newSource(src).renew(context.Background(), "tok-1"); ok || !errors.Is(err, ErrUnavailable) {
		t.Errorf("Renew fails: %v, %v", ok, err)
	}
}

// A renew that waited for a Token call does not take the very token that
// was refused: it renews once that call is over.
func TestSourceRenewAfterATokenCallGaveTheRefusedToken(t *testing.T) {
	src := newStub(t)
	src.underMinTTL()
	src.set(func(s *stubSource) { s.tokenFails = true }) // Token gives tok-1 back: a fallback
	s := newSource(src)
	release := src.hold()
	defer release()
	tokenDone := make(chan string, 1)
	go func() {
		c, _ := s.token(context.Background())
		tokenDone <- c.AccessToken
	}()
	waitFor(t, "the Token call", func() bool { return src.count().Token == 1 })
	type result struct {
		tok string
		ok  bool
		err error
	}
	renewDone := make(chan result, 1)
	go func() {
		c, ok, err := s.renew(context.Background(), "tok-1")
		renewDone <- result{c.AccessToken, ok, err}
	}()
	waitFor(t, "the renew to wait", func() bool { return src.count().Cached >= 2 })
	release()
	if tok := <-tokenDone; tok != "tok-1" {
		t.Errorf("token: %s, want the fallback tok-1", tok)
	}
	if r := <-renewDone; r.err != nil || !r.ok || r.tok != "tok-2" {
		t.Errorf("renew: %+v, want tok-2", r)
	}
	if c := src.count(); c.Token != 1 || c.Renew != 1 {
		t.Errorf("calls: %+v, want 1 Token, 1 Renew", c)
	}
}

// A request that leaves while it waits returns at once; one that leaves
// while its own call runs does not cut the call short: the Source runs on
// the endpoint's context, and the outcome serves the next request.
func TestSourceRequestsThatLeave(t *testing.T) {
	src := newStub(t)
	src.expire()
	s := newSource(src)
	release := src.hold()
	defer release()
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	aDone := make(chan error, 1)
	go func() {
		c, err := s.token(ctxA)
		if err == nil && c.AccessToken != "tok-2" {
			err = fmt.Errorf("got %s, want tok-2", c.AccessToken)
		}
		aDone <- err
	}()
	waitFor(t, "the Token call", func() bool { return src.count().Token == 1 })

	ctxB, cancelB := context.WithCancel(context.Background())
	bDone := make(chan error, 1)
	go func() {
		_, err := s.token(ctxB)
		bDone <- err
	}()
	waitFor(t, "the second request to wait", func() bool { return src.count().Cached >= 2 })
	cancelB()
	select {
	case err := <-bDone:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a request that left while waiting: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a request that left while waiting is still waiting")
	}

	cancelA()
	var srcCtx context.Context
	src.set(func(s *stubSource) { srcCtx = s.lastCtx })
	if srcCtx.Err() != nil {
		t.Error("the Source's context ended with a request's")
	}
	release()
	if err := <-aDone; err != nil {
		t.Errorf("a request that left while its call ran: %v; want the call's token", err)
	}
	if c, err := s.token(context.Background()); err != nil || c.AccessToken != "tok-2" || src.count().Token != 1 {
		t.Errorf("the next request: %s, %v, %d Token calls; want tok-2 from the cache", c.AccessToken, err, src.count().Token)
	}
}

// The endpoint's end interrupts a call under way; an interruption is not
// held off.
func TestSourceEndpointContext(t *testing.T) {
	src := newStub(t)
	src.expire()
	ctx, cancel := context.WithCancel(context.Background())
	s := &source{src: src, ctx: ctx}
	release := src.hold()
	defer release()
	done := make(chan error, 1)
	go func() {
		_, err := s.token(context.Background())
		done <- err
	}()
	waitFor(t, "the Token call", func() bool { return src.count().Token == 1 })
	cancel()
	if err := <-done; !errors.Is(err, ErrInterrupted) {
		t.Errorf("a call when the endpoint ends: %v, want ErrInterrupted", err)
	}
	release()
	s.ctx = context.Background()
	if c, err := s.token(context.Background()); err != nil || c.AccessToken != "tok-2" {
		t.Errorf("after an interruption: %s, %v; want tok-2", c.AccessToken, err)
	}
}

// Nothing the endpoint logs holds a token or a capability, verbose, on
// every path that logs: served, proxied, renewed, refused, failed. (Every
// rig checks its stderr at the end; this one makes sure there is a lot.)
func TestNothingLoggedHoldsASecret(t *testing.T) {
	r := newRig(t, nil, nil)
	r.get("GET", r.ep.TokenURL(), nil)
	r.get("GET", r.ep.TokenURL()+"?format=raw&x="+r.ep.proxyCap, nil)
	r.get("POST", r.ep.ProxyURL()+"/v5/tasks?q="+r.ep.tokenCap, strings.NewReader("x"))
	r.get("GET", r.ep.ProxyURL()+"/v5/%"+fmt.Sprintf("%02X", r.ep.proxyCap[0])+r.ep.proxyCap[1:], nil)
	r.src.revoke("tok-1")
	r.get("GET", r.ep.ProxyURL()+"/v5/tasks", nil, "Authorization", "Bearer tok-1", "X-Cap", r.ep.tokenCap)
	r.src.expire()
	r.src.fail(fmt.Errorf("revoked: %w", ErrLoginNeeded))
	r.get("GET", r.ep.TokenURL(), nil)
	r.get("GET", r.ep.ProxyURL()+"/v5/tasks", nil)
	r.src.login()
	r.get("GET", r.ep.ProxyURL()+"/v5/tasks", nil)
	log := r.log.String()
	for _, want := range []string{"token URL GET", "proxy POST /v5/tasks: 400", "proxy GET /v5/tasks: 200", "a login is needed", "a session again"} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.redact(log))
		}
	}
	r.checkNoSecrets("stderr", log)
}

// A token that a forced renew gave, refused too, forces another renew only
// once the backoff has passed (10 s, then twice as long each time, up to
// 30 min): a token revoked minutes later is renewed, a path that always
// answers 401 costs a handful of refreshes a day, not one per request.
func TestSourceRenewBacksOff(t *testing.T) {
	src := newStub(t)
	s := newSource(src)
	ctx := context.Background()
	s.renew(ctx, "tok-1") // forced: tok-2
	if c, ok, _ := s.renew(ctx, "tok-2"); ok || c.AccessToken != "tok-2" {
		t.Fatalf("tok-2 refused right after the renew that gave it: %s, %v; want it kept", c.AccessToken, ok)
	}
	for i, want := range []time.Duration{20 * time.Second, 40 * time.Second} {
		s.mu.Lock()
		s.forcedAt = s.forcedAt.Add(-s.forcedBackoff) // the backoff has passed
		s.mu.Unlock()
		stale := src.current().AccessToken
		c, ok, err := s.renew(ctx, stale)
		if err != nil || !ok || c.AccessToken == stale {
			t.Fatalf("renew %d of %s after the backoff: %s, %v, %v; want a new token", i, stale, c.AccessToken, ok, err)
		}
		s.mu.Lock()
		got := s.forcedBackoff
		s.mu.Unlock()
		if got != want {
			t.Errorf("the backoff after renew %d: %s, want %s", i, got, want)
		}
	}
	if n := src.count().Renew; n != 3 {
		t.Errorf("%d Renew calls, want 3", n)
	}
}
