//go:build unix

// End-to-end tests of the refresh as processes do it: many callers at once
// share one refresh (or one login), a SIGKILL at any moment loses no
// session, and the detached refresh process (helper/refresher.go) finishes
// whatever signals reach it, holds no descriptor of its caller but its own,
// has no secret in its argv, and refreshes nothing without the lock.
package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
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

func TestConcurrentCallersRefreshOnce(t *testing.T) {
	t.Parallel()
	needProc(t)
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	// The refresh waits at the gate until every caller is running: they
	// all meet the expired token, and all but one wait for the lock.
	g := w.hold(akiflowtest.RouteCSRF, 1)
	n := repeat(50, 8)
	before := w.counts()
	done := make(chan []result)
	go func() { done <- w.parallel(n) }()
	g.waitArrival(t)
	waitUntil(t, fmt.Sprintf("%d callers run", n), func() bool { return w.callers() == n })
	g.release()
	results := <-done
	first := results[0].stdout
	for i, r := range results {
		w.tokenOf(r)
		check(t, fmt.Sprintf("process %d prints the same token as process 0", i), r.stdout, first)
	}
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
}

// A lock file removed while its refresh is under way (a cleaner of
// ~/.cache, a person) lets the next caller lock a new one. That caller's
// refresh process sees the first one's save under way and sends nothing:
// the refresh token is spent once, and the session is kept.
func TestRemovedLockFileSendsNoSecondRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	before := w.counts()
	reply := w.holdReply(akiflowtest.RouteRefresh, nil)
	first := w.startCommand("-e", alice)
	reply.waitArrival(t) // processed: the token rotated, and its answer waits
	if err := os.Remove(w.lockFile(alice)); err != nil {
		t.Fatal(err)
	}
	second := w.run("-e", alice)
	check(t, "the second caller: exit status", second.code, 4)
	if !strings.Contains(second.stderr, "another akiflow-token is saving this session now") {
		t.Errorf("the second caller said:\n%s", redact(second.stderr))
	}
	reply.release()
	w.tokenOf(first.wait())
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	w.tokenOf(w.run("--force-refresh", "-e", alice)) // the saved session is the live one
}

// callers counts the akiflow-token processes this test process started
// for this world (found by their parent and their AKIFLOW_BASE_URL) that
// are running.
func (w *world) callers() int {
	n := 0
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || !alive(pid) {
			continue
		}
		if _, ppid, _ := procStat(pid); ppid != os.Getpid() {
			continue
		}
		argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if bytes.HasPrefix(argv, []byte(binary+"\x00")) && bytes.Contains(env, []byte("\x00AKIFLOW_BASE_URL="+w.srv.URL+"\x00")) {
			n++
		}
	}
	return n
}

func TestConcurrentLoginsMailOneCode(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var runs []*terminalRun
	for range 4 {
		runs = append(runs, w.start("-e", alice))
	}
	// One of them holds the lock and asks; the others wait for its session.
	var asking *terminalRun
	waitUntil(t, "a process asks for the code", func() bool {
		for _, r := range runs {
			if strings.Contains(r.text(), "Code: ") {
				asking = r
			}
		}
		return asking != nil
	})
	asking.typeLine(w.srv.Code(alice))
	var tokens []string
	for _, r := range runs {
		tokens = append(tokens, w.tokenOf(r.wait()))
	}
	for i := range tokens {
		check(t, fmt.Sprintf("process %d prints the same token as process 0", i), tokens[i], tokens[0])
	}
	check(t, "codes mailed", w.srv.Count(akiflowtest.RouteLogin), 1)
}

// The README promises that a SIGKILL during a refresh never loses the
// session: kill refreshes at random moments, and after each the cache file
// parses and the next call finds a session (the new one, or the old one
// that was not spent), without being blocked by a stale lock.
func TestKilledRefreshesLoseNoSession(t *testing.T) {
	t.Parallel()
	kills := repeat(200, 20)
	w := newWorld(t)
	w.login(alice)
	w.srv.SetLatency(3 * time.Millisecond) // a refresh lasts a few ms: the kills land in it
	lost, refreshes := 0, w.srv.Count(akiflowtest.RouteRefresh)
	for i := range kills {
		w.killDuringRefresh(20 * time.Millisecond)
		if _, err := w.readSession(alice); err != nil {
			t.Fatalf("kill %d: the cache file does not parse: %v", i, err)
		}
		r := w.run("-e", alice)
		switch r.code {
		case 0:
			w.tokenOf(r)
		case 3:
			lost++
			t.Errorf("kill %d: the session was lost: %s", i, redact(r.stderr))
			w.login(alice) // go on, to count the losses
		default:
			t.Fatalf("kill %d: the next call exited %d: %s", i, r.code, redact(r.stderr))
		}
	}
	t.Logf("%d kills during refresh, %d refresh requests, %d sessions lost", kills, w.srv.Count(akiflowtest.RouteRefresh)-refreshes, lost)
	check(t, fmt.Sprintf("sessions lost in %d kills", kills), lost, 0)
}

// killDuringRefresh expires alice's token, runs the program and SIGKILLs
// it at a random moment within within, as its refresh goes on.
func (w *world) killDuringRefresh(within time.Duration) {
	w.t.Helper()
	w.expire(alice)
	cmd := exec.Command(binary)
	cmd.Env = w.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	time.Sleep(rand.N(within))
	cmd.Process.Kill()
	cmd.Wait()
}

// While another process holds the account's lock (a login waiting at its
// code prompt, a slow refresh), a still-good token is printed with a
// warning after a short wait, not held up for the whole lock wait.
func TestStillGoodTokenDoesNotWaitForAnotherLogin(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	token := w.login(alice)
	w.nearExpiry(alice)
	f, err := os.OpenFile(w.lockFile(alice), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	before := w.counts()
	res := w.run()
	check(t, "the cached token", w.tokenOf(res), token)
	if !strings.Contains(res.stderr, "another akiflow-token is refreshing or logging in") {
		t.Errorf("no warning: %q", redact(res.stderr))
	}
	w.checkRequests(before, map[string]int{})
}

// needProc skips a test that finds processes and their descriptors in /proc.
func needProc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("skipped: needs /proc")
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
	pid := 0
	waitUntil(t, fmt.Sprintf("akiflow-token (pid %d) starts a refresh process", caller), func() bool {
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, p := range stats {
			child, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if err != nil {
				continue
			}
			if _, ppid, ok := procStat(child); !ok || ppid != caller {
				continue
			}
			argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", child))
			if bytes.Contains(argv, []byte("\x00__refresh\x00")) {
				pid = child
				return true
			}
		}
		if !alive(caller) {
			t.Fatalf("akiflow-token (pid %d) ended without starting a refresh process", caller)
		}
		return false
	})
	return pid
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

// A service manager, a closed terminal or a container stop signals every
// process: the refresh process ignores SIGTERM, SIGHUP and SIGINT and saves
// the pair it was sent, and the session goes on working. The fake holds
// each request at a gate, so the signals reach the refresh process before
// it sends the refresh and while it waits for the answer.
func TestRefreshProcessIgnoresTerminationSignals(t *testing.T) {
	t.Parallel()
	needProc(t)
	w := newWorld(t)
	first := w.login(alice)
	w.expire(alice)
	old := w.session(alice)
	csrf, refresh := w.hold(akiflowtest.RouteCSRF, 1), w.hold(akiflowtest.RouteRefresh, 1)
	before := w.counts()
	caller := w.startCommand()
	child := refreshProcessOf(t, caller.pid())

	// Once it talks to the server, its signal handling is set.
	csrf.waitArrival(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		sendSignal(t, child, sig)
	}
	csrf.release()
	refresh.waitArrival(t)
	if !alive(child) {
		t.Fatal("the refresh process died of the signals")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		sendSignal(t, child, sig)
	}
	sendSignal(t, caller.pid(), syscall.SIGTERM)
	check(t, "the caller's exit status after SIGTERM", caller.wait().code, 130)
	if !alive(child) {
		t.Fatal("the refresh process ended with its caller, before the server answered")
	}
	refresh.release()
	waitUntil(t, "the refresh process ends", func() bool { return !alive(child) })

	// The new pair was saved, and the saved refresh token is the live one:
	// the next refresh works, with no login.
	now := w.session(alice)
	checkChanged(t, "the saved refresh token", fmt.Sprint(now["refresh_token"]), fmt.Sprint(old["refresh_token"]))
	checkChanged(t, "the saved access token", fmt.Sprint(now["access_token"]), first)
	w.checkAccepted(fmt.Sprint(now["access_token"]))
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	before = w.counts()
	checkChanged(t, "the token of the next refresh", w.tokenOf(w.run("--force-refresh")), fmt.Sprint(now["access_token"]))
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
}

// A refresh process frozen (SIGSTOP: a frozen cgroup, docker pause, a
// debugger) after it sent its refresh, and thawed once its deadline has
// passed, still reads the reply waiting in its socket and saves it: the
// rotated refresh token, which the server has spent the old one for, is
// not lost. The fake processes the refresh (and rotates the token), the
// process is stopped, then the reply is sent into its socket. Several
// accounts' refresh processes are frozen at once, each in a world of its
// own, so that one wait serves them all.
func TestFrozenRefreshProcessSavesTheReply(t *testing.T) {
	t.Parallel()
	needProc(t)
	// --timeout bounds each exchange, and a reply that arrived is still
	// read for readGrace (2 s, helper/akiflow's deadline.go) after the
	// bound fires. Stopped for longer than both, the process finds both
	// expired when it resumes.
	const timeout, frozen = "200ms", 2700 * time.Millisecond
	type trial struct {
		w        *world
		caller   *commandRun
		child    int
		old      map[string]any
		accessed string
	}
	trials := make([]*trial, repeat(5, 2))
	for i := range trials {
		w := newWorld(t)
		// With one P, a resumed Go process runs its expired timers before
		// it polls the network: a deadline without the grace would lose
		// the reply every time, not once in a while.
		w.env = append(w.env, "GOMAXPROCS=1")
		tr := &trial{w: w, accessed: w.login(alice)}
		w.expire(alice)
		tr.old = w.session(alice)
		// Its csrf-cookie request waits, so that the refresh process is
		// known before it sends the refresh.
		csrf := w.hold(akiflowtest.RouteCSRF, 1)
		tr.caller = w.startCommand("-e", alice, "--timeout", timeout)
		child := refreshProcessOf(t, tr.caller.pid())
		tr.child = child
		t.Cleanup(func() { // a test that failed leaves no stopped process
			if alive(child) {
				syscall.Kill(child, syscall.SIGKILL)
			}
		})
		argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", child))
		check(t, fmt.Sprintf("trial %d: the refresh process's argv", i), strings.Split(strings.TrimSuffix(string(argv), "\x00"), "\x00"), []string{binary, "__refresh"})
		csrf.waitArrival(t)
		reply := w.holdReply(akiflowtest.RouteRefresh, func() { sendSignal(t, child, syscall.SIGSTOP) })
		csrf.release()
		reply.waitArrival(t) // processed: the token rotated; the process is being stopped
		waitUntil(t, fmt.Sprintf("trial %d: the refresh process is stopped", i), func() bool {
			state, _, _ := procStat(child)
			return state == 'T'
		})
		reply.release()
		reply.waitSent(t) // the reply is in its socket
		trials[i] = tr
	}
	// Wall-clock time, on purpose: what is tested is a deadline that
	// passes while the process is stopped.
	time.Sleep(frozen)
	for _, tr := range trials {
		sendSignal(t, tr.child, syscall.SIGCONT)
	}
	for i, tr := range trials {
		w := tr.w
		waitUntil(t, fmt.Sprintf("trial %d: the refresh process ends", i), func() bool { return !alive(tr.child) })
		res := tr.caller.wait()
		token := w.tokenOf(res)
		now := w.session(alice)
		checkChanged(t, fmt.Sprintf("trial %d: the saved refresh token", i), fmt.Sprint(now["refresh_token"]), fmt.Sprint(tr.old["refresh_token"]))
		check(t, fmt.Sprintf("trial %d: the saved refresh token is the live one", i), w.srv.ValidRefresh(fmt.Sprint(now["refresh_token"])), true)
		check(t, fmt.Sprintf("trial %d: the caller printed the saved token", i), token, now["access_token"])
		checkChanged(t, fmt.Sprintf("trial %d: the token", i), token, tr.accessed)
		before := w.counts()
		check(t, fmt.Sprintf("trial %d: the next call", i), w.tokenOf(w.run("-e", alice)), token)
		w.checkRequests(before, map[string]int{})
	}
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
	t.Parallel()
	needProc(t)
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	csrf := w.hold(akiflowtest.RouteCSRF, 1)

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
	caller := w.startProgram(writers, binary)
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
	child := refreshProcessOf(t, caller.pid())
	csrf.waitArrival(t) // the refresh process is set up, and waits for Akiflow

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

	// The caller is stopped mid-refresh: its pipes close, while the refresh
	// process still waits at the gate.
	sendSignal(t, caller.pid(), syscall.SIGTERM)
	check(t, "the caller's exit status after SIGTERM", caller.wait().code, 130)
	for range readers {
		select {
		case <-eof:
		case <-time.After(patience):
			t.Fatal("a pipe of the caller's caller is still open after the caller ended")
		}
	}
	if !alive(child) {
		t.Error("the refresh process ended before the server answered")
	}
	csrf.release()
	waitUntil(t, "the refresh process ends", func() bool { return !alive(child) })
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	before = w.counts()
	w.tokenOf(w.run()) // a cache hit on what it saved
	w.checkRequests(before, map[string]int{})
}

// exec keeps the descriptors its caller gave it: the refresh process is
// started without them, and they are handed to the command.
func TestExecPassesItsDescriptorsOn(t *testing.T) {
	t.Parallel()
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

// Every process akiflow-token starts (the detached refresh) is started with
// no secret in its argv: read every process's command line while the
// refresh waits for Akiflow's answer, that is while the refresh process
// holds both tokens.
func TestNoSecretInAnyArgv(t *testing.T) {
	t.Parallel()
	needProc(t)
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	refresh := w.hold(akiflowtest.RouteRefresh, 1)
	caller := w.startCommand("-v")
	child := refreshProcessOf(t, caller.pid())
	refresh.waitArrival(t)
	argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", child))
	if !bytes.Contains(argv, []byte("__refresh")) {
		t.Errorf("pid %d is not the refresh process", child)
	}
	lines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range lines {
		argv, _ := os.ReadFile(p)
		w.checkNoSecrets("the argv of "+filepath.Dir(p), string(argv))
	}
	refresh.release()
	res := caller.wait()
	w.tokenOf(res)
	w.checkNoSecrets("stderr", res.stderr)
}

// __refresh run by hand refreshes nothing unless fd 3 is the account's lock
// file with its lock held by this process (the handed-down lock) and fd 4
// a pipe. The last case, with both, refreshes: the refusals are the
// descriptors', not the request's.
func TestRefreshProcessStartedByHandRefuses(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	lockPath := w.lockFile(alice)
	// The request as refreshDetached hands it down, in the environment
	// (v: the refresh protocol): never in argv.
	request, _ := json.Marshal(map[string]any{"v": 3, "base_url": w.srv.URL, "email": alice, "timeout": int64(5 * time.Second)})
	w.env = append(w.env, "AKIFLOW_TOKEN_REFRESH_REQUEST="+string(request))
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

	run := func(extra []*os.File, args ...string) result {
		t.Helper()
		r := w.startProgram(extra, binary, append([]string{"__refresh"}, args...)...)
		return r.wait()
	}

	for _, tc := range []struct {
		name  string
		extra []*os.File
		says  string
		args  []string
	}{
		{"nothing on fds 3 and 4", nil, "is run by akiflow-token itself", nil},
		{"an argument (an older refresh process's request)", []*os.File{held, pipe()}, "is run by akiflow-token itself", []string{string(request)}},
		{"another file on fd 3", []*os.File{open(filepath.Join(t.TempDir(), alice+".lock")), pipe()}, "is not " + lockPath, nil},
		{"the session file on fd 3", []*os.File{open(w.cacheFile(alice)), pipe()}, "is not " + lockPath, nil},
		{"the lock file, held by another process", []*os.File{open(lockPath), pipe()}, "another process holds it", nil},
		{"the lock file, held by another process, no pipe on fd 4", []*os.File{open(lockPath)}, "is run by akiflow-token itself", nil},
		{"the held lock's own file, a file on fd 4", []*os.File{held, open(filepath.Join(t.TempDir(), "out"))}, "is run by akiflow-token itself", nil},
	} {
		before := w.counts()
		res := run(tc.extra, tc.args...)
		if res.code == 0 {
			t.Errorf("%s: exit status 0", tc.name)
		}
		check(t, tc.name+": stdout", res.stdout, "")
		line, ok := strings.CutSuffix(res.stderr, "\n")
		if !ok || strings.Contains(line, "\n") || !strings.HasPrefix(line, "akiflow-token: ") || !strings.Contains(line, tc.says) {
			t.Errorf("%s: want one line saying %q, got:\n%s", tc.name, tc.says, redact(res.stderr))
		}
		w.checkRequests(before, map[string]int{})
		now, err := os.ReadFile(w.cacheFile(alice))
		if err != nil {
			t.Fatal(err)
		}
		check(t, tc.name+": the session file", string(now), string(saved))
	}

	// The held lock's own file and a pipe: it refreshes.
	before := w.counts()
	res := run([]*os.File{held, pipe()})
	check(t, "exit status", res.code, 0)
	check(t, "stdout", res.stdout, "")
	check(t, "stderr", res.stderr, "")
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	syscall.Flock(int(held.Fd()), syscall.LOCK_UN)
	w.tokenOf(w.run()) // a cache hit on what it saved
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
}
