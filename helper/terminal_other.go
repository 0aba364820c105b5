//go:build !unix

package helper

import (
	"errors"
	"runtime"
)

// openTerminal is not written for this platform yet (see README,
// Development): nobody is ever asked.
func openTerminal() (*terminal, error) {
	return nil, errors.New("prompting is not supported on " + runtime.GOOS)
}
