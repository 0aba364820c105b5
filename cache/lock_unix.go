//go:build unix

package cache

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// tryLock takes flock(2)'s exclusive lock of f without waiting: false and
// no error when another open file holds it.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		return false, nil
	}
	return false, err
}

// checkOwner refuses a file that belongs to another user.
func checkOwner(path string, info os.FileInfo) error {
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return &InsecureError{Path: path, Problem: "it belongs to another user",
			Fix: fmt.Sprintf("chown %d %s", os.Getuid(), path)}
	}
	return nil
}
