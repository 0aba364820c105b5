package akiflow

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// readGrace is how long a request may still finish once its deadline has
// fired.
const readGrace = 2 * time.Second

// withDeadline is ctx ended d from now, and readGrace after that: a
// deadline that fires late does not race the reply. A process that was
// stopped (SIGSTOP, a frozen cgroup, docker pause, a debugger) and resumed
// finds every timer of its stopped time expired at once; the reply that
// arrived meanwhile sits in the socket, and it is read before the grace
// ends, not thrown away: the reply to a refresh holds the only good
// refresh token. The grace is for replies only: once d has passed, no new
// request starts (pastDeadline). Once it ends, context.Cause(ctx) is
// context.DeadlineExceeded.
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	fired := new(atomic.Bool)
	chain, _ := ctx.Value(firedKey{}).([]*atomic.Bool)
	ctx = context.WithValue(ctx, firedKey{}, append(chain[:len(chain):len(chain)], fired))
	ctx, cancel := context.WithCancelCause(ctx)
	var mu sync.Mutex
	var grace *time.Timer
	first := time.AfterFunc(d, func() {
		fired.Store(true)
		mu.Lock()
		defer mu.Unlock()
		grace = time.AfterFunc(readGrace, func() { cancel(context.DeadlineExceeded) })
	})
	return ctx, func() {
		first.Stop()
		mu.Lock()
		if grace != nil {
			grace.Stop()
		}
		mu.Unlock()
		cancel(context.Canceled)
	}
}

type firedKey struct{}

// pastDeadline says a deadline of ctx's (withDeadline, its own or an outer
// one) has passed: its grace is for reading a reply already on its way,
// never for sending a new request, which would race the grace's end.
func pastDeadline(ctx context.Context) bool {
	chain, _ := ctx.Value(firedKey{}).([]*atomic.Bool)
	for _, fired := range chain {
		if fired.Load() {
			return true
		}
	}
	return false
}
