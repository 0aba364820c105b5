//go:build !unix && !windows

package refresh

import (
	"errors"
	"io"
	"os"
	"time"
)

// errUnsupported: a detached refresh process is not written for this
// platform yet (see docs/development.md).
var errUnsupported = errors.New("a detached refresh process is not supported on this platform")

// Start is not supported here: the caller refreshes in its own process.
func Start(exe string, request []byte, lock *os.File) (*Child, error) { return nil, errUnsupported }

// Serve is not supported here.
func Serve(bound time.Duration, backstopStatus int, work func(lock *os.File, log io.Writer) (int, Report)) (int, error) {
	return 0, errUnsupported
}

// closeReport closes the report pipe's read end.
func closeReport(r io.ReadCloser) { r.Close() }
