package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"
	"unsafe"
)

// dieOf ends this process by sig, as the command run by exec --serve died,
// so that our parent sees what it would have seen without us (sudo does
// the same). The Go runtime turns some signals (SIGQUIT, SIGABRT, SIGSEGV)
// into a stack dump and exit 2, and ignores others (SIGPIPE, SIGUSR1), so
// the signal's action is set back to the system's default first.
func dieOf(sig syscall.Signal) {
	signal.Reset(sig)
	// A struct sigaction of zeros is SIG_DFL, with no flags and no mask,
	// on every architecture; sizeof(sigset_t) is 16 on mips, 8 elsewhere.
	var dfl [64]byte
	for _, maskSize := range []uintptr{8, 16} {
		if _, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, maskSize, 0, 0); errno == 0 {
			break
		}
	}
	syscall.Kill(os.Getpid(), sig)
	time.Sleep(time.Second) // a signal that does not end a process by default (SIGCHLD, SIGWINCH)
	os.Exit(128 + int(sig))
}

// childProcAttr makes exec --serve's command receive SIGTERM if this
// process dies first (kill -9): its endpoint is gone, and its port could
// be taken by another user's listener.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
