package helper

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"akiflow-token/cache"
)

// A refresh, once sent, spends the old refresh token even if the process
// that sent it dies before saving the new one (Ctrl-C, a caller's timeout,
// SIGKILL). So the refresh-and-save step runs in a detached child process:
// its own session (no terminal signals), no stdin, stdout or stderr that
// $(...) or git would wait on, and nothing secret in its argv. It inherits
// the account's lock, so the lock stays held until the new tokens are saved
// even if the parent is gone. The parent waits for it, then reads the cache.

// RefreshCommand is the hidden command that runs the child.
const RefreshCommand = "__refresh"

// The child's end of the result pipe and its inherited lock: the first
// entries of exec.Cmd.ExtraFiles.
const (
	childLockFD   = 3
	childResultFD = 4
)

// childMessage is one line on the result pipe: a --verbose line, or the
// outcome.
type childMessage struct {
	Log    string       `json:"log,omitempty"`
	Done   bool         `json:"done,omitempty"`
	Exit   int          `json:"exit,omitempty"`
	Error  string       `json:"error,omitempty"`
	Server *ServerError `json:"server,omitempty"` // a reply that refused the refresh
	Unsent bool         `json:"unsent,omitempty"` // errCannotSave: nothing was sent
}

// refreshDetached runs refresh in a child process that inherits lock, and
// returns the session it saved.
func (h *Helper) refreshDetached(ctx context.Context, lock *cache.Lock, s *Session) (*Session, error) {
	exe, err := os.Executable()
	if err != nil {
		h.logf("refreshing in this process: %v", err)
		return h.refresh(ctx, s)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("could not start the refresh: %w", err)
	}
	defer r.Close()
	args := []string{RefreshCommand, "--base-url", h.base.String(), "--email", s.Email, "--timeout", h.cfg.Timeout.String()}
	if h.cfg.Insecure {
		args = append(args, "--insecure")
	}
	if h.cfg.Verbose {
		args = append(args, "--verbose")
	}
	cmd := exec.Command(exe, args...)
	cmd.ExtraFiles = []*os.File{lock.File(), w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		h.logf("refreshing in this process: %v", err)
		return h.refresh(ctx, s)
	}
	go cmd.Wait() // reap it; if we are interrupted, it goes on alone

	done := make(chan childMessage, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var m childMessage
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			if m.Log != "" {
				io.WriteString(h.cfg.Stderr, m.Log)
			}
			if m.Done {
				done <- m
				return
			}
		}
		done <- childMessage{Done: true, Exit: ExitFailure, Error: "the refresh process ended without saying how it went"}
	}()
	var m childMessage
	select {
	case <-ctx.Done():
		return nil, ErrInterrupted // the child finishes and saves without us
	case <-time.After(h.lockWait()): // its own requests are bounded: this is a backstop
		return nil, withCode(ExitUnavailable, "the refresh did not finish within %s", h.lockWait())
	case m = <-done:
	}
	switch {
	case m.Server != nil && m.Server.Rejected():
		return nil, m.Server // the caller logs in again
	case m.Unsent:
		return nil, &Error{Code: m.Exit, Err: fmt.Errorf("%s: %w", m.Error, errCannotSave)}
	case m.Exit != ExitOK:
		return nil, &Error{Code: m.Exit, Err: errors.New(m.Error)}
	}
	fresh, err := h.load(s.Email)
	if err == nil && fresh == nil {
		err = errors.New("the refreshed session was not saved")
	}
	return fresh, err
}

// ServeRefresh is the child's side: it adopts the lock handed down by its
// parent, refreshes the account's session, saves it and reports on the
// result pipe. It runs to the end whatever happens to the parent.
func (h *Helper) ServeRefresh() error {
	out := os.NewFile(childResultFD, "result")
	lockFile := os.NewFile(childLockFD, "lock")
	if out == nil || lockFile == nil {
		return errors.New(RefreshCommand + " is run by akiflow-token itself")
	}
	enc := json.NewEncoder(out)
	h.cfg.Stderr = logPipe{enc}
	report := func(err error) error {
		m := childMessage{Done: true, Exit: ExitCode(err)}
		if err != nil {
			m.Error = err.Error()
			errors.As(err, &m.Server)
			if errors.Is(err, errCannotSave) {
				m.Error, m.Unsent = strings.TrimSuffix(m.Error, "; "+errCannotSave.Error()), true
			}
		}
		enc.Encode(m) // the parent may be gone: nothing to do about it
		return err
	}
	lock, err := cache.AdoptLock(lockFile)
	if err != nil {
		return report(err)
	}
	defer lock.Unlock()
	s, err := h.load(h.cfg.Email)
	if err == nil && !s.canRefresh() {
		err = errors.New("there is no session to refresh")
	}
	if err != nil {
		return report(err)
	}
	_, err = h.refresh(context.Background(), s)
	return report(err)
}

// logPipe forwards --verbose lines to the parent.
type logPipe struct{ enc *json.Encoder }

func (p logPipe) Write(b []byte) (int, error) {
	p.enc.Encode(childMessage{Log: string(b)})
	return len(b), nil
}
