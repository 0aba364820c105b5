// End-to-end tests: the real akiflow-token binary, run as a person, a shell,
// git or kubectl runs it, against the fake Akiflow server of
// helper/akiflowtest, with a hermetic HOME and XDG folders per test.
package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// binary is the akiflow-token built for these tests (with -race when the
// tests are).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "akiflow-token-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // tests also run it as another user
	binary = filepath.Join(dir, "akiflow-token")
	args := []string{"build", "-tags", releaseTags, "-o", binary}
	if raceEnabled() {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building akiflow-token: %v\n%s", err, out)
		os.Exit(1)
	}
	// git runs a helper named "akiflow" as git-credential-akiflow.
	if err := os.Symlink(binary, filepath.Join(dir, "git-credential-akiflow")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
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
		// A -race binary otherwise sleeps a second at exit; a race still fails it.
		"GORACE=atexit_sleep_ms=0 exitcode=66",
	}
	return w
}

// setHome moves the world's home (and XDG folders) to dir.
func (w *world) setHome(dir string) {
	w.home = dir
	w.env = append(w.env, "HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, ".cache"), "XDG_CONFIG_HOME="+filepath.Join(dir, ".config"))
}

// result is what a run of the binary left.
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
	master, tty, err := pty.Open()
	if err != nil {
		w.t.Fatal(err)
	}
	defer tty.Close()
	r := &terminalRun{w: w, tty: master, done: make(chan struct{})}
	r.cmd = exec.Command(binary, args...)
	r.cmd.Env = append(append([]string(nil), w.env...), env...)
	r.cmd.Stdin, r.cmd.Stderr = tty, tty
	if stdin != nil {
		r.cmd.Stdin = stdin
	}
	r.cmd.Stdout = &r.stdout
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
	return r
}

// expect waits until the terminal shows text after what earlier expects
// matched, and consumes the output up to the end of text: expecting
// "Code: " a second time waits for a second prompt.
func (r *terminalRun) expect(text string) {
	r.w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r.consume(text) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	seen, rest := r.screen.String()[:r.seen], r.screen.String()[r.seen:]
	r.mu.Unlock()
	r.w.t.Fatalf("the terminal never showed %q after what was already matched:\n%s\nit shows since then:\n%s", text, redact(seen), redact(rest))
}

// consume says whether the terminal shows text after what was consumed,
// and if so consumes the output up to its end.
func (r *terminalRun) consume(text string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := strings.Index(r.screen.String()[r.seen:], text)
	if i < 0 {
		return false
	}
	r.seen += i + len(text)
	return true
}

func (r *terminalRun) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.screen.String()
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

// login logs email in through the terminal, typing the mailed code, and
// returns the printed token.
func (w *world) login(email string, args ...string) string {
	w.t.Helper()
	r := w.start(append([]string{"-e", email}, args...)...)
	r.expect("Code: ")
	r.typeLine(w.srv.Code(email))
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

// cacheFile is the path of email's session file.
func (w *world) cacheFile(email string) string {
	w.t.Helper()
	matches, _ := filepath.Glob(filepath.Join(w.home, ".cache", "akiflow-token", "*", email+".json"))
	if len(matches) != 1 {
		w.t.Fatalf("want one cache file for %s, found %v", email, matches)
	}
	return matches[0]
}

// editSession rewrites email's cache file through edit, as time passing or
// a damaged disk would.
func (w *world) editSession(email string, edit func(map[string]any)) {
	w.t.Helper()
	path := w.cacheFile(email)
	data, err := os.ReadFile(path)
	if err != nil {
		w.t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		w.t.Fatal(err)
	}
	edit(s)
	data, _ = json.Marshal(s)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// expire makes email's cached access token expired.
func (w *world) expire(email string) {
	w.editSession(email, func(s map[string]any) {
		s["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
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

// check compares got and want; its failure message never shows a token.
func check(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("%s: got %s, want %s", what, redact(g), redact(w))
	}
}

// checkChanged fails unless got is a token other than old (and not empty);
// its failure message never shows a token.
func checkChanged(t *testing.T, what, got, old string) {
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

func TestFirstLoginThenCacheHit(t *testing.T) {
	w := newWorld(t)
	before := w.counts()
	r := w.start("-e", alice)
	r.expect("A 6-digit code was sent to " + alice)
	r.expect("Code: ")
	r.typeLine(w.srv.Code(alice))
	res := r.wait()
	check(t, "connections for the login's 4 exchanges", w.srv.Connections(), 1)
	token := w.tokenOf(res)
	if !strings.Contains(res.stderr, "logged in as "+alice) {
		t.Errorf("the terminal does not say who logged in:\n%s", redact(res.stderr))
	}
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "login": 1, "code": 1, "user/me": 1})

	// The cache folder is private.
	info, err := os.Stat(filepath.Dir(w.cacheFile(alice)))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "cache folder mode", info.Mode().Perm(), os.FileMode(0o700))
	info, _ = os.Stat(w.cacheFile(alice))
	check(t, "cache file mode", info.Mode().Perm(), os.FileMode(0o600))

	// Later runs, without a terminal and without --email, print the cached
	// token and make no request at all.
	before = w.counts()
	for range 3 {
		again := w.run()
		check(t, "cached token is the same", w.tokenOf(again), token)
		check(t, "stderr of a cache hit", again.stderr, "")
	}
	w.checkRequests(before, map[string]int{})
}

func TestLoginAsksForTheEmail(t *testing.T) {
	w := newWorld(t)
	r := w.start()
	r.expect("Akiflow email: ")
	r.typeLine("alice.example.com")
	r.expect("is not an email address")
	check(t, "login requests before a valid email", w.srv.Count(akiflowtest.RouteLogin), 0)
	r.typeLine(alice)
	r.expect("Code: ")
	r.typeLine(w.srv.Code(alice))
	w.tokenOf(r.wait())
	w.tokenOf(w.run("-e", alice))
}

func TestCodeIsAskedAgain(t *testing.T) {
	w := newWorld(t)
	r := w.start("-e", alice)
	r.expect("Code: ")
	before := w.counts()
	r.typeLine("12345") // too short: asked again, nothing sent
	r.expect("The code is 6 digits")
	r.expect("Code: ")
	w.checkRequests(before, map[string]int{})
	code := w.srv.Code(alice)
	wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1000000)
	r.typeLine(wrong[:3] + " " + wrong[3:])
	r.expect("Invalid authentication code. Try again.")
	r.expect("Code: ")
	r.typeLine(code[:3] + "-" + code[3:])
	res := r.wait()
	w.tokenOf(res)
	check(t, "prompts for the code", strings.Count(res.stderr, "Code: "), 3)
	w.checkRequests(before, map[string]int{"code": 2, "user/me": 1})
}

func TestThreeWrongCodesFail(t *testing.T) {
	w := newWorld(t)
	r := w.start("-e", alice)
	wrong := fmt.Sprintf("%06d", (atoi(w.waitCode(r, alice))+1)%1000000)
	r.typeLine(wrong)
	for range 2 {
		r.expect("Try again.")
		r.expect("Code: ") // a new prompt, not the first one again
		r.typeLine(wrong)
	}
	res := r.wait()
	check(t, "exit status", res.code, 1)
	check(t, "stdout", res.stdout, "")
	check(t, "code requests", w.srv.Count(akiflowtest.RouteCode), 3)
	check(t, "prompts for the code", strings.Count(res.stderr, "Code: "), 3)

	// No session was saved: no file matches the cache file's pattern, and
	// the pattern is one the session file would match.
	pattern := filepath.Join(w.home, ".cache", "akiflow-token", "*", alice+".json")
	if ok, err := filepath.Match(pattern, w.sessionPath(alice)); !ok || err != nil {
		t.Fatalf("the pattern %s does not match the session file %s (%v)", pattern, w.sessionPath(alice), err)
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "session files after three wrong codes", matches, []string{})
}

// waitCode waits for the prompt and returns the code that was mailed.
func (w *world) waitCode(r *terminalRun, email string) string {
	w.t.Helper()
	r.expect("Code: ")
	return w.srv.Code(email)
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

func TestExpiredCodeURLSendsANewCode(t *testing.T) {
	w := newWorld(t)
	w.srv.SetCodeTTL(-time.Minute) // every signed URL is already expired
	r := w.start("-e", alice)
	r.typeLine(w.waitCode(r, alice))
	r.expect("The code has expired. Send a new one? [Y/n] ")
	w.srv.SetCodeTTL(15 * time.Minute)
	r.typeLine("")
	r.expect("A new code was sent")
	r.typeLine(w.waitCode(r, alice))
	w.tokenOf(r.wait())
	check(t, "codes mailed", w.srv.Count(akiflowtest.RouteLogin), 2)
}

func TestCtrlCAtThePromptLeavesTheCacheAlone(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)
	before, err := os.ReadFile(w.cacheFile(alice))
	if err != nil {
		t.Fatal(err)
	}
	r := w.start("login", "-e", alice)
	r.expect("Code: ")
	r.tty.Write([]byte{3}) // Ctrl-C
	res := r.wait()
	check(t, "exit status", res.code, 130)
	check(t, "stdout", res.stdout, "")
	after, err := os.ReadFile(w.cacheFile(alice))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "cache file", string(after), string(before))
	check(t, "the session still works", w.tokenOf(w.run()), token)
}

func TestRefreshNearExpiry(t *testing.T) {
	w := newWorld(t)
	first := w.login(alice)
	// A token with a minute left is near expiry for --min-ttl (5m).
	w.nearExpiry(alice)
	before, connections := w.counts(), w.srv.Connections()
	res := w.run("-v")
	check(t, "connections for the refresh's 2 exchanges", w.srv.Connections()-connections, 1)
	second := w.tokenOf(res)
	checkChanged(t, "a new token", second, first)
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	if !strings.Contains(res.stderr, "POST /oauth/refreshToken: 200") {
		t.Errorf("--verbose does not show the refresh exchange:\n%s", redact(res.stderr))
	}
	check(t, "client ids used", len(w.srv.ClientIDs()), 1)

	// The rotated pair was saved: the next run is a cache hit, and the
	// refresh after that works (the new refresh token was kept).
	before = w.counts()
	check(t, "cache hit after refresh", w.tokenOf(w.run()), second)
	w.checkRequests(before, map[string]int{})
	w.expire(alice)
	third := w.tokenOf(w.run())
	checkChanged(t, "refreshed after expiry", third, second)
	check(t, "the same client id on every refresh", len(w.srv.ClientIDs()), 1)
}

// A token that lives less than --min-ttl is printed, and refreshed only
// when under half its lifetime is left (see hardening_test.go).
func TestShortLivedTokensArePrintedAnyway(t *testing.T) {
	w := newWorld(t)
	w.srv.SetExpiresIn(60) // the server gives less than --min-ttl
	w.login(alice)
	before := w.counts()
	w.tokenOf(w.run()) // 60 s left, over half the lifetime: a cache hit
	w.checkRequests(before, map[string]int{})
	w.editSession(alice, func(s map[string]any) {
		s["expires_at"] = time.Now().Add(20 * time.Second).UTC().Format(time.RFC3339)
	})
	w.tokenOf(w.run()) // under half: one refresh, and no loop
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
}

func TestForceRefresh(t *testing.T) {
	w := newWorld(t)
	first := w.login(alice)
	second := w.tokenOf(w.run("--force-refresh"))
	checkChanged(t, "a new token", second, first)
	check(t, "refreshes", w.srv.Count(akiflowtest.RouteRefresh), 1)

	// With no session at all, --force-refresh is a login.
	res := w.run("--force-refresh", "-e", "nobody@example.com")
	check(t, "no session: exit", res.code, 3)
}

func TestRejectedRefreshWithoutTerminal(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.srv.Revoke(alice)
	w.expire(alice)
	before := w.counts()
	res := w.run()
	check(t, "exit status", res.code, 3)
	check(t, "stdout", res.stdout, "")
	if !strings.Contains(res.stderr, `run "akiflow-token login"`) {
		t.Errorf("stderr does not say what to do:\n%s", redact(res.stderr))
	}
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})

	// The dead refresh token is forgotten: the next call asks for a login
	// at once, without trying it again.
	before = w.counts()
	res = w.run()
	check(t, "next call: exit status", res.code, 3)
	w.checkRequests(before, map[string]int{})
	check(t, "status after a rejection", w.run("status").code, 3)
}

func TestRejectedRefreshWithTerminalLogsInAgain(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.srv.Revoke(alice)
	w.expire(alice)
	r := w.start()
	r.expect("a new login is needed")
	r.typeLine(w.waitCode(r, alice))
	w.tokenOf(r.wait())
}

func TestNoSessionNoTerminal(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
	}{
		{"no terminal", nil, nil},
		{"no terminal, --email", []string{"-e", alice}, nil},
		{"--non-interactive", []string{"--non-interactive"}, nil},
		{"AKIFLOW_NON_INTERACTIVE", nil, []string{"AKIFLOW_NON_INTERACTIVE=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			res := w.runEnv(tc.env, tc.args...)
			check(t, "exit status", res.code, 3)
			check(t, "stdout", res.stdout, "")
			w.checkRequests(map[string]int{}, map[string]int{})
		})
	}
}

func TestNonInteractiveWithTerminalDoesNotPrompt(t *testing.T) {
	w := newWorld(t)
	r := w.start("--non-interactive", "-e", alice)
	res := r.wait()
	check(t, "exit status", res.code, 3)
	w.checkRequests(map[string]int{}, map[string]int{}) // a new fake: none before
}

func TestTwoAccounts(t *testing.T) {
	w := newWorld(t)
	const bob = "bob+work@example.org"
	a := w.login(alice)
	b := w.login(bob)
	checkChanged(t, "bob's token, not alice's", b, a)
	check(t, "default is the last login", w.tokenOf(w.run()), b)
	check(t, "--email selects", w.tokenOf(w.run("-e", alice)), a)
	check(t, "AKIFLOW_EMAIL selects", w.tokenOf(w.runEnv([]string{"AKIFLOW_EMAIL=" + alice})), a)

	st := w.run("status")
	check(t, "status exit", st.code, 0)
	w.checkNoSecrets("status", st.stdout)
	for _, want := range []string{"account: " + bob, "refresh: held", "other:   " + alice, w.cacheFile(bob)} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, redact(st.stdout))
		}
	}

	// Logging bob (the default) out leaves alice alone, and makes her the
	// default; logging bob out twice is fine.
	res := w.run("logout")
	check(t, "logout exit", res.code, 0)
	check(t, "logout stderr", res.stderr, "logged out "+bob+"\nthe default account is now "+alice+"\n")
	res = w.run("logout", "-e", bob)
	check(t, "second logout exit", res.code, 0)
	check(t, "second logout stderr", res.stderr, "no session for "+bob+"\n")
	st = w.run("status", "-e", bob)
	check(t, "status exit after logout", st.code, 3)
	if !strings.Contains(st.stdout, "refresh: none") {
		t.Errorf("status after logout:\n%s", redact(st.stdout))
	}
	check(t, "alice still logged in", w.tokenOf(w.run("-e", alice)), a)
	check(t, "alice is the default now", w.tokenOf(w.run()), a)
	check(t, "bob's token is gone", w.run("-e", bob).code, 3)

	res = w.run("logout", "--all")
	check(t, "logout --all exit", res.code, 0)
	check(t, "alice is logged out too", w.run("-e", alice).code, 3)
	check(t, "status exit after logout --all", w.run("status", "-e", alice).code, 3)
}

func TestClientIDIsKeptAcrossLogins(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	id := func() string {
		var s struct {
			ClientID string `json:"client_id"`
		}
		data, _ := os.ReadFile(w.cacheFile(alice))
		json.Unmarshal(data, &s)
		return s.ClientID
	}
	first := id()
	check(t, "client id is a UUID", len(first), 36)
	w.run("logout")
	w.login(alice)
	check(t, "client id after logout and login", id(), first)
}

func TestOutputFormats(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)

	res := w.run("-o", "header")
	check(t, "header", res.stdout, "Authorization: Bearer "+token+"\n")

	res = w.runEnv([]string{"AKIFLOW_OUTPUT=json"})
	var j struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresAt   string `json:"expires_at"`
		ExpiresIn   int    `json:"expires_in"`
		Email       string `json:"email"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &j); err != nil {
		t.Fatalf("-o json is not JSON: %v", err)
	}
	check(t, "json access_token", j.AccessToken, token)
	check(t, "json token_type", j.TokenType, "Bearer")
	check(t, "json email", j.Email, alice)
	exp, err := time.Parse(time.RFC3339, j.ExpiresAt)
	if err != nil || time.Until(exp) < 29*time.Minute || time.Until(exp) > 31*time.Minute {
		t.Errorf("json expires_at %q is not about 30 minutes ahead", j.ExpiresAt)
	}
	if j.ExpiresIn < 29*60 || j.ExpiresIn > 1800 {
		t.Errorf("json expires_in = %d", j.ExpiresIn)
	}
}

func TestStaleXSRFIsRetriedOnce(t *testing.T) {
	w := newWorld(t)
	first := w.login(alice)
	w.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(419, "application/json", `{"message":"CSRF token mismatch."}`))
	w.expire(alice)
	before := w.counts()
	checkChanged(t, "refreshed after a 419", w.tokenOf(w.run()), first)
	w.checkRequests(before, map[string]int{"csrf-cookie": 2, "refresh": 2})
}

func TestTransientFailureKeepsTheSession(t *testing.T) {
	w := newWorld(t)
	first := w.login(alice)

	// The token is still good but under --min-ttl: print it, with a warning.
	// A 503 says the server did not use the refresh token: it is tried 3
	// times, and each try meets one of these.
	unavailable := akiflowtest.RetryAfter(503, 0)
	w.srv.Fail(akiflowtest.RouteRefresh, unavailable, unavailable, unavailable)
	before := w.counts()
	w.nearExpiry(alice)
	res := w.run()
	check(t, "the cached token", w.tokenOf(res), first)
	if !strings.Contains(res.stderr, "warning") || !strings.Contains(res.stderr, "503") {
		t.Errorf("no warning naming the failure:\n%s", redact(res.stderr))
	}
	w.checkRequests(before, map[string]int{"csrf-cookie": 3, "refresh": 3})

	// The token has expired: exit 4, nothing on stdout. A 502 may come
	// from a server that used the token: it is not tried again.
	w.expire(alice)
	w.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(502, "text/html", "<html><body>Bad Gateway</body></html>"))
	before = w.counts()
	res = w.run()
	check(t, "exit status", res.code, 4)
	check(t, "stdout", res.stdout, "")
	check(t, "one-line error", strings.Count(res.stderr, "\n"), 1)
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})

	// The session survived: the next run refreshes with the same refresh token.
	w.tokenOf(w.run())
}

func TestCodeIsNeverSentToAnotherHost(t *testing.T) {
	w := newWorld(t)
	w.srv.RedirectLoginTo("http://127.0.0.2:9")
	r := w.start("-e", alice)
	res := r.wait()
	check(t, "exit status", res.code, 1)
	if !strings.Contains(res.stderr, "refusing to send the code") {
		t.Errorf("stderr:\n%s", redact(res.stderr))
	}
	check(t, "codes posted", w.srv.Count(akiflowtest.RouteCode), 0)
}

func TestRedirectsToAnotherHostAreNotFollowed(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	w.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Redirect(307, "http://127.0.0.2:9/steal"))
	res := w.run()
	if res.code == 0 || !strings.Contains(res.stderr, "refusing to follow a redirect") {
		t.Errorf("exit %d, stderr:\n%s", res.code, redact(res.stderr))
	}
}

// sessionPath is where email's session file lives, before it exists.
func (w *world) sessionPath(email string) string {
	host := strings.ReplaceAll(strings.TrimPrefix(w.srv.URL, "http://"), ":", "%3A")
	return filepath.Join(w.home, ".cache", "akiflow-token", host, email+".json")
}

func TestBadCacheFiles(t *testing.T) {
	good := `{"format":1,"email":"alice@example.com","client_id":"x","access_token":"a.b.c","refresh_token":"def50200aa","expires_at":"2099-01-01T00:00:00Z"}`
	for _, tc := range []struct {
		name    string
		make    func(path string) error
		code    int
		message string
	}{
		{"empty", writeFile(""), 3, "not a valid session file"},
		{"truncated", writeFile(good[:40]), 3, "not a valid session file"},
		{"not JSON", writeFile("hello"), 3, "not a valid session file"},
		{"wrong shape", writeFile(`{"format":"one","email":[1]}`), 3, "not a valid session file"},
		{"no expiry", writeFile(`{"format":1,"email":"alice@example.com","access_token":"x"}`), 3, "without expiry"},
		{"a directory", func(p string) error { return os.Mkdir(p, 0o700) }, 3, "not a regular file"},
		{"dangling symlink", func(p string) error { return os.Symlink(p+".gone", p) }, 3, ""},
		{"newer format", writeFile(`{"format":2,"email":"alice@example.com"}`), 1, "newer akiflow-token"},
		{"readable by others", func(p string) error {
			if err := writeFile(good)(p); err != nil {
				return err
			}
			return os.Chmod(p, 0o644)
		}, 1, "chmod 600 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			path := w.sessionPath(alice)
			os.MkdirAll(filepath.Dir(path), 0o700)
			if err := tc.make(path); err != nil {
				t.Fatal(err)
			}
			res := w.run("-e", alice)
			check(t, "exit status", res.code, tc.code)
			check(t, "stdout", res.stdout, "")
			if !strings.Contains(res.stderr, tc.message) {
				t.Errorf("stderr lacks %q:\n%s", tc.message, redact(res.stderr))
			}
			if lines := strings.Split(strings.TrimSpace(res.stderr), "\n"); len(lines) > 2 || len(lines) == 2 && lines[0] == lines[1] {
				t.Errorf("want a warning (once) and an error line, got:\n%s", redact(res.stderr))
			}
			w.checkRequests(map[string]int{}, map[string]int{})
		})
	}
}

func writeFile(content string) func(string) error {
	return func(path string) error { return os.WriteFile(path, []byte(content), 0o600) }
}

func TestNewerFormatIsNotOverwritten(t *testing.T) {
	w := newWorld(t)
	path := w.sessionPath(alice)
	os.MkdirAll(filepath.Dir(path), 0o700)
	newer := `{"format":2,"email":"alice@example.com"}`
	writeFile(newer)(path)
	r := w.start("-e", alice)
	res := r.wait()
	check(t, "exit status", res.code, 1)
	check(t, "codes mailed", w.srv.Count(akiflowtest.RouteLogin), 0)
	w.run("logout", "-e", alice)
	data, _ := os.ReadFile(path)
	check(t, "file untouched", string(data), newer)
}
