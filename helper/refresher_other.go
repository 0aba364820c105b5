//go:build !unix

package helper

import (
	"context"
	"errors"
	"io"
)

// refreshDetached refreshes in this process: a detached refresh process is
// not written for this platform yet (see README, Development).
func (h *Helper) refreshDetached(ctx context.Context, lock io.Closer, s *Session) (*Session, error) {
	return h.refreshHere(ctx, lock, s)
}

// ServeRefresh is the child's side of a detached refresh, which this
// platform does not start.
func (h *Helper) ServeRefresh() error {
	return errors.New(RefreshCommand + " is not used on this platform")
}
