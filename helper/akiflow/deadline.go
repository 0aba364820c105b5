package akiflow

import (
	"context"
	"sync"
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
// refresh token. Once it ends, context.Cause(ctx) is
// context.DeadlineExceeded.
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	var mu sync.Mutex
	var grace *time.Timer
	first := time.AfterFunc(d, func() {
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
