package run

import (
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
)

// Status is how a command ended.
type Status struct {
	// Code is the exit status; for a command killed by a signal, 128 plus
	// the signal's number, as shells report it.
	Code int
	// Signal is the signal that killed the command, or 0 if it exited.
	Signal syscall.Signal
}

// relayed are the signals Supervise catches while the command runs: none
// of them should end this process before the command ends.
var relayed = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, os.Interrupt, syscall.SIGQUIT}

// Supervise runs the program at path (as LookCommand found it) as argv,
// with the environment env (nil: this process's), as this process's child,
// and returns how it ended once it has. The command gets our stdin,
// stdout and stderr (and any other descriptor we inherited that is not
// close-on-exec). While it runs:
//   - SIGTERM and SIGHUP sent to this process are passed on to it;
//   - SIGINT and SIGQUIT are caught and not sent again: a terminal sends
//     them to its whole foreground process group, the command included;
//   - SIGHUP or SIGINT ignored when this process started (nohup, a
//     script's background job) stays ignored, here and in the command
//     (the Go runtime keeps no other signal ignored, see signal.Ignored);
//   - on Linux, the command gets SIGTERM if this process dies first;
//   - on Windows, it runs in a job object that kills it, and what it
//     started, if this process dies first; what it leaves running is
//     killed once it has ended (sys_windows.go).
//
// The command also inherits keep, each at its own descriptor number (a
// listening socket that keeps a port bound for as long as the command, or
// anything it starts, lives); Windows cannot pass them (KeepsFiles).
//
// A command that cannot be started is ExitNotFound or ExitCannotRun.
func Supervise(path string, argv, env []string, keep ...*os.File) (Status, error) {
	return supervise(path, argv, env, keep, true)
}

// supervise is Supervise; leftoversDie says whether, on Windows, what the
// command leaves running dies once it has ended (exec --serve), or lives
// on (Exec, as after execve).
func supervise(path string, argv, env []string, keep []*os.File, leftoversDie bool) (Status, error) {
	if len(argv) == 0 {
		return Status{}, usageError("exec needs a command: akiflow-token exec -- CMD [ARGS...]")
	}
	// Built by hand: exec.Command would look a bare name up again, and
	// refuse a program found through "." in PATH (exec.ErrDot).
	cmd := &exec.Cmd{
		Path:        path,
		Args:        argv,
		Env:         env,
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		SysProcAttr: childProcAttr(),
	}
	signals := make(chan os.Signal, len(relayed))
	for _, sig := range relayed {
		// Notify would undo an ignored disposition, for us and the child.
		if !signal.Ignored(sig) {
			signal.Notify(signals, sig)
		}
	}
	defer signal.Stop(signals)
	// Linux sends the parent-death signal when the thread that started
	// the child ends, not the process: keep that thread ours until the
	// child has ended, so that the runtime cannot end it under the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	restore := inheritable(keep)
	err := cmd.Start()
	restore()
	if err != nil {
		return Status{}, startError(argv[0], err)
	}
	untie, err := tie(argv[0], cmd.Process)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return Status{}, err
	}
	done := make(chan struct{})
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		forward(signals, cmd.Process, done)
	}()
	err = cmd.Wait()
	untie(leftoversDie)
	close(done)
	<-forwarded
	if cmd.ProcessState == nil {
		return Status{}, err
	}
	return statusOf(cmd.ProcessState), nil
}

// forward passes SIGTERM and SIGHUP from signals on to p until done is
// closed; the others are dropped (see Supervise).
func forward(signals <-chan os.Signal, p interface{ Signal(os.Signal) error }, done <-chan struct{}) {
	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGTERM || sig == syscall.SIGHUP {
				// An error means the command has just ended, or that this
				// system cannot send the signal (Windows).
				p.Signal(sig)
			}
		case <-done:
			return
		}
	}
}

// statusOf is the Status that ps reports.
func statusOf(ps *os.ProcessState) Status {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Status{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
	}
	return Status{Code: ps.ExitCode()}
}

// Reraise ends this process by sig, the signal that killed the command it
// ran, so that our parent sees what it would have seen without us (sudo
// does the same): main calls it, and then exits with 128+sig (the
// Status's Code) should it return. sig's action is set back to the
// system's default first (the Go runtime turns SIGQUIT into a stack dump
// and ignores SIGUSR1 and SIGPIPE), where the platform allows it: on
// Linux, for every signal; on the other Unixes, only for SIGHUP, SIGINT,
// SIGTERM and SIGKILL; on Windows, which has no such signals, Reraise does
// nothing.
func Reraise(sig syscall.Signal) {
	if sig <= 0 {
		return
	}
	reraise(sig)
}
