//go:build unix

// End-to-end tests: the real akiflow-token binary, run as a person, a shell,
// git, kubectl or curl runs it, against the fake Akiflow server of
// helper/akiflow/akiflowtest, with a hermetic HOME and XDG folders per test.
//
// This file holds TestMain, the fixtures (a world: a fake and a home) and
// the helpers every end-to-end test shares; the tests live in files named
// by feature. What needs no real process, terminal or program (usage
// errors, output formats, git's protocol lines, status, bad cache files,
// logout) is in the testscript scripts of testdata/script instead
// (script_test.go), and the rules themselves in the unit tests of helper/
// and cache/.
package main_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// binary is akiflow-token as the README installs it: the release tags and
// never -race, even when the tests run with -race (the race detector still
// watches the tests and the packages they run in process). TestMain builds
// it once for every end-to-end test, the scripts and the benchmarks; its
// folder also holds git-credential-akiflow, a link to it.
var binary string

// releaseTags are the build tags the README installs akiflow-token with:
// the pure-Go resolver and user lookup (a static binary: no dynamic loader
// at every start) and no HTTP/2 (two requests a refresh need none of it).
const releaseTags = "netgo,osusergo,nethttpomithttp2"

func TestMain(m *testing.M) {
	// Run as a helper program (helperBinary), the test binary is that
	// program, not the tests.
	if name := os.Getenv(helperVar); name != "" {
		os.Exit(runHelper(name, os.Args[1:]))
	}
	// The end-to-end tests mostly wait: for the programs they run, and for
	// the fake's answers. Unless -parallel says otherwise, run at least 4
	// at once, even on a machine with fewer cores.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet && runtime.GOMAXPROCS(0) < 4 {
		flag.Set("test.parallel", "4")
	}

	dir, err := os.MkdirTemp("", "akiflow-token-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // tests also run it as another user
	binary = filepath.Join(dir, "akiflow-token")
	if out, err := exec.Command("go", "build", "-tags", releaseTags, "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building akiflow-token: %v\n%s", err, out)
		os.Exit(1)
	}
	helper, err := linkHelper(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	helperBinary = helper
	// git runs a helper named "akiflow" as git-credential-akiflow.
	if err := os.Symlink(binary, filepath.Join(dir, "git-credential-akiflow")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// helperVar, in the environment of the test binary, names the helper
// program it runs instead of the tests (helperPrograms).
const helperVar = "AKIFLOW_TEST_HELPER"

// helperPrograms are what a test needs another user's process to do (flood
// the endpoint's port, try to bind it), run by the test binary itself as
// that user (helperCommand). Each takes its arguments and returns its exit
// status.
var helperPrograms = map[string]func(args []string) int{
	"flood": floodMain, // serve_test.go
	"bind":  bindMain,  // serve_test.go
}

func runHelper(name string, args []string) int {
	program, ok := helperPrograms[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s=%s: no such helper program\n", helperVar, name)
		return 2
	}
	return program(args)
}

// helperBinary is the test binary, linked (or copied) where every user can
// run it: go test's own is in a folder of ours alone.
var helperBinary string

// linkHelper puts helperBinary in dir. It runs before the tests: a copy
// written while a test starts a program could not be run at once (the
// program's fork holds it open for writing: "text file busy").
func linkHelper(dir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "test-helper")
	if os.Link(exe, path) != nil {
		data, err := os.ReadFile(exe)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(path, data, 0o755); err != nil {
			return "", err
		}
	}
	return path, os.Chmod(path, 0o755)
}

// helperCommand is the helper program name with args, to run as user
// (nil: ours) in a session of its own, with the world's environment.
func (w *world) helperCommand(user *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(helperBinary, args...)
	cmd.Env = append(append([]string(nil), w.env...), helperVar+"="+name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: user}
	return cmd
}

// requireTools is AKIFLOW_TEST_REQUIRE_TOOLS=1: a missing tool fails the
// test that needs it instead of skipping it.
var requireTools = os.Getenv("AKIFLOW_TEST_REQUIRE_TOOLS") == "1"

// needTool skips the test, saying why, when the program name is not
// installed; with AKIFLOW_TEST_REQUIRE_TOOLS=1 it fails it instead.
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if requireTools {
		t.Fatalf("%s is not installed, and AKIFLOW_TEST_REQUIRE_TOOLS=1 requires every tool the tests drive", name)
	}
	t.Skipf("skipped: %s is not installed (with AKIFLOW_TEST_REQUIRE_TOOLS=1 this fails instead)", name)
}

// haveTool says whether the program name is installed, for a test that
// can leave out the step that needs it: it logs the step left out; with
// AKIFLOW_TEST_REQUIRE_TOOLS=1 it fails the test instead.
func haveTool(t testing.TB, name, step string) bool {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	if requireTools {
		t.Fatalf("%s is not installed, and AKIFLOW_TEST_REQUIRE_TOOLS=1 requires every tool the tests drive", name)
	}
	t.Logf("%s is not installed: leaving out %s (with AKIFLOW_TEST_REQUIRE_TOOLS=1 this fails instead)", name, step)
	return false
}

// needRoot skips the test, saying why, unless it runs as root.
func needRoot(t testing.TB, why string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skipf("skipped: needs root, %s", why)
	}
}

// needLong skips a test that takes long with -short.
func needLong(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("long; runs without -short")
	}
}

// repeat is how many times a loop runs: full, or short with -short.
func repeat(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

// patience bounds every wait for something that must happen: generous, so
// that only something that never happens fails, however loaded the machine.
const patience = 30 * time.Second

// waitUntil polls cond until it holds, for up to patience.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s, and still not: %s", patience, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// world is one test's machine: a fake Akiflow server and a home folder.
type world struct {
	t    testing.TB
	srv  *akiflowtest.Server
	home string
	env  []string
	user *syscall.Credential // run programs as this user; nil for ours
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldWith(t, akiflowtest.NewServer())
}

// newTLSWorld serves the fake over HTTPS with a test certificate, as kubectl
// wants; akiflow-token then needs --insecure.
func newTLSWorld(t testing.TB) *world {
	t.Helper()
	return newWorldWith(t, akiflowtest.NewTLSServer())
}

func newWorldWith(t testing.TB, srv *akiflowtest.Server) *world {
	t.Helper()
	servers.Lock()
	servers.list = append(servers.list, srv)
	servers.Unlock()
	t.Cleanup(srv.Close)
	home := t.TempDir()
	w := &world{t: t, srv: srv, home: home}
	w.env = []string{
		"HOME=" + home,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"PATH=" + filepath.Dir(binary) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"AKIFLOW_BASE_URL=" + srv.URL,
	}
	return w
}

// newServeWorld is a world whose API (for the endpoint's proxy) is the fake.
func newServeWorld(t testing.TB) *world {
	t.Helper()
	w := newWorld(t)
	w.env = append(w.env, "AKIFLOW_API_URL="+w.srv.URL)
	return w
}

// setHome moves the world's home (and XDG folders) to dir.
func (w *world) setHome(dir string) {
	w.home = dir
	w.env = append(w.env, "HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, ".cache"), "XDG_CONFIG_HOME="+filepath.Join(dir, ".config"))
}

// nobody is the user the tests run akiflow-token as, to meet file
// permissions that root would ignore.
var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

// asNobody moves the world to a home that belongs to nobody, when the tests
// run as root; otherwise the tests' own user does.
func (w *world) asNobody() {
	w.t.Helper()
	if os.Getuid() != 0 {
		return
	}
	home, err := os.MkdirTemp("", "akiflow-token-nobody-")
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { os.RemoveAll(home) })
	os.Chmod(home, 0o755)
	os.Chown(home, int(nobody.Uid), int(nobody.Gid))
	w.setHome(home)
	w.user = nobody
}

// giveHome hands the world's home to the user the world runs as.
func (w *world) giveHome() {
	w.t.Helper()
	if w.user == nil {
		return
	}
	filepath.Walk(w.home, func(path string, info os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(path, int(w.user.Uid), int(w.user.Gid))
		}
		return err
	})
}

// result is what a run of a program left.
type result struct {
	stdout, stderr string
	code           int
}

// run runs akiflow-token with no terminal (in a new session, as cron, CI or
// a kubectl plugin would) and stdin an open pipe with a code waiting in it,
// which the run must leave unread.
func (w *world) run(args ...string) result {
	w.t.Helper()
	return w.runEnv(nil, args...)
}

// runEnv is run with more environment variables.
func (w *world) runEnv(env []string, args ...string) result {
	w.t.Helper()
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		w.t.Fatal(err)
	}
	defer stdinR.Close()
	defer stdinW.Close()
	const waiting = "123456\n"
	stdinW.WriteString(waiting)
	r := w.runStdin(stdinR, env, args...)
	stdinW.Close()
	if left, _ := io.ReadAll(stdinR); string(left) != waiting {
		w.t.Errorf("akiflow-token %s read its stdin: %d of %d bytes left", strings.Join(args, " "), len(left), len(waiting))
	}
	return r
}

// runStdin runs akiflow-token with no terminal and the given stdin.
func (w *world) runStdin(stdin io.Reader, env []string, args ...string) result {
	w.t.Helper()
	return w.runProgram(stdin, env, binary, args...)
}

// runProgram runs any program (git, kubectl, curl, a shell) the way
// runStdin runs akiflow-token: no terminal, the world's environment.
func (w *world) runProgram(stdin io.Reader, env []string, name string, args ...string) result {
	w.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(append([]string(nil), w.env...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: w.user}
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	// Nothing may hang: a run that has not ended in a minute fails.
	timer := time.AfterFunc(time.Minute, func() {
		w.t.Errorf("%s %s did not end within a minute", filepath.Base(name), strings.Join(args, " "))
		cmd.Process.Kill()
	})
	err := cmd.Wait()
	timer.Stop()
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: exitCode(w.t, err)}
	w.checkNoSecrets("stderr", r.stderr)
	return r
}

func exitCode(t testing.TB, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("running akiflow-token: %v", err)
	return -1
}

// parallel runs n copies of akiflow-token at once, with no terminal, and
// returns their results.
func (w *world) parallel(n int, args ...string) []result {
	w.t.Helper()
	results := make([]result, n)
	var wg, ready sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			results[i] = w.runStdin(nil, nil, args...)
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	return results
}

// lockedBuffer is a bytes.Buffer that a process writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// commandRun is a program running with no terminal, in a session of its
// own, its output read as it comes.
type commandRun struct {
	w              *world
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{}
	res            result
}

// startCommand starts akiflow-token with args.
func (w *world) startCommand(args ...string) *commandRun {
	w.t.Helper()
	return w.startProgram(nil, binary, args...)
}

// startProgram starts any program (a shell that runs akiflow-token), with
// extra descriptors from 3 up.
func (w *world) startProgram(extra []*os.File, name string, args ...string) *commandRun {
	w.t.Helper()
	r := &commandRun{w: w, done: make(chan struct{})}
	r.cmd = exec.Command(name, args...)
	r.cmd.Env = append([]string(nil), w.env...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	r.cmd.ExtraFiles = extra
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() {
		r.cmd.Wait()
		r.res = result{stdout: r.stdout.String(), stderr: r.stderr.String(), code: r.cmd.ProcessState.ExitCode()}
		close(r.done)
	}()
	w.t.Cleanup(func() {
		r.cmd.Process.Kill() // a no-op once it has ended
		<-r.done
	})
	return r
}

// pid is the running program's process id.
func (r *commandRun) pid() int { return r.cmd.Process.Pid }

// wait waits for the program to end (for up to patience).
func (r *commandRun) wait() result {
	r.w.t.Helper()
	select {
	case <-r.done:
	case <-time.After(patience):
		r.w.t.Fatalf("%s did not end within %s; stderr:\n%s", filepath.Base(r.cmd.Path), patience, redact(r.stderr.String()))
	}
	r.w.checkNoSecrets("stderr", r.res.stderr)
	return r.res
}

// secretKind names what a secret of the fake is: "an access token" or "a
// refresh token".
func secretKind(s string) string {
	if strings.HasPrefix(s, "def50200") {
		return "a refresh token"
	}
	return "an access token"
}

// checkNoSecrets fails if text holds any token the fake ever issued. It
// never prints the token itself.
func (w *world) checkNoSecrets(where, text string) {
	w.t.Helper()
	for _, s := range w.srv.Secrets() {
		if strings.Contains(text, s) {
			w.t.Errorf("%s holds %s (%d characters, not shown)", where, secretKind(s), len(s))
		}
	}
}

// terminalRun is akiflow-token running in a pseudo-terminal, as a person's
// shell runs it in $(...): stdin and stderr are the terminal, stdout a pipe.
type terminalRun struct {
	w      *world
	cmd    *exec.Cmd
	tty    *os.File // the terminal's master side: what the person sees and types
	stdout bytes.Buffer
	mu     sync.Mutex
	screen bytes.Buffer
	seen   int // bytes of screen that expect has matched: consumed
	done   chan struct{}
}

func (w *world) start(args ...string) *terminalRun {
	w.t.Helper()
	return w.startEnv(nil, args...)
}

// startEnv is start with more environment variables.
func (w *world) startEnv(env []string, args ...string) *terminalRun {
	w.t.Helper()
	return w.startStdin(nil, env, args...)
}

// startStdin is startEnv with stdin from a pipe (as git runs a helper)
// rather than the terminal; nil for the terminal.
func (w *world) startStdin(stdin io.Reader, env []string, args ...string) *terminalRun {
	w.t.Helper()
	r := &terminalRun{w: w, done: make(chan struct{})}
	r.cmd = exec.Command(binary, args...)
	r.cmd.Env = append(append([]string(nil), w.env...), env...)
	r.cmd.Stdin = stdin
	r.cmd.Stdout = &r.stdout
	r.attach()
	return r
}

// startShell runs an interactive program (a shell) in dir, in a
// pseudo-terminal that is its stdin, stdout and stderr, as a person's
// terminal window runs it.
func (w *world) startShell(dir string, env []string, name string, args ...string) *terminalRun {
	w.t.Helper()
	r := &terminalRun{w: w, done: make(chan struct{})}
	r.cmd = exec.Command(name, args...)
	r.cmd.Dir = dir
	r.cmd.Env = append(append([]string(nil), w.env...), env...)
	r.attach()
	return r
}

// attach starts r.cmd in a new session whose controlling terminal is a new
// pseudo-terminal (200 columns: no line of the tests wraps): the terminal
// is its stderr, and its stdin and stdout unless they are set.
func (r *terminalRun) attach() {
	w := r.w
	w.t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		w.t.Fatal(err)
	}
	defer tty.Close()
	pty.Setsize(master, &pty.Winsize{Rows: 40, Cols: 200})
	r.tty = master
	if r.cmd.Stdin == nil {
		r.cmd.Stdin = tty
	}
	if r.cmd.Stdout == nil {
		r.cmd.Stdout = tty
	}
	r.cmd.Stderr = tty
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 2} // stderr is always the terminal
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			r.mu.Lock()
			r.screen.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	w.t.Cleanup(func() {
		r.cmd.Process.Kill()
		master.Close()
	})
}

// expect waits until the terminal shows text after what earlier expects
// matched, and consumes the output up to the end of text: expecting
// "Code: " a second time waits for a second prompt.
func (r *terminalRun) expect(text string) {
	r.w.t.Helper()
	r.expectText(text)
}

// expectText is expect that returns what the terminal showed since the
// last match, up to the end of text.
func (r *terminalRun) expectText(text string) string {
	r.w.t.Helper()
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		if shown, ok := r.consume(text); ok {
			return shown
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	seen, rest := r.screen.String()[:r.seen], r.screen.String()[r.seen:]
	r.mu.Unlock()
	r.w.t.Fatalf("the terminal never showed %q after what was already matched:\n%s\nit shows since then:\n%s", text, redact(seen), redact(rest))
	return ""
}

// consume says whether the terminal shows text after what was consumed,
// and if so consumes the output up to its end, and returns it.
func (r *terminalRun) consume(text string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rest := r.screen.String()[r.seen:]
	i := strings.Index(rest, text)
	if i < 0 {
		return "", false
	}
	r.seen += i + len(text)
	return rest[:i+len(text)], true
}

func (r *terminalRun) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.screen.String()
}

// typeKeys types keys as they are: "\t" is Tab, "\x01" Ctrl-A.
func (r *terminalRun) typeKeys(keys string) {
	r.w.t.Helper()
	if _, err := r.tty.Write([]byte(keys)); err != nil {
		r.w.t.Fatal(err)
	}
}

// typeLine types text and Enter.
func (r *terminalRun) typeLine(text string) {
	r.w.t.Helper()
	if _, err := r.tty.Write([]byte(text + "\r")); err != nil {
		r.w.t.Fatal(err)
	}
}

// wait waits for the run to end; the terminal's text stands for stderr.
func (r *terminalRun) wait() result {
	r.w.t.Helper()
	err := r.cmd.Wait()
	<-r.done
	res := result{stdout: r.stdout.String(), stderr: r.text(), code: exitCode(r.w.t, err)}
	r.w.checkNoSecrets("the terminal", res.stderr)
	return res
}

// waitCode waits for the prompt and returns the code that was mailed.
func (w *world) waitCode(r *terminalRun, email string) string {
	w.t.Helper()
	r.expect("Code: ")
	return w.srv.Code(email)
}

// login logs email in through the terminal, typing the mailed code, and
// returns the printed token.
func (w *world) login(email string, args ...string) string {
	w.t.Helper()
	r := w.start(append([]string{"-e", email}, args...)...)
	r.typeLine(w.waitCode(r, email))
	res := r.wait()
	if res.code != 0 {
		w.t.Fatalf("login of %s: exit %d\n%s", email, res.code, redact(res.stderr))
	}
	return w.tokenOf(res)
}

// tokenOf checks that a run printed exactly one token line, and that the
// fake's API accepts it; it returns the token.
func (w *world) tokenOf(r result) string {
	w.t.Helper()
	token, ok := strings.CutSuffix(r.stdout, "\n")
	if r.code != 0 || !ok || token == "" || strings.ContainsAny(token, " \n") {
		w.t.Fatalf("want one token line and exit 0; got exit %d, %d bytes of stdout; stderr:\n%s", r.code, len(r.stdout), redact(r.stderr))
	}
	w.checkAccepted(token)
	return token
}

// checkAccepted calls the fake's protected endpoint with token.
func (w *world) checkAccepted(token string) {
	w.t.Helper()
	req, _ := http.NewRequest("GET", w.srv.URL+akiflowtest.ProtectedPath, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := w.srv.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		w.t.Errorf("the API answered %d to the printed token", resp.StatusCode)
	}
}

// sessionPath is where email's session file lives, whether or not it
// exists.
func (w *world) sessionPath(email string) string {
	host := strings.ReplaceAll(strings.TrimPrefix(w.srv.URL, "http://"), ":", "%3A")
	return filepath.Join(w.home, ".cache", "akiflow-token", host, email+".json")
}

// cacheFile is the path of email's session file, which must exist.
func (w *world) cacheFile(email string) string {
	w.t.Helper()
	matches, _ := filepath.Glob(filepath.Join(w.home, ".cache", "akiflow-token", "*", email+".json"))
	if len(matches) != 1 {
		w.t.Fatalf("want one cache file for %s, found %v", email, matches)
	}
	return matches[0]
}

// lockFile is the path of email's lock file.
func (w *world) lockFile(email string) string {
	w.t.Helper()
	return strings.TrimSuffix(w.cacheFile(email), ".json") + ".lock"
}

// readSession parses email's cache file as the next run would.
func (w *world) readSession(email string) (map[string]any, error) {
	data, err := os.ReadFile(w.cacheFile(email))
	if err != nil {
		return nil, err
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if s["format"] != 1.0 || s["email"] != email {
		return nil, fmt.Errorf("not a session of %s", email)
	}
	return s, nil
}

// session is readSession that fails the test on an error.
func (w *world) session(email string) map[string]any {
	w.t.Helper()
	s, err := w.readSession(email)
	if err != nil {
		w.t.Fatalf("the session of %s: %v", email, err)
	}
	return s
}

// editSession rewrites email's cache file through edit, as time passing or
// a damaged disk would.
func (w *world) editSession(email string, edit func(map[string]any)) {
	w.t.Helper()
	s := w.session(email)
	edit(s)
	data, _ := json.Marshal(s)
	if err := os.WriteFile(w.cacheFile(email), data, 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// expire makes email's cached access token expired.
func (w *world) expire(email string) {
	w.editSession(email, func(s map[string]any) {
		s["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	})
}

// nearExpiry leaves the cached token of email a minute: good, but under
// --min-ttl, so the next call refreshes.
func (w *world) nearExpiry(email string) {
	w.editSession(email, func(s map[string]any) {
		s["expires_at"] = time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	})
}

// counts is the fake's request counts, to compare before and after a run.
func (w *world) counts() map[string]int { return w.srv.Counts() }

// checkRequests fails unless the fake saw exactly want more auth requests,
// by route, since before. The API calls of checkAccepted do not count.
func (w *world) checkRequests(before map[string]int, want map[string]int) {
	w.t.Helper()
	now := w.srv.Counts()
	got := map[string]int{}
	for k, v := range now {
		if d := v - before[k]; d != 0 && k != akiflowtest.RouteAPI {
			got[k] = d
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		w.t.Errorf("requests: got %v, want %v", got, want)
	}
}

// gate holds the requests of one route at the fake until it is opened:
// while it is shut, the process that sent them is known to be waiting for
// Akiflow, however long the test takes, with no latency to guess.
type gate struct {
	arrived chan struct{} // receives once per request held
	open    chan struct{}
	sent    chan struct{} // closed once a held reply was sent (holdReply)
	once    sync.Once
}

// hold makes the next n requests on route wait at a gate, then be answered
// as the healthy server would.
func (w *world) hold(route string, n int) *gate {
	g := &gate{arrived: make(chan struct{}, n), open: make(chan struct{})}
	faults := make([]akiflowtest.Fault, n)
	for i := range faults {
		faults[i] = func(rw http.ResponseWriter, r *http.Request, s *akiflowtest.Server) {
			g.arrived <- struct{}{}
			select {
			case <-g.open:
				s.Handle(route, rw, r)
			case <-r.Context().Done(): // the client gave up
			}
		}
	}
	w.srv.Fail(route, faults...)
	w.t.Cleanup(g.release) // before the fake closes: its Close waits for us
	return g
}

// holdReply makes the next request on route be processed as the healthy
// server would (a refresh rotates the token), then its reply wait at a
// gate until it is opened: the process that sent it is known to wait for
// an answer that exists. held, if not nil, runs once the request is
// processed, before it counts as arrived; waitSent waits for the reply to
// be in the connection, once the gate is open.
func (w *world) holdReply(route string, held func()) *gate {
	g := &gate{arrived: make(chan struct{}, 1), open: make(chan struct{}), sent: make(chan struct{})}
	w.srv.Fail(route, akiflowtest.ProcessedThenHeld(route, g.open, func() {
		if held != nil {
			held()
		}
		g.arrived <- struct{}{}
	}, func() { close(g.sent) }))
	w.t.Cleanup(g.release) // before the fake closes: its Close waits for us
	return g
}

// waitSent waits until the held reply has been sent (holdReply).
func (g *gate) waitSent(t testing.TB) {
	t.Helper()
	select {
	case <-g.sent:
	case <-time.After(patience):
		t.Fatalf("the held reply was not sent within %s", patience)
	}
}

// waitArrival waits until a request has reached the gate.
func (g *gate) waitArrival(t testing.TB) {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(patience):
		t.Fatalf("no request reached the gate within %s", patience)
	}
}

// release opens the gate for good.
func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// check compares got and want; its failure message never shows a token.
func check(t testing.TB, what string, got, want any) {
	t.Helper()
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("%s: got %s, want %s", what, redact(g), redact(w))
	}
}

// checkChanged fails unless got is a token other than old (and not empty);
// its failure message never shows a token.
func checkChanged(t testing.TB, what, got, old string) {
	t.Helper()
	if got == "" || got == old {
		t.Errorf("%s: got %q, want a token other than %q", what, redact(got), redact(old))
	}
}

// servers are every fake started by the tests, whose tokens redact hides.
var servers struct {
	sync.Mutex
	list []*akiflowtest.Server
}

// redact replaces every token any fake issued with a placeholder that tells
// tokens apart without showing them: <access token #3 of fake 1, 512
// characters>, numbered in the order the fake issued them.
func redact(s string) string {
	servers.Lock()
	defer servers.Unlock()
	for n, srv := range servers.list {
		for i, secret := range srv.Secrets() {
			kind := strings.TrimPrefix(strings.TrimPrefix(secretKind(secret), "a "), "an ")
			s = strings.ReplaceAll(s, secret, fmt.Sprintf("<%s #%d of fake %d, %d characters>", kind, i+1, n+1, len(secret)))
		}
	}
	return s
}

const alice = "alice@example.com"
