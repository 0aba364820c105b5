//go:build unix

package helper

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// The child's inherited lock and its end of the result pipe: the first
// entries of exec.Cmd.ExtraFiles.
const (
	childLockFD   = 3
	childResultFD = 4
)

// lockAdopter is a Store whose locks can pass to a child process: its locks
// are open files (with a File method), and it can check one handed down.
type lockAdopter interface {
	AdoptLock(name string, f *os.File) (io.Closer, error)
}

type fileLock interface{ File() *os.File }

// refreshDetached runs the refresh in a child process of its own session
// (no terminal signals), with no stdin, stdout or stderr that $(...) or git
// would wait on, no other descriptor of ours (startAlone), nothing secret in
// its argv, and the account's lock, and returns the session it saved. A
// store whose locks cannot be handed down is refreshed in this process.
func (h *Helper) refreshDetached(ctx context.Context, lock io.Closer, s *Session) (*Session, error) {
	fl, ok := lock.(fileLock)
	if _, adopts := h.store.(lockAdopter); !ok || !adopts {
		return h.refreshHere(ctx, lock, s)
	}
	exe, err := os.Executable()
	if err != nil {
		h.logf("refreshing in this process: %v", err)
		return h.refreshHere(ctx, lock, s)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(exe, RefreshCommand, h.refreshRequest(s))
	cmd.ExtraFiles = []*os.File{fl.File(), w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = startAlone(cmd)
	w.Close()
	if err != nil {
		h.logf("refreshing in this process: %v", err)
		return h.refreshHere(ctx, lock, s)
	}
	exited := make(chan int, 1)
	go func() { // reap it; if we are interrupted, it goes on alone
		cmd.Wait()
		exited <- cmd.ProcessState.ExitCode()
	}()
	unsaved, err := h.readChild(ctx, r)
	switch {
	case errors.Is(err, errChildVanished) && refusedItsRequest(exited):
		// A child of another version (an upgrade under way) refused our
		// request before doing anything: nothing was sent.
		h.logf("the refresh process refused its request: refreshing in this process")
		return h.refreshHere(ctx, lock, s)
	case err != nil:
		return nil, err
	case unsaved != nil:
		return unsaved, nil // the child warned that it could not be saved
	}
	return h.afterChild(s.Email)
}

// refusedItsRequest says the child exited with a usage error: it did not
// understand its request, and so sent nothing.
func refusedItsRequest(exited <-chan int) bool {
	select {
	case code := <-exited:
		return code == ExitUsage
	case <-time.After(time.Second): // the pipe closed: the exit follows at once
		return false
	}
}

// ServeRefresh is the child's side: it adopts the lock handed down by its
// parent, refreshes the account's session, saves it and reports on the
// result pipe. It runs to the end whatever happens to the parent: a refresh
// once sent spends the old token, so SIGTERM, SIGHUP, SIGINT and SIGQUIT (a service
// manager, a closed terminal or a container stop signal every process) are
// ignored for its whole life, which its timeouts bound. It refuses to run
// unless fd 3 is the account's lock file, held by its parent, and fd 4 a
// pipe: it writes on no other file, and refreshes nothing without the lock.
func (h *Helper) ServeRefresh() error {
	signal.Ignore(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	// A backstop, as nothing but SIGKILL ends this process now: its
	// requests are bounded by --timeout, the save is not. Twice the parent's
	// wait leaves the requests ample room.
	time.AfterFunc(2*h.lockWait(), func() { os.Exit(ExitUnavailable) })
	adopter, ok := h.store.(lockAdopter)
	if !ok || !isPipe(childResultFD) {
		return errors.New(RefreshCommand + " is run by akiflow-token itself")
	}
	out := os.NewFile(childResultFD, "result")
	lock, err := adopter.AdoptLock(h.cfg.Email, os.NewFile(childLockFD, "lock"))
	if err != nil {
		json.NewEncoder(out).Encode(childMessage{Done: true, Failed: toWire(err)})
		return err
	}
	defer lock.Close()
	return h.serveRefresh(lock, out)
}

// isPipe says fd is an open pipe (the Go runtime may hold other files at
// low descriptors of a process started without them).
func isPipe(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFIFO
}
