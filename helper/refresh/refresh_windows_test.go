package refresh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// This test binary is also the refresh child of these tests: run with
// the single argument Command, it serves its request (winRequest) as
// testdata/child does on Unix (no Go toolchain is at hand under Wine to
// build a program of its own).
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == Command {
		os.Exit(winChild())
	}
	os.Exit(m.Run())
}

// winRequest is what a test asks its child to do.
type winRequest struct {
	Do      string   `json:"do"` // ok, fail, log, inspect, wait
	Status  int      `json:"status,omitempty"`
	Message string   `json:"message,omitempty"`
	Lines   []string `json:"lines,omitempty"`
	Lock    string   `json:"lock,omitempty"`     // the lock file's path
	Stray   uint64   `json:"stray,omitempty"`    // a handle of the parent's, inheritable, not handed down
	StrayAt string   `json:"stray_at,omitempty"` // its file's path
	Release string   `json:"release,omitempty"`  // "wait" waits for this file
}

// winObservations is what an "inspect" child saw of itself (in
// Report.Unsaved).
type winObservations struct {
	Args      []string `json:"args"`
	StdioNul  []bool   `json:"stdio_nul"` // stdin, stdout, stderr are NUL: character devices, not consoles
	Console   bool     `json:"console"`   // CONOUT$ opens
	LockSame  bool     `json:"lock_same"` // the lock handle is the file at winRequest.Lock
	LockTaken string   `json:"lock_taken"`
	Stray     bool     `json:"stray"`      // the stray handle's value is its file here
	HandleVar bool     `json:"handle_var"` // handlesVar is still set once Serve has run
}

func winChild() int {
	var req winRequest
	if data, ok := Request(); ok {
		if err := json.Unmarshal(data, &req); err != nil {
			fmt.Fprintf(os.Stderr, "child: bad request: %v\n", err)
			return 2
		}
	}
	status, err := Serve(2*time.Minute, 4, func(lock *os.File, log io.Writer) (int, Report) {
		switch req.Do {
		case "ok":
			return 0, Report{}
		case "fail":
			return req.Status, Report{Message: req.Message}
		case "log":
			for _, l := range req.Lines {
				io.WriteString(log, l)
			}
			return req.Status, Report{Message: req.Message}
		case "inspect":
			return req.Status, Report{Unsaved: winInspect(req, lock)}
		case "wait":
			for {
				if _, err := os.Stat(req.Release); err == nil {
					return req.Status, Report{Message: "released"}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		return 70, Report{Message: "unknown request " + req.Do}
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "child: %v\n", err)
		return 64
	}
	return status
}

func winInspect(req winRequest, lock *os.File) json.RawMessage {
	o := winObservations{Args: os.Args}
	for _, f := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		typ, _ := windows.GetFileType(windows.Handle(f.Fd()))
		var mode uint32
		o.StdioNul = append(o.StdioNul, typ == windows.FILE_TYPE_CHAR && windows.GetConsoleMode(windows.Handle(f.Fd()), &mode) != nil)
	}
	if f, err := os.OpenFile("CONOUT$", os.O_WRONLY, 0); err == nil {
		o.Console = true
		f.Close()
	}
	got, err := lock.Stat()
	want, err2 := os.Stat(req.Lock)
	o.LockSame = err == nil && err2 == nil && os.SameFile(got, want)
	if err := lockFile(lock); err != nil {
		o.LockTaken = err.Error()
	}
	if req.Stray != 0 {
		st, err := os.NewFile(uintptr(req.Stray), "stray").Stat()
		at, err2 := os.Stat(req.StrayAt)
		o.Stray = err == nil && err2 == nil && os.SameFile(st, at)
	}
	_, o.HandleVar = os.LookupEnv(handlesVar)
	b, _ := json.Marshal(o)
	return b
}

// lockFile takes f's lock as cache does on Windows (LockFileEx), failing
// at once if another process holds it.
func lockFile(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}

// winStart starts this binary as a refresh child with req, handing it a
// new lock file, whose path it returns; this process's copy is closed.
func winStart(t *testing.T, req winRequest) (*Child, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	req.Lock = filepath.Join(t.TempDir(), "account.lock")
	f, err := os.OpenFile(req.Lock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(req)
	c, err := Start(exe, data, f)
	f.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return c, req.Lock
}

// wait waits for the child's report, which it must send.
func wait(t *testing.T, c *Child) (int, Report, string) {
	t.Helper()
	var log strings.Builder // written by Wait's reader only before Wait returns
	status, r, err := c.Wait(context.Background(), time.Minute, &log)
	if err != nil {
		t.Fatalf("Wait = %d, %+v, %v; want a report", status, r, err)
	}
	return status, r, log.String()
}

func TestChildReportsAndLogs(t *testing.T) {
	c, _ := winStart(t, winRequest{Do: "ok"})
	if status, r, log := wait(t, c); status != 0 || r.Message != "" || log != "" {
		t.Errorf("an ok child: status %d, report %+v, log %q; want 0, nothing", status, r, log)
	}
	c, _ = winStart(t, winRequest{Do: "fail", Status: 75, Message: "Akiflow answered 503"})
	if status, r, _ := wait(t, c); status != 75 || r.Message != "Akiflow answered 503" {
		t.Errorf("a failed child: status %d, report %+v; want 75 and its message", status, r)
	}
	lines := []string{"akiflow-token: refreshing\n", "a \"quoted\" line, é ✓\n", "no newline"}
	c, _ = winStart(t, winRequest{Do: "log", Lines: lines, Status: 3, Message: "done"})
	if status, r, log := wait(t, c); status != 3 || r.Message != "done" || log != strings.Join(lines, "") {
		t.Errorf("a child that logs: status %d, report %+v, log %q; want 3, done, %q", status, r, log, strings.Join(lines, ""))
	}
}

// The child gets the lock file and the pipe and nothing else of ours; its
// stdio is NUL and it has no console.
func TestChildGetsTheLockAndNothingElse(t *testing.T) {
	stray := filepath.Join(t.TempDir(), "stray")
	name, _ := windows.UTF16PtrFromString(stray)
	sa := &windows.SecurityAttributes{InheritHandle: 1}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	h, err := windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(h)
	c, _ := winStart(t, winRequest{Do: "inspect", Stray: uint64(h), StrayAt: stray})
	_, r, _ := wait(t, c)
	var o winObservations
	if err := json.Unmarshal(r.Unsaved, &o); err != nil {
		t.Fatalf("the child's observations %q: %v", r.Unsaved, err)
	}
	exe, _ := os.Executable()
	if !slices.Equal(o.Args, []string{exe, Command}) {
		t.Errorf("the child's os.Args = %q, want %q", o.Args, []string{exe, Command})
	}
	if !o.LockSame {
		t.Error("the child's lock handle is not the lock file handed down")
	}
	if o.LockTaken != "" {
		t.Errorf("the child could not lock the handle it adopted: %s", o.LockTaken)
	}
	if o.Stray {
		t.Error("the child inherited an inheritable handle of this process that was not handed down")
	}
	if !slices.Equal(o.StdioNul, []bool{true, true, true}) {
		t.Errorf("the child's stdin, stdout, stderr are NUL: %v, want all true", o.StdioNul)
	}
	if o.Console {
		t.Error("the child has a console (DETACHED_PROCESS should leave it none)")
	}
	if o.HandleVar {
		t.Errorf("%s is still in the child's environment once Serve found its handles", handlesVar)
	}
}

// The child goes on when its parent stops waiting, and finishes its work.
func TestChildGoesOnAlone(t *testing.T) {
	release := filepath.Join(t.TempDir(), "release")
	c, _ := winStart(t, winRequest{Do: "wait", Status: 5, Release: release})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if status, _, err := c.Wait(ctx, time.Minute, io.Discard); !errors.Is(err, context.Canceled) || status != -1 {
		t.Errorf("Wait = %d, %v; want -1, context.Canceled", status, err)
	}
	os.WriteFile(release, nil, 0o600)
	select {
	case code := <-c.exited:
		if code != 5 {
			t.Errorf("the child's exit status = %d, want 5 (its work's)", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("the child did not finish its work alone")
	}
}

func TestServeRefusesToRunByHand(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, handles := range []string{"", "x", "1,2", fmt.Sprint(file.Fd()) + "," + fmt.Sprint(file.Fd())} {
		cmd := exec.Command(exe, Command)
		cmd.Env = append(os.Environ(), requestVar+`={"do":"ok"}`)
		if handles != "" {
			cmd.Env = append(cmd.Env, handlesVar+"="+handles)
		}
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 64 || !strings.Contains(string(out), Command+" is run by akiflow-token itself") {
			t.Errorf("the child with %s=%q: %v, %q; want exit status 64, saying it is run by akiflow-token itself", handlesVar, handles, err, out)
		}
	}
}

// The wait past a bound, which takes lateGrace.
func TestFakeWaitTooLong(t *testing.T) {
	if testing.Short() {
		t.Skip("long (lateGrace, 10 s); runs without -short")
	}
	testFakeWaitTooLong(t)
}
