// End-to-end tests of what akiflow-token guarantees: concurrent callers,
// killed processes, failing servers, broken files, hostile input, secrets
// and callers with nobody to ask.
package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// parallel runs n copies of akiflow-token at once and returns their results.
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

func TestConcurrentCallersRefreshOnce(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.srv.SetLatency(5 * time.Millisecond)
	w.expire(alice)
	before := w.counts()
	results := w.parallel(50)
	first := results[0].stdout
	for i, r := range results {
		w.tokenOf(r)
		check(t, fmt.Sprintf("process %d prints the same token as process 0", i), r.stdout, first)
	}
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	t.Logf("50 processes on an expired token: %d refresh request(s)", w.srv.Count(akiflowtest.RouteRefresh)-before[akiflowtest.RouteRefresh])
}

func TestConcurrentCallersWithNobodyToAskExit3(t *testing.T) {
	w := newWorld(t)
	for i, r := range w.parallel(50, "-e", alice) {
		check(t, fmt.Sprintf("process %d exit", i), r.code, 3)
		check(t, fmt.Sprintf("process %d stdout", i), r.stdout, "")
	}
	w.checkRequests(map[string]int{}, map[string]int{})
}

func TestConcurrentLoginsMailOneCode(t *testing.T) {
	w := newWorld(t)
	var runs []*terminalRun
	for range 4 {
		runs = append(runs, w.start("-e", alice))
	}
	// One of them holds the lock and asks; the others wait for its session.
	deadline := time.Now().Add(20 * time.Second)
	var asking *terminalRun
	for asking == nil && time.Now().Before(deadline) {
		for _, r := range runs {
			if strings.Contains(r.text(), "Code: ") {
				asking = r
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if asking == nil {
		t.Fatal("no process asked for the code")
	}
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

func TestKilledRefreshesLoseNoSession(t *testing.T) {
	const kills = 200
	w := newWorld(t)
	w.login(alice)
	w.srv.SetLatency(3 * time.Millisecond)
	lost, refreshes := 0, w.srv.Count(akiflowtest.RouteRefresh)
	for i := range kills {
		w.expire(alice)
		cmd := exec.Command(binary)
		cmd.Env = w.env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond)
		cmd.Process.Kill() // SIGKILL, at any moment of the refresh
		cmd.Wait()

		if _, err := w.readSession(alice); err != nil {
			t.Fatalf("kill %d: the cache file does not parse: %v", i, err)
		}
		// The next call is not blocked by a stale lock and finds a session:
		// the README promises that a SIGKILL during a refresh never loses it.
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

func TestServerFaults(t *testing.T) {
	unavailable := akiflowtest.RetryAfter(503, 0)
	tooMany := akiflowtest.RetryAfter(429, 0)
	// tries: a refresh is tried again only when the server cannot have used
	// it: after a 429 or a 503 whose wait fits the budget. Within the 500ms
	// --timeout that is 2 tries (a third, after 200ms and 400ms of backoff,
	// would not fit); TestTransientFailureKeepsTheSession sees all 3.
	for _, tc := range []struct {
		name     string
		faults   []akiflowtest.Fault
		message  string
		tries    int
		consumed bool // the server used the refresh token before failing
	}{
		{"500 JSON", []akiflowtest.Fault{akiflowtest.Reply(500, "application/json", `{"message":"Server Error"}`)}, "HTTP 500: Server Error", 1, false},
		{"502 HTML page", []akiflowtest.Fault{akiflowtest.Reply(502, "text/html", "<html><h1>502 Bad Gateway</h1></html>")}, "HTTP 502", 1, false},
		{"503 Retry-After", []akiflowtest.Fault{unavailable, unavailable}, "HTTP 503", 2, false},
		{"429 Retry-After", []akiflowtest.Fault{tooMany, tooMany}, "HTTP 429", 2, false},
		{"503 Retry-After too long", []akiflowtest.Fault{akiflowtest.RetryAfter(503, 3600)}, "asks to wait 1h0m0s", 1, false},
		{"truncated JSON", []akiflowtest.Fault{akiflowtest.Reply(200, "application/json", `{"access_token":"eyJ`)}, "not valid JSON", 1, false},
		{"200 HTML maintenance page", []akiflowtest.Fault{akiflowtest.Reply(200, "text/html", "<html>Down for maintenance</html>")}, "not JSON", 1, false},
		{"200 empty object", []akiflowtest.Fault{akiflowtest.Reply(200, "application/json", "{}")}, "access token is not usable", 1, false},
		{"oversized reply", []akiflowtest.Fault{akiflowtest.Reply(200, "application/json", `{"access_token":"`+strings.Repeat("x", 5<<20)+`"}`)}, "larger than", 1, false},
		{"no answer", []akiflowtest.Fault{akiflowtest.Hang()}, "no answer within 500ms", 1, false},
		{"connection reset", []akiflowtest.Fault{akiflowtest.Reset()}, "could not reach Akiflow", 1, false},
		{"reply lost after rotation", []akiflowtest.Fault{akiflowtest.ProcessedThenLost(akiflowtest.RouteRefresh)}, "could not reach Akiflow", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.login(alice)
			w.expire(alice)
			saved, err := w.readSession(alice)
			if err != nil {
				t.Fatal(err)
			}
			w.srv.Fail(akiflowtest.RouteRefresh, tc.faults...)
			before := w.counts()
			r := w.run("--timeout", "500ms")
			check(t, "exit status", r.code, 4)
			check(t, "stdout", r.stdout, "")
			if !strings.Contains(r.stderr, tc.message) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("want one line naming %q, got:\n%s", tc.message, redact(r.stderr))
			}
			w.checkRequests(before, map[string]int{"csrf-cookie": tc.tries, "refresh": tc.tries})
			now, err := w.readSession(alice)
			if err != nil {
				t.Fatalf("the session after the failure: %v", err)
			}
			check(t, "refresh token in the cache", now["refresh_token"], saved["refresh_token"])

			// Once the server is back, the kept session refreshes, unless
			// the server had used the token: then a login is needed.
			r = w.run()
			if tc.consumed {
				check(t, "after a lost reply: exit", r.code, 3)
			} else {
				w.tokenOf(r)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	saved, err := w.readSession(alice)
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Close() // its port now refuses connections
	r := w.run()
	check(t, "exit status", r.code, 4)
	check(t, "stdout", r.stdout, "")
	if !strings.Contains(r.stderr, "connection refused") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr:\n%s", redact(r.stderr))
	}
	now, err := w.readSession(alice)
	if err != nil {
		t.Fatalf("the session after the failure: %v", err)
	}
	check(t, "refresh token in the cache", now["refresh_token"], saved["refresh_token"])

	// A refused connection reached no server, so the refresh is tried 3
	// times. The closed fake counts none of them: --verbose shows them.
	r = w.run("-v")
	check(t, "-v: exit status", r.code, 4)
	check(t, "-v: tries of the refresh, each refused at its csrf-cookie request", strings.Count(r.stderr, "GET /csrf-cookie: no reply"), 3)
	check(t, "-v: retries announced", strings.Count(r.stderr, "retrying the refresh in"), 2)
	check(t, "-v: refresh requests sent", strings.Count(r.stderr, "POST /oauth/refreshToken"), 0)
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

func TestUnwritableCacheFolderSendsNoRefresh(t *testing.T) {
	w := newWorld(t)
	w.asNobody()
	token := w.login(alice)
	w.nearExpiry(alice) // under --min-ttl: the next run wants to refresh
	w.giveHome()
	dir := filepath.Dir(w.cacheFile(alice))
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)

	// The token still has a minute: it is printed with a warning, and no
	// refresh is sent, since its result could not be saved.
	before := w.counts()
	r := w.run()
	check(t, "exit status", r.code, 0)
	check(t, "the cached token", strings.TrimSpace(r.stdout), token)
	if !strings.Contains(r.stderr, "not refreshing, since the new session could not be saved") {
		t.Errorf("stderr:\n%s", redact(r.stderr))
	}
	w.checkRequests(before, map[string]int{})

	// Expired: exit 1 with the same message, still no refresh sent.
	os.Chmod(dir, 0o700)
	w.expire(alice)
	w.giveHome()
	os.Chmod(dir, 0o500)
	r = w.run()
	check(t, "expired: exit status", r.code, 1)
	check(t, "expired: stdout", r.stdout, "")
	w.checkRequests(before, map[string]int{})
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

func TestFilesOfAnotherUserAreRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: only root can give a session file to another user")
	}
	w := newWorld(t)
	w.login(alice)
	path := w.cacheFile(alice)
	if err := os.Chown(path, int(nobody.Uid), int(nobody.Gid)); err != nil {
		t.Fatal(err)
	}
	r := w.run()
	check(t, "exit status", r.code, 1)
	if !strings.Contains(r.stderr, fmt.Sprintf("chown %d %s", os.Getuid(), path)) {
		t.Errorf("stderr lacks the chown fix:\n%s", redact(r.stderr))
	}
}

func TestUnreadableCacheFileIsNoSession(t *testing.T) {
	w := newWorld(t)
	w.asNobody()
	w.login(alice)
	w.giveHome()
	os.Chmod(w.cacheFile(alice), 0o000)
	before := w.counts()
	r := w.run()
	check(t, "exit status", r.code, 3)
	if !strings.Contains(r.stderr, "treating it as no session") {
		t.Errorf("stderr:\n%s", redact(r.stderr))
	}
	w.checkRequests(before, map[string]int{})
}

// Every process akiflow-token starts (the detached refresh) is started with
// no secret in its argv: read every process's command line while a slow
// refresh is under way.
func TestNoSecretInAnyArgv(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	w.srv.SetLatency(300 * time.Millisecond)
	cmd := exec.Command(binary, "-v")
	cmd.Env = w.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	seen := map[string]bool{}
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(5 * time.Millisecond):
		}
		lines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range lines {
			argv, _ := os.ReadFile(p)
			if bytes.Contains(argv, []byte("akiflow-token")) {
				seen[strings.ReplaceAll(string(argv), "\x00", " ")] = true
			}
			w.checkNoSecrets("the argv of "+filepath.Dir(p), string(argv))
		}
	}
	w.checkNoSecrets("stderr", stderr.String())
	refreshers := 0
	for argv := range seen {
		if strings.Contains(argv, "__refresh") {
			refreshers++
		}
	}
	if refreshers == 0 {
		t.Errorf("never saw the refresh process; saw %d akiflow-token command lines", len(seen))
	}
}

func TestNeverAskWithoutAPerson(t *testing.T) {
	noPrompt := `KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"--non-interactive", nil, []string{"--non-interactive"}},
		{"GIT_TERMINAL_PROMPT=0", []string{"GIT_TERMINAL_PROMPT=0"}, nil},
		{"exec info interactive false", []string{noPrompt}, []string{"-o", "exec-credential"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.login(alice)
			w.srv.Revoke(alice)
			w.expire(alice)
			// With a terminal at hand, and a rejected session: still no prompt.
			r := w.startEnv(tc.env, tc.args...)
			res := r.wait()
			check(t, "exit status", res.code, 3)
			check(t, "codes mailed", w.srv.Count(akiflowtest.RouteLogin), 1)
			if strings.Contains(res.stderr, "Code:") {
				t.Errorf("it prompted:\n%s", redact(res.stderr))
			}
			// Without a terminal, stdin held open with a code in it: unread.
			res2 := w.runEnv(tc.env, tc.args...)
			check(t, "no terminal: exit status", res2.code, 3)
			check(t, "no terminal: codes mailed", w.srv.Count(akiflowtest.RouteLogin), 1)
		})
	}
}
