//go:build unix

package refresh

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Descriptors this process inherited from its own parent (a shell's 3>log,
// a pipeline's pipe, a supervisor's socket) are not close-on-exec, so
// exec.Cmd would pass every one of them to the detached refresh process:
// a caller's pipe held by it keeps a pipeline waiting for the refresh.
// Descriptors Go opens are close-on-exec already. The child is a Go program,
// whose runtime owns descriptors of its own, so they are not closed there:
// they are kept from reaching it.

// startAlone starts cmd with only its Stdin, Stdout, Stderr and ExtraFiles:
// every other descriptor of this process is made close-on-exec for the
// start, and the ones that were not are restored after it, so that exec
// (execve) still hands them to the command it runs. Nothing else in this
// process opens, closes or execs meanwhile: a refresh is all it does.
func startAlone(cmd *exec.Cmd) error {
	marked := markCloseOnExec()
	defer restoreInheritable(marked)
	return cmd.Start()
}

// markCloseOnExec makes every descriptor from 3 up close-on-exec and returns
// those that were not.
func markCloseOnExec() []int {
	var marked []int
	for _, fd := range openDescriptors() {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err == nil {
			marked = append(marked, fd)
		}
	}
	return marked
}

// restoreInheritable clears close-on-exec on the descriptors marked.
func restoreInheritable(marked []int) {
	for _, fd := range marked {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags&^unix.FD_CLOEXEC)
		}
	}
}

// maxScannedFD bounds the scan of descriptor numbers when the process's
// descriptors cannot be listed.
const maxScannedFD = 1 << 16

// openDescriptors lists this process's descriptors from 3 up: from its
// descriptor folder (fdDir, per platform) when that lists them all, else by
// trying every number up to the limit on open files.
func openDescriptors() []int {
	if fds, ok := listDescriptors(); ok {
		return fds
	}
	limit := maxScannedFD
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		// Cur is an int64 on some systems; RLIM_INFINITY is then negative.
		if cur := int64(rl.Cur); cur >= 0 && cur < int64(limit) {
			limit = int(cur)
		}
	}
	var fds []int
	for fd := 3; fd < limit; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

// listDescriptors reads fdDir. The listing is trusted only if it shows the
// descriptor it was read through: FreeBSD's /dev/fd, without fdescfs
// mounted, shows 0, 1 and 2 alone.
func listDescriptors() ([]int, bool) {
	dir, err := os.Open(fdDir)
	if err != nil {
		return nil, false
	}
	defer dir.Close()
	self := int(dir.Fd())
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, false
	}
	var fds []int
	complete := false
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		switch {
		case err != nil || fd < 3:
		case fd == self:
			complete = true
		default:
			fds = append(fds, fd)
		}
	}
	return fds, complete
}
