//go:build !unix

package helper

import (
	"errors"
	"runtime"
)

// execve is not written for this platform yet (see README, Development).
func execve(path string, argv, env []string) error {
	return errors.New("exec is not supported on " + runtime.GOOS)
}
