package refresh

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// handlesVar names, for the child, the handles it inherited: "LOCK,REPORT"
// in decimal. Windows passes a handle to a child at its own value, not at
// a number the child knows in advance (Unix's fd 3 and 4).
const handlesVar = "AKIFLOW_TOKEN_REFRESH_HANDLES"

// Start starts exe as a refresh child with request, handing it lock (the
// account's lock file, held by this process) and the report pipe: in a
// process group of its own without a console (CREATE_NEW_PROCESS_GROUP |
// DETACHED_PROCESS: no Ctrl-C or Ctrl-Break, no console to close), with
// stdin, stdout and stderr NUL, so that $(...) or git never wait for it,
// and inheriting those two handles alone (Go's StartProcess passes
// exactly the list it is given: PROC_THREAD_ATTRIBUTE_HANDLE_LIST).
func Start(exe string, request []byte, lock *os.File) (*Child, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	handles, err := inheritableCopies(lock, w)
	defer func() { // the child has its own by now; a failure's few are closed too
		for _, h := range handles {
			windows.CloseHandle(windows.Handle(h))
		}
	}()
	if err != nil {
		r.Close()
		return nil, err
	}
	// The child leaves our job, if we are in one that lets it: a job that
	// kills its processes when it closes (exec --serve's command's, a
	// terminal's) would kill a refresh whose token the server has spent.
	// A job that forbids breaking away refuses the start: then the child
	// stays in it.
	start := func(flags uint32) (*exec.Cmd, error) {
		cmd := exec.Command(exe, Command)
		cmd.Env = append(os.Environ(), requestVar+"="+string(request),
			fmt.Sprintf("%s=%d,%d", handlesVar, handles[0], handles[1]))
		cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: flags, AdditionalInheritedHandles: handles}
		return cmd, cmd.Start()
	}
	const detached = windows.CREATE_NEW_PROCESS_GROUP | windows.DETACHED_PROCESS
	cmd, err := start(detached | windows.CREATE_BREAKAWAY_FROM_JOB)
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		cmd, err = start(detached)
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return started(cmd, r), nil
}

// inheritableCopies duplicates files' handles as inheritable ones, for the
// child alone: the originals stay as they are (not inheritable), so that
// nothing else this process starts meanwhile gets them. The caller closes
// the copies once the child has started.
func inheritableCopies(files ...*os.File) ([]syscall.Handle, error) {
	self := windows.CurrentProcess()
	var copies []syscall.Handle
	for _, f := range files {
		rc, err := f.SyscallConn()
		if err != nil {
			return copies, err
		}
		var dup windows.Handle
		var dupErr error
		if err := rc.Control(func(h uintptr) {
			dupErr = windows.DuplicateHandle(self, windows.Handle(h), self, &dup, 0, true, windows.DUPLICATE_SAME_ACCESS)
		}); err != nil {
			return copies, err
		}
		if dupErr != nil {
			return copies, fmt.Errorf("handing %s to the refresh process: %w", f.Name(), dupErr)
		}
		copies = append(copies, syscall.Handle(dup))
	}
	return copies, nil
}

// Serve is the child's side. It refuses to run unless handlesVar names a
// disk file (the lock, which work adopts) and a pipe: it writes on no
// other file. It runs work to the end whatever happens to its parent,
// since a refresh once sent spends the old token: Ctrl-C, Ctrl-Break and
// the console's close (which Go reports as SIGINT and SIGTERM) are
// ignored for its whole life, though a child without a console gets none
// of them. work's lines reach the parent through log, then its report
// (with its status); Serve returns work's exit status, or backstopStatus
// if work has not returned after bound and lateGrace more, for main to
// exit with.
func Serve(bound time.Duration, backstopStatus int, work func(lock *os.File, log io.Writer) (int, Report)) (int, error) {
	signal.Ignore(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	lock, report, err := inherited()
	if err != nil {
		return 0, err
	}
	return serve(lock, report, bound, backstopStatus, work), nil
}

// inherited finds the lock and the report pipe that handlesVar names, and
// removes the variable.
func inherited() (lock, report *os.File, err error) {
	v := os.Getenv(handlesVar)
	os.Unsetenv(handlesVar)
	refused := errors.New(Command + " is run by akiflow-token itself")
	l, r, ok := strings.Cut(v, ",")
	if !ok {
		return nil, nil, refused
	}
	lockH, err1 := strconv.ParseUint(l, 10, 64)
	reportH, err2 := strconv.ParseUint(r, 10, 64)
	if err1 != nil || err2 != nil || lockH == reportH ||
		!hasType(windows.Handle(lockH), windows.FILE_TYPE_DISK) || !hasType(windows.Handle(reportH), windows.FILE_TYPE_PIPE) {
		return nil, nil, refused
	}
	return os.NewFile(uintptr(lockH), "lock"), os.NewFile(uintptr(reportH), "report"), nil
}

// hasType says h is an open handle of a file of type typ (a disk file, a
// pipe).
func hasType(h windows.Handle, typ uint32) bool {
	got, err := windows.GetFileType(h)
	return err == nil && got == typ
}

// closeReport closes the report pipe's read end. A pipe's read in
// progress blocks its Close on Windows until it ends (the handle is not
// overlapped, so Go cannot cancel it), and Wait's reader may be in one
// when Wait returns early: the read is cancelled (CancelIoEx) until the
// Close is through. Once Close has begun, no new read starts, and the
// handle is closed only when no read is left.
func closeReport(r io.ReadCloser) {
	f, ok := r.(*os.File)
	if !ok {
		r.Close()
		return
	}
	var h windows.Handle
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { h = windows.Handle(fd) })
	}
	closed := make(chan struct{})
	go func() {
		f.Close()
		close(closed)
	}()
	for {
		select {
		case <-closed:
			return
		case <-time.After(time.Millisecond):
			if h != 0 {
				windows.CancelIoEx(h, nil)
			}
		}
	}
}
