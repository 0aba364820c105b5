// Package refresh runs akiflow-token's detached refresh process: a child
// of its own session that inherits the account's lock, so that a refresh,
// once sent, is saved even if the process that started it dies (Ctrl-C, a
// caller's timeout, SIGKILL): a refresh spends the old refresh token, and
// its reply holds the only good one.
//
// It knows how to start the child, hand it the lock and hear from it, and
// how the child checks what it was handed; what the child does (the
// refresh and the save) is its caller's, package helper's.
//
// The child's argv is its program and Command alone. It gets its request
// (JSON, nothing secret in it) in an environment variable, which only its
// user can read; fd 3 is the lock, fd 4 the pipe it reports on: --verbose
// and warning lines, then its Report (on Windows, two inherited handles
// that a second variable names). Its stdin, stdout and stderr are
// /dev/null (NUL), so that $(...) or git, which wait for their pipes to
// close, never wait for it. Its exit status says how the refresh went; the
// record in the store says what it saved.
package refresh

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// Command is the child's only argument; main dispatches it before any
// command line is parsed.
const Command = "__refresh"

// requestVar holds the child's request.
const requestVar = "AKIFLOW_TOKEN_REFRESH_REQUEST"

// Report is the child's last word: what went wrong, in words for the
// parent's messages (the exit status says what kind of failure it was),
// and a refreshed record the child could not save, which holds the only
// token left of the rotated session: it travels on this pipe, never to a
// log.
type Report struct {
	// Status is the child's exit status, said before it exits: a parent
	// need not wait for the exit to know it.
	Status  int             `json:"status"`
	Message string          `json:"message,omitempty"`
	Timeout bool            `json:"timeout,omitempty"` // the failure was Akiflow not answering in time
	Unsaved json.RawMessage `json:"unsaved,omitempty"`
}

// line is one line on the report pipe.
type line struct {
	Log    string  `json:"log,omitempty"`
	Report *Report `json:"report,omitempty"`
}

// ErrNoReport is a child that ended, or closed its pipe, without a report
// (killed, or a binary of another version during an upgrade that refused
// its request): whether the refresh was sent is unknown.
var ErrNoReport = errors.New("the refresh process ended without saying how it went")

// ErrTooLong is a child that did not report within the bound; it goes on
// alone.
var ErrTooLong = errors.New("the refresh process did not finish in time")

// maxLine bounds a line from the child: its log lines and report are a few
// kilobytes.
const maxLine = 1 << 20

// Child is a started refresh process.
type Child struct {
	report io.ReadCloser
	exited chan int // its exit status, once reaped (-1: killed by a signal)
}

// Wait relays the child's log lines to log until it reports, then returns
// its exit status and report. When ctx ends first it returns ctx's error,
// and after bound (and lateGrace more, for a process that was stopped and
// resumed) ErrTooLong: the child goes on alone and saves without us, and
// nothing more is written to log. A child that closes its pipe without a
// report returns ErrNoReport with its exit status (-1 if it did not exit
// within the time left).
func (c *Child) Wait(ctx context.Context, bound time.Duration, log io.Writer) (int, Report, error) {
	defer closeReport(c.report)
	start := time.Now()
	var mu sync.Mutex // held while a line is relayed; waited is set once Wait has returned
	waited := false
	defer func() { mu.Lock(); waited = true; mu.Unlock() }()
	done := make(chan *Report, 1)
	go func() {
		sc := bufio.NewScanner(c.report)
		sc.Buffer(make([]byte, 4096), maxLine)
		for sc.Scan() {
			var l line
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue // not ours: the report is what counts
			}
			if l.Log != "" {
				mu.Lock()
				if !waited {
					io.WriteString(log, l.Log)
				}
				mu.Unlock()
			}
			if l.Report != nil {
				done <- l.Report
				return
			}
		}
		done <- nil
	}()
	r, ok, err := waitReport(ctx, done, bound)
	switch {
	case err != nil:
		return -1, Report{}, err
	case !ok:
		return -1, Report{}, ErrTooLong
	case r != nil:
		return r.Status, *r, nil
	}
	// The pipe closed without a report: the exit follows at once.
	return c.status(min(exitWait, max(time.Second, bound+lateGrace-time.Since(start)))), Report{}, ErrNoReport
}

// exitWait bounds the wait for the exit status of a child that closed its
// pipe without a report (it exits at once; a loaded machine may take a
// moment to say so).
var exitWait = 5 * time.Second

func (c *Child) status(wait time.Duration) int {
	select {
	case code := <-c.exited:
		return code
	case <-time.After(wait):
		return -1
	}
}

// lateGrace is how long a wait goes on once its bound has passed. A
// process that was stopped (SIGSTOP, a frozen cgroup, a debugger) and
// resumed finds every timer of its stopped time expired at once, while
// the work it waits for (a refresh whose reply sits in the socket) needs a
// moment to finish: the bound is not the moment to give up on it.
const lateGrace = 10 * time.Second

// waitLate waits for a value on done for bound, and lateGrace more.
func waitLate[T any](done <-chan T, bound time.Duration) (T, bool) {
	for _, d := range []time.Duration{bound, lateGrace} {
		timer := time.NewTimer(d)
		select {
		case v := <-done:
			timer.Stop()
			return v, true
		case <-timer.C:
		}
	}
	var zero T
	return zero, false
}

// waitReport is waitLate for the report, ending early when ctx does.
func waitReport(ctx context.Context, done <-chan *Report, bound time.Duration) (*Report, bool, error) {
	for _, d := range []time.Duration{bound, lateGrace} {
		timer := time.NewTimer(d)
		select {
		case r := <-done:
			timer.Stop()
			return r, true, nil
		case <-ctx.Done():
			timer.Stop()
			return nil, false, ctx.Err()
		case <-timer.C:
		}
	}
	return nil, false, nil
}

// reporter writes the child's lines on the report pipe.
type reporter struct{ enc *json.Encoder }

// Write sends a log line to the parent.
func (r reporter) Write(b []byte) (int, error) {
	r.enc.Encode(line{Log: string(b)}) // the parent may be gone: nothing to do about it
	return len(b), nil
}

// serve is Serve once the child has found its lock and its report pipe:
// it runs work, reports, and returns work's status, or backstopStatus
// after bound and lateGrace.
func serve(lock, out *os.File, bound time.Duration, backstopStatus int, work func(lock *os.File, log io.Writer) (int, Report)) int {
	enc := json.NewEncoder(out)
	done := make(chan int, 1)
	go func() {
		status, r := work(lock, reporter{enc})
		r.Status = status
		enc.Encode(line{Report: &r}) // the parent may be gone: nothing to do about it
		done <- status
	}()
	// The lock lives as long as this process: never closed by the garbage
	// collector, whatever work does with it.
	defer runtime.KeepAlive(lock)
	if status, ok := waitLate(done, bound); ok {
		return status
	}
	return backstopStatus
}

// Request is the request Start handed this process; false when it was not
// started by Start. The variable is then removed: nothing this process
// might start inherits it.
func Request() ([]byte, bool) {
	v, ok := os.LookupEnv(requestVar)
	os.Unsetenv(requestVar)
	return []byte(v), ok
}

// started is the Child of cmd, just started, which reports on report: it
// is reaped in the background, and if we leave first it goes on alone.
func started(cmd *exec.Cmd, report *os.File) *Child {
	c := &Child{report: report, exited: make(chan int, 1)}
	go func() {
		cmd.Wait()
		c.exited <- cmd.ProcessState.ExitCode()
	}()
	return c
}
