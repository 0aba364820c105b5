//go:build unix

package run

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// supervisor is testdata/supervisor, built by TestMain: a program that
// runs a command through this package as main does.
var supervisor string

func TestMain(m *testing.M) {
	// No core files from the commands the tests kill with SIGQUIT.
	syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	dir, err := os.MkdirTemp("", "run-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	supervisor = filepath.Join(dir, "supervisor")
	if out, err := exec.Command("go", "build", "-o", supervisor, "./testdata/supervisor").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building testdata/supervisor: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bound is how long a test waits for something that should happen at
// once: generous, for a loaded machine; it is never asserted.
const bound = 30 * time.Second

// loop is a shell loop that a command waits in; it ends by itself, so a
// failed test leaves nothing running for long.
const loop = `i=0; while [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done`

// writeFile writes a file of mode perm in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	return path
}

func shell(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func TestLookCommand(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, dir, "akiflow-run-hello", "#!/bin/sh\nexit 9\n", 0o755)
	plain := writeFile(t, dir, "plain", "#!/bin/sh\nexit 0\n", 0o644)

	_, err := LookCommand([]string{plain})
	if got := exitCode(err); got != ExitCannotRun || err.Error() != plain+": cannot run it: permission denied" {
		t.Errorf("LookCommand of a file that is not executable = %v (exit status %d), want %d, permission denied", err, got, ExitCannotRun)
	}
	_, err = LookCommand([]string{dir})
	if got := exitCode(err); got != ExitCannotRun {
		t.Errorf("LookCommand of a directory = %v (exit status %d), want %d", err, got, ExitCannotRun)
	}
	_, err = LookCommand([]string{filepath.Join(dir, "missing")})
	if got := exitCode(err); got != ExitNotFound {
		t.Errorf("LookCommand of a missing path = %v (exit status %d), want %d", err, got, ExitNotFound)
	}

	t.Setenv("PATH", dir+string(filepath.ListSeparator)+os.Getenv("PATH"))
	if path, err := LookCommand([]string{"akiflow-run-hello"}); err != nil || path != script {
		t.Errorf("LookCommand of a script in PATH = %q, %v, want %q", path, err, script)
	}

	// Found through "." in PATH: accepted, as a shell runs it, and
	// Supervise runs it.
	t.Chdir(dir)
	t.Setenv("PATH", ".")
	path, err := LookCommand([]string{"akiflow-run-hello"})
	if err != nil {
		t.Fatalf("LookCommand of a script found through . in PATH: %v", err)
	}
	st, err := Supervise(path, []string{"akiflow-run-hello"}, nil)
	if err != nil || st != (Status{Code: 9}) {
		t.Errorf("Supervise of a script found through . in PATH = %+v, %v, want exit status 9", st, err)
	}
}

// Exec's failures, in this process: it returns only when execve fails.
func TestExecFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := writeFile(t, dir, "plain", "#!/bin/sh\nexit 0\n", 0o644)
	err := Exec(filepath.Join(dir, "missing"), []string{"missing"}, nil)
	if got := exitCode(err); got != ExitNotFound || err.Error() != "missing: command not found" {
		t.Errorf("Exec of a missing file = %v (exit status %d), want %d", err, got, ExitNotFound)
	}
	err = Exec(plain, []string{"plain"}, nil)
	if got := exitCode(err); got != ExitCannotRun || err.Error() != "plain: cannot run it: permission denied" {
		t.Errorf("Exec of a file that is not executable = %v (exit status %d), want %d", err, got, ExitCannotRun)
	}
}

// Supervise, in this process: the command's exit status, its signal, its
// environment, and the failures to start it.
func TestSupervise(t *testing.T) {
	t.Parallel()
	sh := shell(t)
	for _, tc := range []struct {
		script string
		env    []string
		want   Status
	}{
		{"exit 0", nil, Status{}},
		{"exit 7", nil, Status{Code: 7}},
		{"kill -TERM $$", nil, Status{Code: 128 + int(syscall.SIGTERM), Signal: syscall.SIGTERM}},
		{"kill -KILL $$", nil, Status{Code: 128 + int(syscall.SIGKILL), Signal: syscall.SIGKILL}},
		{`test "$RUN_TEST_X" = "y z" && test -z "$RUN_TEST_GONE" && exit 3`,
			Env(append(os.Environ(), "RUN_TEST_X=old", "RUN_TEST_GONE=1"), map[string]string{"RUN_TEST_X": "y z", "RUN_TEST_GONE": ""}), Status{Code: 3}},
	} {
		st, err := Supervise(sh, []string{"sh", "-c", tc.script}, tc.env)
		if err != nil || st != tc.want {
			t.Errorf("Supervise(sh -c %q) = %+v, %v, want %+v", tc.script, st, err, tc.want)
		}
	}

	dir := t.TempDir()
	plain := writeFile(t, dir, "plain", "#!/bin/sh\nexit 0\n", 0o644)
	_, err := Supervise(filepath.Join(dir, "missing"), []string{"missing"}, nil)
	if got := exitCode(err); got != ExitNotFound || err.Error() != "missing: command not found" {
		t.Errorf("Supervise of a missing file = %v (exit status %d), want %d", err, got, ExitNotFound)
	}
	_, err = Supervise(plain, []string{"plain"}, nil)
	if got := exitCode(err); got != ExitCannotRun || err.Error() != "plain: cannot run it: permission denied" {
		t.Errorf("Supervise of a file that is not executable = %v (exit status %d), want %d", err, got, ExitCannotRun)
	}
}

// proc is the supervisor (or a shell that execs it), with its stdout and
// stderr in files: a pipe would be held open by the command's own
// children.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr string
	done           chan struct{}
}

// start starts cmd, in a folder of its own.
func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{t: t, cmd: cmd, stdout: filepath.Join(dir, "stdout"), stderr: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	stdout, err := os.Create(p.stdout)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if cmd.Dir == "" {
		cmd.Dir = dir
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) output() (stdout, stderr string) {
	out, _ := os.ReadFile(p.stdout)
	errOut, _ := os.ReadFile(p.stderr)
	return string(out), string(errOut)
}

// waitFor polls until what is true, failing the test if it is not within
// bound.
func (p *proc) waitFor(what string, cond func() bool) {
	p.t.Helper()
	for deadline := time.Now().Add(bound); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			stdout, stderr := p.output()
			p.t.Fatalf("waiting for %s: it did not happen; stdout:\n%s\nstderr:\n%s", what, stdout, stderr)
		}
	}
}

// ready waits until the command has written "ready".
func (p *proc) ready() {
	p.t.Helper()
	p.waitFor("the command to be ready", func() bool {
		out, _ := p.output()
		return strings.HasPrefix(out, "ready\n")
	})
}

// wait waits for the end and returns the wait status.
func (p *proc) wait() syscall.WaitStatus {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * bound):
		p.t.Fatalf("%s did not end", p.cmd.Path)
	}
	return p.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// check compares the end: the exit status, stdout, and the status the
// supervisor reported.
func (p *proc) check(what string, code int, stdout, reported string) {
	p.t.Helper()
	ws := p.wait()
	out, errOut := p.output()
	if ws.Signaled() || ws.ExitStatus() != code || out != stdout || errOut != reported {
		p.t.Errorf("%s: ended with %v, stdout %q, stderr %q; want exit status %d, stdout %q, stderr %q",
			what, p.cmd.ProcessState, out, errOut, code, stdout, reported)
	}
}

// trapper traps the signal named $1 (and SIGINT and SIGQUIT, to show
// whether they arrive), says ready, and waits.
const trapper = `trap 'echo "got $1"; exit 5' "$1"; trap 'echo "got INT"' INT; trap 'echo "got QUIT"' QUIT; echo ready; ` + loop

// SIGTERM and SIGHUP sent to the supervisor reach the command.
func TestSuperviseForwards(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		if signal.Ignored(sig) {
			t.Logf("%v is ignored in this test: the supervisor would ignore it too", sig)
			continue
		}
		name := map[syscall.Signal]string{syscall.SIGTERM: "TERM", syscall.SIGHUP: "HUP"}[sig]
		p := start(t, exec.Command(supervisor, "sh", "-c", trapper, "sh", name))
		p.ready()
		syscall.Kill(p.cmd.Process.Pid, sig)
		p.check(sig.String(), 5, "ready\ngot "+name+"\n", "status 5 0\n")
	}
}

// SIGINT and SIGQUIT sent to the supervisor alone are not sent on (a
// terminal sends them to the command itself) and do not end it.
func TestSuperviseDoesNotForwardInterrupts(t *testing.T) {
	t.Parallel()
	p := start(t, exec.Command(supervisor, "sh", "-c", trapper, "sh", "TERM"))
	p.ready()
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGINT)
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGQUIT)
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	p.check("SIGINT, SIGQUIT, then SIGTERM", 5, "ready\ngot TERM\n", "status 5 0\n")
}

// A SIGHUP ignored when the supervisor starts (nohup) stays ignored: by
// the supervisor, which neither dies of it nor passes it on, and by the
// command.
func TestSuperviseKeepsIgnoredSignals(t *testing.T) {
	t.Parallel()
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinR.Close()
	defer stdinW.Close()
	cmd := exec.Command("sh", "-c", `trap "" HUP; exec "$0" "$@"`, supervisor,
		"sh", "-c", `echo ready; read line; kill -HUP $$; echo survived`)
	cmd.Stdin = stdinR
	p := start(t, cmd)
	p.ready()
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGHUP)
	stdinW.WriteString("go\n")
	p.check("SIGHUP ignored at the start", 0, "ready\nsurvived\n", "status 0 0\n")
}

// The command gets the supervisor's stdin, stdout, and its other
// inherited descriptors.
func TestSuperviseDescriptors(t *testing.T) {
	t.Parallel()
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinR.Close()
	stdinW.WriteString("hello")
	stdinW.Close()
	three := filepath.Join(t.TempDir(), "three")
	f, err := os.Create(three)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(supervisor, "sh", "-c", `cat; echo " there" >&3`)
	cmd.Stdin = stdinR
	cmd.ExtraFiles = []*os.File{f}
	p := start(t, cmd)
	p.check("stdin and stdout", 0, "hello", "status 0 0\n")
	if got, _ := os.ReadFile(three); string(got) != " there\n" {
		t.Errorf("what the command wrote on descriptor 3: %q, want %q", got, " there\n")
	}
}

// A command killed by a signal: the supervisor, like main, dies of the
// same signal (Reraise).
func TestReraise(t *testing.T) {
	t.Parallel()
	signals := map[syscall.Signal]string{syscall.SIGTERM: "TERM", syscall.SIGKILL: "KILL"}
	if runtime.GOOS == "linux" {
		// Elsewhere these are reported as 128 + the signal.
		signals[syscall.SIGHUP] = "HUP"
		signals[syscall.SIGQUIT] = "QUIT"
		signals[syscall.SIGPIPE] = "PIPE"
		signals[syscall.SIGUSR1] = "USR1"
	}
	for sig, name := range signals {
		p := start(t, exec.Command(supervisor, "sh", "-c", `kill -s "$1" $$`, "sh", name))
		ws := p.wait()
		_, reported := p.output()
		if !ws.Signaled() || ws.Signal() != sig {
			t.Errorf("a command killed by %v: the supervisor ended with %v, not killed by %v; stderr:\n%s", sig, p.cmd.ProcessState, sig, reported)
		}
		if want := fmt.Sprintf("status %d %d\n", 128+int(sig), int(sig)); reported != want {
			t.Errorf("a command killed by %v: the supervisor reported %q, want %q", sig, reported, want)
		}
	}
}

// Exec replaces the process: the command has the supervisor's process ID
// and its exit status, and the token variable replaces the one inherited.
func TestExec(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(supervisor, "-exec", "-set", "AKIFLOW_TOKEN=new token", "--",
		"sh", "-c", `echo "$$ $AKIFLOW_TOKEN"; env | grep -c "^AKIFLOW_TOKEN="; exit 7`)
	cmd.Env = append(os.Environ(), "AKIFLOW_TOKEN=old")
	p := start(t, cmd)
	p.check("exec", 7, fmt.Sprintf("%d new token\n1\n", p.cmd.Process.Pid), "")

	p = start(t, exec.Command(supervisor, "-exec", "--", "no-such-command-anywhere-akiflow"))
	p.check("exec of a missing command", ExitNotFound, "", "supervisor: no-such-command-anywhere-akiflow: command not found\n")
}

// A file kept for the command (a duplicate of a listening socket) reaches
// it at its own number, and the original socket stays as it was: still
// non-blocking, so that its Accept can end.
func TestSuperviseKeepsAFileForTheCommand(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fd uintptr
	rc, _ := f.SyscallConn()
	rc.Control(func(d uintptr) { fd = d })
	sh, _ := exec.LookPath("sh")
	st, err := Supervise(sh, []string{"sh", "-c", fmt.Sprintf("test -e /dev/fd/%d", fd)}, nil, f)
	if err != nil || st.Code != 0 {
		t.Errorf("the command did not get descriptor %d: status %d, %v", fd, st.Code, err)
	}
	l.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	select {
	case err := <-done:
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Errorf("Accept after Supervise: %v, want a timeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Accept blocked past its deadline: the socket was made blocking")
	}
}
