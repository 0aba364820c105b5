//go:build !linux

package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// dieOf ends this process by sig, as the command run by exec --serve died,
// so that our parent sees what it would have seen without us (sudo does
// the same). The Go runtime dies of SIGHUP, SIGINT and SIGTERM (and
// SIGKILL) when no one is notified of them; of the others, which it turns
// into a stack dump or ignores, we exit 128 + the signal, as a shell
// reports a death by signal.
func dieOf(sig syscall.Signal) {
	switch sig {
	case syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL:
		signal.Reset(sig)
		syscall.Kill(os.Getpid(), sig)
		time.Sleep(time.Second)
	}
	os.Exit(128 + int(sig))
}

// childProcAttr: no parent-death signal outside Linux.
func childProcAttr() *syscall.SysProcAttr { return nil }
