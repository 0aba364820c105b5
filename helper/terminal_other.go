//go:build !unix && !windows

package helper

import (
	"errors"
	"io"
	"runtime"
)

// OpenTerminal is not written for this platform yet (see
// docs/development.md): nobody is ever asked.
func OpenTerminal() (io.ReadWriteCloser, error) {
	return nil, errors.New("prompting is not supported on " + runtime.GOOS)
}
