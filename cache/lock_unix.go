//go:build unix

package cache

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// openFlags open a record or lock file without following a symbolic link
// (an error instead), without waiting for a writer when it is a FIFO, and
// without making a terminal there the controlling one.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_NOCTTY

// openDirFlags open one of our folders, and nothing that stands in its place.
const openDirFlags = syscall.O_NOFOLLOW | syscall.O_DIRECTORY

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

// holdFile takes a lock of f without waiting (a Pending's temporary file):
// false and no error when another open file holds it.
func holdFile(f *os.File) (bool, error) { return tryLock(f) }

// removed says f's file has no name left (removed while open).
func removed(f *os.File) bool {
	info, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// adoptLock takes over the lock of f, handed down by a parent process:
// on the same open file, flock's lock is ours at once; on any other, while
// the lock is held elsewhere, it is not.
func adoptLock(f *os.File) (bool, error) { return tryLock(f) }

// fileOwner is the uid of the file described by info.
func fileOwner(info fs.FileInfo) (int, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// writable says this user may create and rename files in the folder dir:
// nil, or why not (its mode, a read-only mount, an immutable folder).
func writable(dir string) error {
	return syscall.Access(dir, 0o2|0o1) // W_OK|X_OK
}
