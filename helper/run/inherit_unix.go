//go:build unix

package run

import (
	"os"

	"golang.org/x/sys/unix"
)

// KeepsFiles says whether Supervise passes its keep files on.
const KeepsFiles = true

// inheritable clears close-on-exec on files for a start, and returns what
// sets it again. Nothing else in this process starts a program meanwhile
// but the detached refresh process, which inherits nothing it is not
// handed (package refresh).
func inheritable(files []*os.File) (restore func()) {
	var cleared []uintptr
	for _, f := range files {
		// Not f.Fd(), which makes the descriptor blocking: a duplicate of
		// a socket shares its mode with the original, whose accept would
		// then block this process's shutdown.
		rc, err := f.SyscallConn()
		if err != nil {
			continue
		}
		rc.Control(func(fd uintptr) {
			if flags, err := unix.FcntlInt(fd, unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC != 0 {
				if _, err := unix.FcntlInt(fd, unix.F_SETFD, flags&^unix.FD_CLOEXEC); err == nil {
					cleared = append(cleared, fd)
				}
			}
		})
	}
	return func() {
		for _, fd := range cleared {
			if flags, err := unix.FcntlInt(fd, unix.F_GETFD, 0); err == nil {
				unix.FcntlInt(fd, unix.F_SETFD, flags|unix.FD_CLOEXEC)
			}
		}
	}
}
