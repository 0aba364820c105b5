// End-to-end tests of the detached refresh process (helper/refresher.go):
// it finishes a refresh whatever signals reach it, it holds no descriptor
// of its caller but its own, and it refreshes nothing without the lock.
package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// needProc skips a test that finds processes and their descriptors in /proc.
func needProc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
}

// procStat is a process's state and parent, from /proc/PID/stat; ok is
// false once the process is gone.
func procStat(pid int) (state byte, ppid int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, false
	}
	var s string
	if _, err := fmt.Sscan(string(data[i+1:]), &s, &ppid); err != nil || s == "" {
		return 0, 0, false
	}
	return s[0], ppid, true
}

// alive says pid is running: neither gone nor a zombie waiting to be reaped.
func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// refreshProcessOf waits for caller's child that runs __refresh (after its
// exec: before it, the child is a copy of the caller) and returns its pid.
// It is found by parent pid, never by name.
func refreshProcessOf(t *testing.T, caller int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, p := range stats {
			pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if err != nil {
				continue
			}
			if _, ppid, ok := procStat(pid); !ok || ppid != caller {
				continue
			}
			argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if bytes.Contains(argv, []byte("\x00__refresh\x00")) {
				return pid
			}
		}
		if !alive(caller) {
			t.Fatalf("akiflow-token (pid %d) ended without starting a refresh process", caller)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("akiflow-token (pid %d) started no refresh process within 20s", caller)
	return 0
}

// waitUntil polls cond for up to 20 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// sendSignal sends sig to pid, which must be a process the test found.
func sendSignal(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if pid <= 1 {
		t.Fatalf("refusing to signal pid %d", pid)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Errorf("%v to pid %d: %v", sig, pid, err)
	}
}

// startCaller starts akiflow-token with args as a script would, in a
// session of its own, with extra descriptors from 3 up.
func (w *world) startCaller(extra []*os.File, args ...string) (*exec.Cmd, *bytes.Buffer) {
	w.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = w.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.ExtraFiles = extra
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { cmd.Process.Kill() }) // a no-op once it has ended
	return cmd, &stderr
}

// A service manager, a closed terminal or a container stop signals every
// process: the refresh process ignores SIGTERM, SIGHUP and SIGINT and saves
// the pair it was sent, and the session goes on working.
func TestRefreshProcessIgnoresTerminationSignals(t *testing.T) {
	needProc(t)
	w := newWorld(t)
	first := w.login(alice)
	w.expire(alice)
	old, err := w.readSession(alice)
	if err != nil {
		t.Fatal(err)
	}
	w.srv.SetLatency(500 * time.Millisecond)
	before := w.counts()
	caller, stderr := w.startCaller(nil)
	child := refreshProcessOf(t, caller.Process.Pid)

	// Once it talks to the server, its signal handling is set: signal it
	// before the refresh is sent, and again while the server holds it.
	waitUntil(t, "the csrf-cookie request arrives", func() bool {
		return w.srv.Count(akiflowtest.RouteCSRF) > before[akiflowtest.RouteCSRF]
	})
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		sendSignal(t, child, sig)
	}
	waitUntil(t, "the refresh request arrives", func() bool {
		return w.srv.Count(akiflowtest.RouteRefresh) > before[akiflowtest.RouteRefresh] || !alive(child)
	})
	if !alive(child) {
		t.Fatal("the refresh process died of the signals before it sent the refresh")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		sendSignal(t, child, sig)
	}
	sendSignal(t, caller.Process.Pid, syscall.SIGTERM)
	check(t, "the caller's exit status after SIGTERM", exitCode(t, caller.Wait()), 130)
	w.checkNoSecrets("the caller's stderr", stderr.String())
	if !alive(child) {
		t.Fatal("the refresh process ended with its caller, before the server answered")
	}
	waitUntil(t, "the refresh process ends", func() bool { return !alive(child) })

	// The new pair was saved, and the saved refresh token is the live one:
	// the next refresh works, with no login.
	now, err := w.readSession(alice)
	if err != nil {
		t.Fatalf("the session after the signals: %v", err)
	}
	checkChanged(t, "the saved refresh token", fmt.Sprint(now["refresh_token"]), fmt.Sprint(old["refresh_token"]))
	checkChanged(t, "the saved access token", fmt.Sprint(now["access_token"]), first)
	w.checkAccepted(fmt.Sprint(now["access_token"]))
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	w.srv.SetLatency(0)
	before = w.counts()
	checkChanged(t, "the token of the next refresh", w.tokenOf(w.run("--force-refresh")), fmt.Sprint(now["access_token"]))
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
}

// pipeInode is the name /proc/PID/fd links give f's pipe: pipe:[INODE].
func pipeInode(t *testing.T, f *os.File) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pipe:[%d]", st.Ino)
}

// descriptors is what each of pid's descriptors is open on.
func descriptors(t *testing.T, pid int) map[int]string {
	t.Helper()
	links, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil || len(links) == 0 {
		t.Fatalf("the descriptors of pid %d: %v", pid, err)
	}
	fds := map[int]string{}
	for _, l := range links {
		fd, _ := strconv.Atoi(filepath.Base(l))
		if target, err := os.Readlink(l); err == nil {
			fds[fd] = target
		}
	}
	return fds
}

// A caller's descriptors (a shell's 3>log, a pipeline's pipe) do not reach
// the refresh process: a pipe of the caller's caller is closed as soon as
// the caller is gone, not when the refresh ends.
func TestRefreshProcessHoldsNoDescriptorOfItsCaller(t *testing.T) {
	needProc(t)
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	w.srv.SetLatency(2 * time.Second)

	// Three pipes on the caller's fds 3, 4 and 5, as a shell's 3>&1 4>… 5>…
	// would leave them: not close-on-exec.
	var readers, writers []*os.File
	for range 3 {
		r, wr, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		readers, writers = append(readers, r), append(writers, wr)
	}
	before := w.counts()
	caller, stderr := w.startCaller(writers)
	for _, wr := range writers {
		wr.Close()
	}
	eof := make(chan int, len(readers))
	for i, r := range readers {
		go func() {
			io.Copy(io.Discard, r)
			eof <- i
		}()
	}
	child := refreshProcessOf(t, caller.Process.Pid)
	waitUntil(t, "the csrf-cookie request arrives", func() bool {
		return w.srv.Count(akiflowtest.RouteCSRF) > before[akiflowtest.RouteCSRF]
	})

	fds := descriptors(t, child)
	for i, r := range readers {
		pipe := pipeInode(t, r)
		for fd, target := range fds {
			if target == pipe {
				t.Errorf("the refresh process holds the caller's pipe on fd %d (as its fd %d)", 3+i, fd)
			}
		}
	}
	for fd := range 3 {
		check(t, fmt.Sprintf("the refresh process's fd %d", fd), fds[fd], os.DevNull)
	}
	if !strings.HasSuffix(fds[3], alice+".lock") {
		t.Errorf("the refresh process's fd 3 is %s, not the lock file", fds[3])
	}
	if !strings.HasPrefix(fds[4], "pipe:") {
		t.Errorf("the refresh process's fd 4 is %s, not the result pipe", fds[4])
	}
	t.Logf("the refresh process's descriptors: %v", fds)

	// The caller is stopped mid-refresh: its pipes close at once, while the
	// refresh goes on.
	sendSignal(t, caller.Process.Pid, syscall.SIGTERM)
	check(t, "the caller's exit status after SIGTERM", exitCode(t, caller.Wait()), 130)
	w.checkNoSecrets("the caller's stderr", stderr.String())
	for range readers {
		select {
		case <-eof:
		case <-time.After(time.Second):
			t.Fatal("a pipe of the caller's caller is still open a second after the caller ended")
		}
	}
	if !alive(child) {
		t.Error("the refresh process ended before the server answered: the test proves nothing")
	}
	waitUntil(t, "the refresh process ends", func() bool { return !alive(child) })
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	before = w.counts()
	w.tokenOf(w.run()) // a cache hit on what it saved
	w.checkRequests(before, map[string]int{})
}

// exec keeps the descriptors its caller gave it: the refresh process is
// started without them, and they are handed to the command.
func TestExecPassesItsDescriptorsOn(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	dir := t.TempDir()
	three, five := filepath.Join(dir, "three"), filepath.Join(dir, "five")
	before := w.counts()
	script := `akiflow-token exec -- sh -c 'echo hi >&3 && echo there >&5 && echo "${AKIFLOW_TOKEN:+token}"' 3>"$1" 5>"$2"`
	r := w.runProgram(nil, nil, "sh", "-c", script, "sh", three, five)
	check(t, "exit status", r.code, 0)
	check(t, "stdout", r.stdout, "token\n")
	if r.stderr != "" {
		t.Errorf("stderr:\n%s", redact(r.stderr))
	}
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1}) // the refresh process ran first
	for path, want := range map[string]string{three: "hi\n", five: "there\n"} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "what the command wrote on fd "+filepath.Base(path), string(got), want)
	}
}

// __refresh run by hand refreshes nothing unless fd 3 is the account's lock
// file with its lock held by this process (the handed-down lock) and fd 4
// a pipe. The last case, with both, refreshes: the refusals are the
// descriptors', not the request's.
func TestRefreshProcessStartedByHandRefuses(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	lockPath := strings.TrimSuffix(w.cacheFile(alice), ".json") + ".lock"
	// The request as refreshRequest writes it (v: the refresh protocol).
	request, _ := json.Marshal(map[string]any{"v": 1, "base_url": w.srv.URL, "email": alice, "timeout": int64(5 * time.Second)})
	saved, err := os.ReadFile(w.cacheFile(alice))
	if err != nil {
		t.Fatal(err)
	}

	open := func(path string) *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	pipe := func() *os.File {
		r, wr, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); wr.Close() })
		return wr
	}
	// Another process holds the lock: this test, on its own open file.
	held := open(lockPath)
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(held.Fd()), syscall.LOCK_UN)

	run := func(t *testing.T, extra []*os.File) (code int, stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(binary, "__refresh", string(request))
		cmd.Env = w.env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		cmd.ExtraFiles = extra
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
		code = exitCode(t, cmd.Wait())
		timer.Stop()
		w.checkNoSecrets("stderr", errOut.String())
		return code, out.String(), errOut.String()
	}

	for _, tc := range []struct {
		name  string
		extra []*os.File
		says  string
	}{
		{"nothing on fds 3 and 4", nil, "is run by akiflow-token itself"},
		{"another file on fd 3", []*os.File{open(filepath.Join(t.TempDir(), alice+".lock")), pipe()}, "is not " + lockPath},
		{"the session file on fd 3", []*os.File{open(w.cacheFile(alice)), pipe()}, "is not " + lockPath},
		{"the lock file, held by another process", []*os.File{open(lockPath), pipe()}, "another process holds it"},
		{"the lock file, held by another process, no pipe on fd 4", []*os.File{open(lockPath)}, "is run by akiflow-token itself"},
		{"the held lock's own file, a file on fd 4", []*os.File{held, open(filepath.Join(t.TempDir(), "out"))}, "is run by akiflow-token itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := w.counts()
			code, stdout, stderr := run(t, tc.extra)
			if code == 0 {
				t.Errorf("exit status 0")
			}
			check(t, "stdout", stdout, "")
			line, ok := strings.CutSuffix(stderr, "\n")
			if !ok || strings.Contains(line, "\n") || !strings.HasPrefix(line, "akiflow-token: ") || !strings.Contains(line, tc.says) {
				t.Errorf("want one line saying %q, got:\n%s", tc.says, redact(stderr))
			}
			w.checkRequests(before, map[string]int{})
			now, err := os.ReadFile(w.cacheFile(alice))
			if err != nil {
				t.Fatal(err)
			}
			check(t, "the session file", string(now), string(saved))
		})
	}

	t.Run("the held lock's own file and a pipe: it refreshes", func(t *testing.T) {
		before := w.counts()
		code, stdout, stderr := run(t, []*os.File{held, pipe()})
		check(t, "exit status", code, 0)
		check(t, "stdout", stdout, "")
		check(t, "stderr", stderr, "")
		w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
		syscall.Flock(int(held.Fd()), syscall.LOCK_UN)
		w.tokenOf(w.run()) // a cache hit on what it saved
		w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	})
}
