//go:build unix

package refresh

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// The child's inherited lock and its end of the report pipe: the first
// entries of exec.Cmd.ExtraFiles.
const (
	lockFD   = 3
	reportFD = 4
)

// Start starts exe as a refresh child with request, handing it lock (the
// account's lock file, held by this process): in a session of its own (no
// terminal signals), with no stdin, stdout or stderr that $(...) or git
// would wait on, no other descriptor of ours (startAlone) and nothing in
// its argv but Command.
func Start(exe string, request []byte, lock *os.File) (*Child, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, Command)
	cmd.Env = append(os.Environ(), requestVar+"="+string(request))
	cmd.ExtraFiles = []*os.File{lock, w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = startAlone(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	return started(cmd, r), nil
}

// Serve is the child's side. It refuses to run unless fd 3 is a file (the
// lock, which work adopts) and fd 4 a pipe: it writes on no other file.
// It runs work to the end whatever happens to its parent, since a refresh
// once sent spends the old token: SIGTERM, SIGHUP, SIGINT and SIGQUIT (a
// service manager, a closed terminal or a container stop signal every
// process) are ignored for its whole life. work's lines reach the parent
// through log, then its report (with its status); Serve returns work's
// exit status, or backstopStatus if work has not returned after bound and
// lateGrace more (nothing but SIGKILL ends this process otherwise), for
// main to exit with.
func Serve(bound time.Duration, backstopStatus int, work func(lock *os.File, log io.Writer) (int, Report)) (int, error) {
	signal.Ignore(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	if !isPipe(reportFD) || !isFile(lockFD) {
		return 0, errors.New(Command + " is run by akiflow-token itself")
	}
	return serve(os.NewFile(lockFD, "lock"), os.NewFile(reportFD, "report"), bound, backstopStatus, work), nil
}

// isPipe says fd is an open pipe (the Go runtime may hold other files at
// low descriptors of a process started without them).
func isPipe(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFIFO
}

// isFile says fd is an open regular file.
func isFile(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG
}

// closeReport closes the report pipe's read end: a read in progress ends.
func closeReport(r io.ReadCloser) { r.Close() }
