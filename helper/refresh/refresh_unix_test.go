//go:build unix

package refresh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// child is testdata/child, built by TestMain: a refresh child that calls
// Request and Serve and does what its request says.
var child string

func TestMain(m *testing.M) {
	// No core files from a child killed with SIGQUIT (if Serve failed to
	// ignore it).
	syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	dir, err := os.MkdirTemp("", "refresh-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	child = filepath.Join(dir, "child")
	if out, err := exec.Command("go", "build", "-o", child, "./testdata/child").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building testdata/child: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// patience is how long a test waits for something that should happen at
// once: generous, for a loaded machine; it is never asserted.
const patience = 30 * time.Second

// waitBound is Wait's bound for a child that reports: it never passes.
const waitBound = 2 * time.Minute

// childRequest is the request testdata/child serves (its twin there).
type childRequest struct {
	Do      string          `json:"do"`
	Dir     string          `json:"dir"`             // the child's files: pid (once in work), release, done
	Bound   time.Duration   `json:"bound,omitempty"` // Serve's bound; a few minutes when 0
	Status  int             `json:"status,omitempty"`
	Message string          `json:"message,omitempty"`
	Timeout bool            `json:"timeout,omitempty"`
	Unsaved json.RawMessage `json:"unsaved,omitempty"`
	Lines   []string        `json:"lines,omitempty"` // longLine stands for a 200 kB line
	Lock    string          `json:"lock,omitempty"`
	Marker  string          `json:"marker,omitempty"`
}

// longLine, in childRequest.Lines, is a line the child makes: too long for
// an environment variable.
const longLine = "<long>"

// fd is one of the child's descriptors at the start of its main.
type fd struct {
	FD          int    `json:"fd"`
	Target      string `json:"target"`
	CloseOnExec bool   `json:"cloexec"`
	Dev         uint64 `json:"dev"`
	Ino         uint64 `json:"ino"`
}

// observations is what an "inspect" child reports in Report.Unsaved.
type observations struct {
	Args        []string     `json:"args"`
	FDs         []fd         `json:"fds"`
	DevNull     map[int]bool `json:"dev_null"`
	PID         int          `json:"pid"`
	SID         int          `json:"sid"`
	PGID        int          `json:"pgid"`
	LockSame    bool         `json:"lock_same"`
	LockFlocked string       `json:"lock_flocked"`
}

// syncBuffer is a log writer that Wait's reader may still write to when
// Wait has returned (on ctx or its bound).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a child started by a test.
type proc struct {
	c    *Child
	dir  string
	lock string // the lock file it holds
}

// newLock creates a lock file and takes its lock, as the store does.
func newLock(t *testing.T) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "account.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return f, path
}

// start starts the child with req, handing it a lock that this process
// holds, then closes this process's copy of the lock. The child ends by
// itself unless hangs, when the cleanup kills it; either way the cleanup
// waits until it is gone (its lock free).
func start(t *testing.T, req childRequest, hangs bool) *proc {
	t.Helper()
	if req.Dir == "" {
		req.Dir = t.TempDir()
	}
	f, path := newLock(t)
	req.Lock = path
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(child, data, f)
	f.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	p := &proc{c: c, dir: req.Dir, lock: path}
	t.Cleanup(func() {
		if hangs {
			p.kill(t)
		} else {
			// One that waits for its release, left waiting by a failed test.
			os.WriteFile(filepath.Join(p.dir, "release"), nil, 0o600)
		}
		p.waitGone(t)
	})
	return p
}

// pid waits for the child's pid file, which it writes once Serve runs its
// work (after Serve ignored the signals).
func (p *proc) pid(t *testing.T) int {
	t.Helper()
	var pid int
	poll(t, "the child's pid file", func() bool {
		b, err := os.ReadFile(filepath.Join(p.dir, "pid"))
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(string(b))
		return err == nil
	})
	return pid
}

// release lets a child that waits for it go on.
func (p *proc) release(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, "release"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tryLock takes the lock through an open file of its own (not the one the
// child holds): it succeeds once the child is gone.
func (p *proc) tryLock(t *testing.T) error {
	t.Helper()
	f, err := os.OpenFile(p.lock, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // lets go of the lock, if taken
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// kill kills a hanging child: it cannot have exited by itself (Serve's
// bound is minutes), and it is checked to still hold its lock first.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	pid := p.pid(t)
	if err := p.tryLock(t); err == nil {
		t.Errorf("the hanging child %d no longer holds its lock", pid)
		return
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Errorf("kill %d: %v", pid, err)
	}
}

// waitGone waits until the child exited: its lock is free. One that does
// not end is killed: it still holds the lock, so it has not exited.
func (p *proc) waitGone(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for p.tryLock(t) != nil {
		if time.Now().After(deadline) {
			t.Errorf("the child did not exit (its lock is held) within %s", patience)
			if b, err := os.ReadFile(filepath.Join(p.dir, "pid")); err == nil {
				if pid, err := strconv.Atoi(string(b)); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exitStatus is the child's exit status from the reaper when Wait did not
// take it (Wait returned on ctx or its bound, or gave up on it).
func (p *proc) exitStatus(t *testing.T) int {
	t.Helper()
	select {
	case code := <-p.c.exited:
		return code
	case <-time.After(patience):
		t.Fatalf("the child was not reaped within %s", patience)
		return 0
	}
}

// checkStatus checks Wait's status against the child's exit status want.
// Wait waits a second for the exit that follows the report or the pipe's
// end, and without it returns fallback (its guess, or -1): on a machine too
// loaded for that second, the reaper's status is checked instead.
func (p *proc) checkStatus(t *testing.T, got, want, fallback int) {
	t.Helper()
	if got == want {
		return
	}
	if got != fallback {
		t.Errorf("Wait's status = %d, want %d", got, want)
		return
	}
	t.Logf("Wait's status = %d: it did not hear of the exit within its second; checking the reaper's", got)
	if code := p.exitStatus(t); code != want {
		t.Errorf("the child's exit status = %d, want %d", code, want)
	}
}

// poll waits until cond holds, failing the test after patience.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// guess is Wait's status for a report whose exit it did not hear of.
func guess(r Report) int {
	if r.Message == "" {
		return 0
	}
	return 1
}

func TestWaitReturnsReportAndStatus(t *testing.T) {
	tests := []struct {
		name string
		req  childRequest
		want Report
	}{
		{"ok", childRequest{Do: "ok"}, Report{}},
		{"failure", childRequest{Do: "fail", Status: 75, Message: "Akiflow answered 503"},
			Report{Message: "Akiflow answered 503"}},
		{"timeout", childRequest{Do: "fail", Status: 69, Message: "Akiflow did not answer", Timeout: true},
			Report{Message: "Akiflow did not answer", Timeout: true}},
		{"unsaved", childRequest{Do: "unsaved", Status: 0, Unsaved: json.RawMessage(`{"email":"a@example.com","refresh_token":"r\"2"}`)},
			Report{Unsaved: json.RawMessage(`{"email":"a@example.com","refresh_token":"r\"2"}`)}},
		{"unsaved and failed", childRequest{Do: "unsaved", Status: 73, Unsaved: json.RawMessage(`{"access_token":"x"}`)},
			Report{Unsaved: json.RawMessage(`{"access_token":"x"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, tt.req, false)
			var log syncBuffer
			status, r, err := p.c.Wait(context.Background(), waitBound, &log)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if r.Message != tt.want.Message || r.Timeout != tt.want.Timeout || !bytes.Equal(r.Unsaved, tt.want.Unsaved) {
				t.Errorf("Wait's report = %+v (unsaved %s), want %+v (unsaved %s)", r, r.Unsaved, tt.want, tt.want.Unsaved)
			}
			p.checkStatus(t, status, tt.req.Status, guess(r))
			if log.String() != "" {
				t.Errorf("log = %q, want nothing", log.String())
			}
		})
	}
}

func TestWaitRelaysLogLinesInOrder(t *testing.T) {
	lines := []string{
		"akiflow-token: refreshing\n",
		"a line with \"quotes\", a tab\t, a backslash \\ and non-ASCII: é ✓\n",
		"two lines\nin one write\n",
		"no newline at its end",
		longLine, // past the scanner's first buffer
		"\n",
		"akiflow-token: saved\n",
	}
	p := start(t, childRequest{Do: "log", Lines: lines, Status: 3, Message: "done"}, false)
	var log syncBuffer
	status, r, err := p.c.Wait(context.Background(), waitBound, &log)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	want := strings.Join(lines, "")
	want = strings.Replace(want, longLine, strings.Repeat("long ", 40000)+"\n", 1)
	if log.String() != want {
		t.Errorf("log = %.200q (%d bytes), want %.200q (%d bytes)", log.String(), len(log.String()), want, len(want))
	}
	if r.Message != "done" {
		t.Errorf("report = %+v, want message done", r)
	}
	p.checkStatus(t, status, 3, guess(r))
}

func TestWaitSkipsLinesNotOfTheProtocol(t *testing.T) {
	p := start(t, childRequest{Do: "noise"}, false)
	var log syncBuffer
	status, r, err := p.c.Wait(context.Background(), waitBound, &log)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if log.String() != "after the noise\n" || r.Message != "heard" {
		t.Errorf("Wait = log %q, report %+v; want the log line and the report alone", log.String(), r)
	}
	p.checkStatus(t, status, 0, guess(r))
}

func TestWaitChildWithoutReport(t *testing.T) {
	p := start(t, childRequest{Do: "exit-early", Status: 3}, false)
	var log syncBuffer
	status, r, err := p.c.Wait(context.Background(), waitBound, &log)
	if !errors.Is(err, ErrNoReport) {
		t.Fatalf("Wait = %d, %+v, %v; want ErrNoReport", status, r, err)
	}
	if !reflect.DeepEqual(r, Report{}) {
		t.Errorf("report = %+v, want none", r)
	}
	if log.String() != "leaving without a word\n" {
		t.Errorf("log = %q, want the child's line", log.String())
	}
	p.checkStatus(t, status, 3, -1)
}

func TestWaitCancelledChildGoesOn(t *testing.T) {
	p := start(t, childRequest{Do: "finish-later", Status: 5}, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log syncBuffer
	type result struct {
		status int
		err    error
	}
	waited := make(chan result, 1)
	go func() {
		status, _, err := p.c.Wait(ctx, time.Hour, &log)
		waited <- result{status, err}
	}()
	p.pid(t) // the child is at work
	cancel()
	select {
	case res := <-waited:
		if !errors.Is(res.err, context.Canceled) || res.status != -1 {
			t.Errorf("Wait = %d, %v; want -1, context.Canceled", res.status, res.err)
		}
	case <-time.After(patience):
		t.Fatalf("Wait did not return within %s of its ctx's end", patience)
	}
	if err := p.tryLock(t); err == nil {
		t.Error("the child let go of the lock when its parent stopped waiting")
	}
	// Its pipe's reader gone, the child logs (to a broken pipe), finishes
	// its work and exits with the work's status, not killed by SIGPIPE.
	p.release(t)
	poll(t, "file the child writes at its end", func() bool {
		_, err := os.Stat(filepath.Join(p.dir, "done"))
		return err == nil
	})
	if code := p.exitStatus(t); code != 5 {
		t.Errorf("the child's exit status = %d, want 5 (its work's)", code)
	}
}

func TestWaitAlreadyCancelled(t *testing.T) {
	p := start(t, childRequest{Do: "hang"}, true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var log syncBuffer
	if status, _, err := p.c.Wait(ctx, time.Hour, &log); !errors.Is(err, context.Canceled) || status != -1 {
		t.Errorf("Wait = %d, %v; want -1, context.Canceled", status, err)
	}
}

// TestAfterTheBounds waits out lateGrace (10 s) past a bound: its cases
// run at once, outside -parallel's count.
func TestAfterTheBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("long (lateGrace, 10 s); runs without -short")
	}
	t.Parallel()
	var wg sync.WaitGroup
	for _, tt := range []struct {
		name string
		test func(*testing.T)
	}{
		{"Wait's bound", testWaitTooLong},
		{"Serve's bound", testServeBackstop},
		{"Wait's bound, no process", testFakeWaitTooLong},
	} {
		wg.Go(func() { t.Run(tt.name, tt.test) })
	}
	wg.Wait()
}

func testWaitTooLong(t *testing.T) {
	p := start(t, childRequest{Do: "hang"}, true)
	var log syncBuffer
	status, r, err := p.c.Wait(context.Background(), 100*time.Millisecond, &log)
	if !errors.Is(err, ErrTooLong) || status != -1 || !reflect.DeepEqual(r, Report{}) {
		t.Errorf("Wait = %d, %+v, %v; want -1, no report, ErrTooLong", status, r, err)
	}
	p.pid(t)
	if err := p.tryLock(t); err == nil {
		t.Error("the child let go of the lock when its parent stopped waiting")
	}
}

func testServeBackstop(t *testing.T) {
	// The work hangs past Serve's bound and lateGrace: Serve returns the
	// backstop status (4, in testdata/child) without a report, and the
	// child exits with it.
	p := start(t, childRequest{Do: "hang", Bound: time.Millisecond}, false)
	var log syncBuffer
	status, _, err := p.c.Wait(context.Background(), waitBound, &log)
	if !errors.Is(err, ErrNoReport) {
		t.Fatalf("Wait = %d, %v; want ErrNoReport", status, err)
	}
	// The child's own line after Serve returned, on its copy of the pipe
	// (its work's line may come before or after it).
	if !strings.Contains(log.String(), "Serve returned 4\n") {
		t.Errorf("log = %q, want Serve's status, 4", log.String())
	}
	p.checkStatus(t, status, 4, -1)
}

func TestWaitReportWithinGrace(t *testing.T) {
	// A report that comes after the bound, within lateGrace, is heard (a
	// parent stopped and resumed finds its bound passed at once).
	p := start(t, childRequest{Do: "inspect"}, false)
	type result struct {
		status int
		r      Report
		err    error
	}
	waited := make(chan result, 1)
	var log syncBuffer
	go func() {
		status, r, err := p.c.Wait(context.Background(), time.Nanosecond, &log)
		waited <- result{status, r, err}
	}()
	p.pid(t) // the child is at work, the bound long passed
	p.release(t)
	res := <-waited
	if errors.Is(res.err, ErrTooLong) {
		// Not the grace's fault if this machine took lateGrace to start
		// and release a child: nothing to conclude.
		t.Skipf("Wait = %v: the child did not report within lateGrace (%s) on this machine", res.err, lateGrace)
	}
	if res.err != nil || len(res.r.Unsaved) == 0 {
		t.Fatalf("Wait = %d, %+v, %v; want the report", res.status, res.r, res.err)
	}
	p.checkStatus(t, res.status, 0, guess(res.r))
}

// inspect starts an "inspect" child, lets look (while it waits, at work)
// and returns what it saw of itself.
func inspect(t *testing.T, req childRequest, look func(p *proc, pid int)) observations {
	t.Helper()
	req.Do = "inspect"
	p := start(t, req, false)
	look(p, p.pid(t))
	p.release(t)
	var log syncBuffer
	status, r, err := p.c.Wait(context.Background(), waitBound, &log)
	if err != nil {
		t.Fatalf("Wait = %d, %+v, %v; want a report", status, r, err)
	}
	p.checkStatus(t, status, req.Status, guess(r))
	var o observations
	if err := json.Unmarshal(r.Unsaved, &o); err != nil {
		t.Fatalf("the child's observations %q: %v", r.Unsaved, err)
	}
	return o
}

func TestChildHoldsTheLock(t *testing.T) {
	o := inspect(t, childRequest{}, func(p *proc, pid int) {
		// This process closed its copy right after Start: the lock is the
		// child's, which another open file of it cannot take.
		if err := p.tryLock(t); !errors.Is(err, unix.EWOULDBLOCK) {
			t.Errorf("flock of another open file of the lock while the child runs = %v, want %v", err, unix.EWOULDBLOCK)
		}
	})
	if !o.LockSame {
		t.Errorf("the child's fd 3 (%v) is not the lock file handed down", o.FDs)
	}
	if o.LockFlocked != "" {
		t.Errorf("the child's flock of fd 3: %s; want it held already (the same open file)", o.LockFlocked)
	}
	// The cleanup waits for the lock to come free as the child exits.
}

func TestChildArgvAndRequest(t *testing.T) {
	const marker = "marker-8d2f0c"
	o := inspect(t, childRequest{Marker: marker}, func(p *proc, pid int) {
		if runtime.GOOS != "linux" {
			return
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
		if !slices.Equal(args, []string{child, Command}) {
			t.Errorf("/proc/%d/cmdline = %q, want %q", pid, args, []string{child, Command})
		}
		if strings.Contains(string(cmdline), marker) {
			t.Errorf("the request is in the child's argv: %q", cmdline)
		}
		// It is in the environment, which only its user can read.
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(environ), requestVar+"=") || !strings.Contains(string(environ), marker) {
			t.Errorf("the request is not in the child's environment")
		}
		if st, err := os.Stat(fmt.Sprintf("/proc/%d/environ", pid)); err == nil && st.Mode().Perm()&0o077 != 0 {
			t.Errorf("/proc/%d/environ is readable by others: %v", pid, st.Mode())
		}
	})
	if !slices.Equal(o.Args, []string{child, Command}) {
		t.Errorf("the child's os.Args = %q, want %q", o.Args, []string{child, Command})
	}
}

func TestChildDescriptors(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("the child lists its descriptors from /proc/self/fd or /dev/fd")
	}
	// A descriptor this process inherited (a shell's 3>log): not
	// close-on-exec, which exec.Cmd alone would pass on.
	extra, err := syscall.Open(filepath.Join(t.TempDir(), "extra"), syscall.O_RDWR|syscall.O_CREAT, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(extra)
	if inheritable(t, extra) != true {
		t.Fatalf("fd %d opened without O_CLOEXEC is close-on-exec", extra)
	}
	o := inspect(t, childRequest{}, func(*proc, int) {
		if !inheritable(t, extra) {
			t.Errorf("fd %d is close-on-exec after Start: want it restored", extra)
		}
	})
	// The child's Go runtime opens files of its own (the cgroup's CPU
	// limits, since Go 1.25), close-on-exec like every file Go opens: the
	// descriptors it inherited are those that are not.
	var extraStat syscall.Stat_t
	if err := syscall.Fstat(extra, &extraStat); err != nil {
		t.Fatal(err)
	}
	var inherited []int
	for _, d := range o.FDs {
		if !d.CloseOnExec {
			inherited = append(inherited, d.FD)
		}
		if d.Dev == uint64(extraStat.Dev) && d.Ino == uint64(extraStat.Ino) {
			t.Errorf("the child's fd %d is this process's fd %d (%s), which was not close-on-exec", d.FD, extra, d.Target)
		}
	}
	if !slices.Equal(inherited, []int{0, 1, 2, 3, 4}) {
		t.Errorf("the child inherited descriptors %v (all: %+v), want 0-4 alone", inherited, o.FDs)
	}
	// A Start that fails restores the descriptor too.
	f, _ := newLock(t)
	defer f.Close()
	if _, err := Start(filepath.Join(t.TempDir(), "missing"), nil, f); err == nil {
		t.Error("Start of a missing program succeeded")
	}
	if !inheritable(t, extra) {
		t.Errorf("fd %d is close-on-exec after a failed Start: want it restored", extra)
	}
}

func TestChildStdioIsDevNull(t *testing.T) {
	o := inspect(t, childRequest{}, func(*proc, int) {})
	for fd, name := range []string{"stdin", "stdout", "stderr"} {
		if !o.DevNull[fd] {
			t.Errorf("the child's %s is not %s: %+v", name, os.DevNull, o.FDs)
		}
	}
}

// inheritable says fd is not close-on-exec.
func inheritable(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.FD_CLOEXEC == 0
}

func TestChildIgnoresSignals(t *testing.T) {
	inspect(t, childRequest{}, func(p *proc, pid int) {
		// Serve ignores them before work runs, and work wrote the pid.
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT} {
			if err := syscall.Kill(pid, sig); err != nil {
				t.Fatalf("kill %d %v: %v", pid, sig, err)
			}
		}
	})
	// inspect checked that it went on to report and exit 0.
}

func TestChildOwnSession(t *testing.T) {
	o := inspect(t, childRequest{}, func(p *proc, pid int) {
		sid, err := unix.Getsid(pid)
		if errors.Is(err, unix.EPERM) { // some systems answer only within a session
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if sid != pid {
			t.Errorf("getsid(%d) = %d, want %d: its own session", pid, sid, pid)
		}
	})
	if o.SID != o.PID || o.PGID != o.PID {
		t.Errorf("the child's pid, sid, pgid = %d, %d, %d; want one session and group of its own", o.PID, o.SID, o.PGID)
	}
	if ours, err := unix.Getsid(0); err == nil && ours == o.SID {
		t.Errorf("the child is in this process's session %d", ours)
	}
}

func TestServeRefusesToRunByHand(t *testing.T) {
	pipe := func(t *testing.T) *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		return w
	}
	file := func(t *testing.T) *os.File {
		f, _ := newLock(t)
		t.Cleanup(func() { f.Close() })
		return f
	}
	tests := []struct {
		name    string
		request bool
		extra   func(t *testing.T) []*os.File
		refused bool
	}{
		{"nothing", false, func(*testing.T) []*os.File { return nil }, true},
		{"a request alone", true, func(*testing.T) []*os.File { return nil }, true},
		{"a file alone", true, func(t *testing.T) []*os.File { return []*os.File{file(t)} }, true},
		{"two files", true, func(t *testing.T) []*os.File { return []*os.File{file(t), file(t)} }, true},
		{"two pipes", true, func(t *testing.T) []*os.File { return []*os.File{pipe(t), pipe(t)} }, true},
		{"a pipe then a file", true, func(t *testing.T) []*os.File { return []*os.File{pipe(t), file(t)} }, true},
		{"a file then a pipe", true, func(t *testing.T) []*os.File { return []*os.File{file(t), pipe(t)} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(child, Command)
			cmd.Env = os.Environ()
			if tt.request {
				cmd.Env = append(cmd.Env, requestVar+`={"do":"ok","dir":`+strconv.Quote(dir)+`}`)
			}
			cmd.ExtraFiles = tt.extra(t)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			_, pidErr := os.Stat(filepath.Join(dir, "pid"))
			ran := strings.Contains(string(out), "work ran") || pidErr == nil
			if !tt.refused {
				if err != nil || !ran {
					t.Errorf("the child with its lock and pipe = %v, %q; want its work run", err, out)
				}
				return
			}
			if !errors.As(err, &exit) || exit.ExitCode() != 64 {
				t.Errorf("the child run by hand: %v, want exit status 64", err)
			}
			if !strings.Contains(string(out), Command+" is run by akiflow-token itself") {
				t.Errorf("the child run by hand said %q, want that %s is run by akiflow-token itself", out, Command)
			}
			if ran {
				t.Errorf("Serve ran the work of a child run by hand: %q", out)
			}
		})
	}
}

func TestRequestUnset(t *testing.T) {
	t.Setenv(requestVar, "x")
	os.Unsetenv(requestVar)
	if b, ok := Request(); ok || len(b) != 0 {
		t.Errorf("Request() with no request = %q, %v; want none", b, ok)
	}
	t.Setenv(requestVar, `{"v":2}`)
	if b, ok := Request(); !ok || string(b) != `{"v":2}` {
		t.Errorf("Request() = %q, %v; want the variable's value", b, ok)
	}
}
