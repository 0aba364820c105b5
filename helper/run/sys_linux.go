package run

import (
	"os/signal"
	"runtime"
	"syscall"
	"unsafe"
)

// childProcAttr makes the supervised command receive SIGTERM if this
// process dies first (kill -9): whatever we provided it (exec --serve's
// endpoint) is gone with us.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

func reraise(sig syscall.Signal) {
	signal.Reset(sig)
	// No core file of this process, which holds tokens in memory: a Go
	// program dumps none by default, and dying of SIGQUIT would.
	syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	// The runtime keeps its own handler for most signals even after
	// Reset, so set SIG_DFL directly. A struct sigaction of zeros is
	// SIG_DFL, with no flags and no mask, on every architecture;
	// sizeof(sigset_t) is 16 on mips, 8 elsewhere.
	var dfl [64]byte
	for _, maskSize := range []uintptr{8, 16} {
		if _, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, maskSize, 0, 0); errno == 0 {
			break
		}
	}
	// Sent to this very thread, the signal is acted on before tgkill
	// returns; sent to the process, another thread could take it while
	// the caller's fallback exit runs.
	runtime.LockOSThread()
	syscall.Tgkill(syscall.Getpid(), syscall.Gettid(), sig)
}
