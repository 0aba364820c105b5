//go:build unix

package helper

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
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
// would wait on, nothing secret in its argv, and the account's lock, and
// returns the session it saved. A store whose locks cannot be handed down
// is refreshed in this process.
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
	err = cmd.Start()
	w.Close()
	if err != nil {
		h.logf("refreshing in this process: %v", err)
		return h.refreshHere(ctx, lock, s)
	}
	go cmd.Wait() // reap it; if we are interrupted, it goes on alone
	if err := h.readChild(ctx, r); err != nil {
		return nil, err
	}
	return h.afterChild(s.Email)
}

// ServeRefresh is the child's side: it adopts the lock handed down by its
// parent, refreshes the account's session, saves it and reports on the
// result pipe. It runs to the end whatever happens to the parent.
func (h *Helper) ServeRefresh() error {
	out := os.NewFile(childResultFD, "result")
	lockFile := os.NewFile(childLockFD, "lock")
	adopter, ok := h.store.(lockAdopter)
	if out == nil || lockFile == nil || !ok {
		return errors.New(RefreshCommand + " is run by akiflow-token itself")
	}
	lock, err := adopter.AdoptLock(h.cfg.Email, lockFile)
	if err != nil {
		json.NewEncoder(out).Encode(childMessage{Failed: toWire(err)})
		return err
	}
	defer lock.Close()
	return h.serveRefresh(lock, out)
}
