//go:build unix && !linux

package run

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// childProcAttr: there is no parent-death signal outside Linux.
func childProcAttr() *syscall.SysProcAttr { return nil }

func reraise(sig syscall.Signal) {
	// The Go runtime dies of these when no one is notified of them; the
	// others it turns into a stack dump or ignores, and only a raw
	// sigaction, not written for these systems, would change that.
	switch sig {
	case syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL:
		signal.Reset(sig)
		syscall.Kill(os.Getpid(), sig)
		// The runtime's handler may take it on another thread: give it
		// time to end the process before the caller's fallback exit.
		time.Sleep(time.Second)
	}
}
