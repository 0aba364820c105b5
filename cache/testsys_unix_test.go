//go:build unix

package cache

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// mkfifo makes a FIFO at path.
func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }

// killSelf kills this process at once, as a crash or kill -9 would.
func killSelf() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }

// killed says err is that of a process that killSelf ended.
func killed(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
}

// makeSymlink makes a symbolic link at link to target.
func makeSymlink(target, link string) error { return os.Symlink(target, link) }

// skipConformance skips a subtest of the conformance suite that cannot
// run here: none on Unix.
func skipConformance(*testing.T) {}

// testChild would be a child process of the Windows tests: none on Unix.
func testChild() {}

// wineKeepsRemovedFiles is false: there is no Wine on Unix.
func wineKeepsRemovedFiles() bool { return false }
