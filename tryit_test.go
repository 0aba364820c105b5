//go:build unix

package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// TestTryIt runs README's "Try it offline" for real: the fakeakiflow
// program on loopback, its printed exports eval'ed by a shell, a login in a
// terminal with the code it printed, a cache hit, status, a forced refresh,
// curl against its protected endpoint, a short token lifetime that is
// refreshed by waiting, the OAuth sign-in with a test browser and the
// fake's MCP server, and Ctrl-C, which removes its cache folder.
func TestTryIt(t *testing.T) {
	t.Parallel()
	fakeBinary := filepath.Join(t.TempDir(), "fakeakiflow")
	if out, err := exec.Command("go", "build", "-o", fakeBinary, "./helper/akiflow/akiflowtest/fakeakiflow").CombinedOutput(); err != nil {
		t.Fatalf("building fakeakiflow: %v\n%s", err, out)
	}

	t.Run("walkthrough", func(t *testing.T) {
		t.Parallel()
		fake := startFake(t, fakeBinary)
		w := newWorld(t) // its own fake stays unused: the env points at fakeakiflow
		w.env = append(w.env, fake.env...)

		r := w.start("login", "-e", alice)
		r.expect("A 6-digit code was sent to " + alice)
		r.expect("Code: ")
		code := fake.code(alice)
		r.typeLine(code[:3] + " " + code[3:])
		res := r.wait()
		fake.checkNoTokens("the terminal", res.stderr)
		if res.code != 0 || !strings.Contains(res.stderr, "logged in as "+alice) {
			t.Fatalf("login: exit %d, the terminal shows:\n%s", res.code, fake.redact(res.stderr))
		}

		// A cache hit: the same token twice, and nothing on stderr.
		first := fake.token(w.run())
		check(t, "second run: the cached token", fake.token(w.run()) == first, true)

		st := w.run("status")
		check(t, "status exit", st.code, 0)
		fake.checkNoTokens("status", st.stdout)
		for _, want := range []string{"account: " + alice, "refresh: held", "cache:   " + fake.cache + string(filepath.Separator)} {
			if !strings.Contains(st.stdout, want) {
				t.Errorf("status lacks %q:\n%s", want, st.stdout)
			}
		}

		// A refresh: the two exchanges, a new token, which is then cached.
		res = w.run("--force-refresh", "-v")
		second := fake.token(res)
		check(t, "--force-refresh prints a new token", second != first, true)
		for _, want := range []string{"GET /csrf-cookie: 204", "POST /oauth/refreshToken: 200"} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("--force-refresh -v does not show %q:\n%s", want, fake.redact(res.stderr))
			}
		}
		check(t, "after the refresh: the new token is cached", fake.token(w.run()) == second, true)

		// curl, as README runs it, against the fake's protected endpoint,
		// and through the endpoint of exec --serve.
		if haveTool(t, "curl", "the curl steps") {
			for _, step := range []struct{ command, want string }{
				{`curl -H "Authorization: Bearer $(akiflow-token)" "$AKIFLOW_BASE_URL/v5/tasks"`, `{"data":[],"success":true}`},
				{`curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(akiflow-token)" "$AKIFLOW_BASE_URL/v5/tasks"`, "200"},
				{`akiflow-token exec --serve -- sh -c 'curl -s --noproxy "*" "$AKIFLOW_TOKEN_URL"'`, `"email": "` + alice + `"`},
				{`akiflow-token exec --serve --api-url "$AKIFLOW_BASE_URL" -- sh -c 'curl -s --noproxy "*" "$AKIFLOW_PROXY_URL/v5/tasks"'`, `{"data":[],"success":true}`},
			} {
				res = w.runProgram(nil, nil, "sh", "-c", step.command)
				fake.checkNoTokens("curl's stderr", res.stderr)
				if res.code != 0 || !strings.Contains(res.stdout, step.want) {
					t.Errorf("%s: exit %d, stdout does not hold %q:\n%s\nstderr:\n%s", step.command, res.code, step.want, fake.redact(res.stdout), fake.redact(res.stderr))
				}
			}
		}
		if haveTool(t, "git", "the git step") {
			const command = `printf 'url=%s/x\n\n' "$AKIFLOW_BASE_URL" | git -c credential.helper= -c 'credential.helper=!akiflow-token git-credential' credential fill`
			res = w.runProgram(nil, []string{"GIT_TERMINAL_PROMPT=0"}, "sh", "-c", command)
			if res.code != 0 || !strings.Contains(res.stdout, "password="+second+"\n") {
				t.Errorf("git credential fill: exit %d, no password line with the cached token; stderr:\n%s", res.code, fake.redact(res.stderr))
			}
		}
		res = w.run("-o", "exec-credential")
		if res.code != 0 || !strings.Contains(res.stdout, `"token": "`+second+`"`) {
			t.Errorf("-o exec-credential: exit %d, no token in:\n%s", res.code, fake.redact(res.stdout))
		}

		// The OAuth sign-in with a "browser" that consents, and the
		// fake's MCP server with its token, as README runs them.
		if haveTool(t, "curl", "the OAuth steps") {
			login := w.startShell("", nil, "sh", "-c", `BROWSER='curl -sL -o /dev/null' akiflow-token login --oauth`)
			login.expect("logged in as " + akiflowtest.DefaultOAuthUser)
			if res := login.wait(); res.code != 0 {
				t.Errorf("login --oauth: exit %d, the terminal shows:\n%s", res.code, fake.redact(login.text()))
			}
			for _, step := range []struct{ command, want string }{
				{`curl -H "Authorization: Bearer $(akiflow-token --oauth)" -H 'Accept: application/json, text/event-stream' --json '{"jsonrpc":"2.0","id":1,"method":"initialize"}' "$AKIFLOW_MCP_URL"`, `"protocolVersion":"2025-06-18"`},
			} {
				res = w.runProgram(nil, nil, "sh", "-c", step.command)
				fake.checkNoTokens("stderr", res.stderr)
				if res.code != 0 || !strings.Contains(res.stdout, step.want) {
					t.Errorf("%s: exit %d, stdout does not hold %q:\n%s\nstderr:\n%s", step.command, res.code, step.want, fake.redact(res.stdout), fake.redact(res.stderr))
				}
			}
		}

		fake.stop(t)
	})

	t.Run("short lifetime", func(t *testing.T) {
		t.Parallel()
		fake := startFake(t, fakeBinary, "--expires-in", "2s")
		w := newWorld(t)
		w.env = append(w.env, fake.env...)
		r := w.start("-e", alice)
		r.expect("Code: ")
		r.typeLine(fake.code(alice))
		// Tokens of 2 s may expire before the fake is asked about them:
		// only their lines are checked here.
		first := fake.line(r.wait())
		// With tokens of 2 s, the effective --min-ttl is 1 s: once the
		// cached token has less than that left, the next call refreshes.
		var cached struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		if err := json.Unmarshal([]byte(w.run("-o", "json").stdout), &cached); err != nil {
			t.Fatalf("-o json: %v", err)
		}
		time.Sleep(time.Until(cached.ExpiresAt.Add(-time.Second / 2)))
		res := w.run("-v")
		check(t, "after waiting: a new token", fake.line(res) != first, true)
		if !strings.Contains(res.stderr, "POST /oauth/refreshToken: 200") {
			t.Errorf("-v does not show the refresh:\n%s", fake.redact(res.stderr))
		}
		fake.stop(t)
	})
}

// fakeProgram is a running fakeakiflow.
type fakeProgram struct {
	t     *testing.T
	cmd   *exec.Cmd
	env   []string // its exports, as a shell evaluates them
	url   string   // AKIFLOW_BASE_URL
	cache string   // XDG_CACHE_HOME
	done  chan struct{}

	mu     sync.Mutex
	stderr strings.Builder
	tokens []string // every token a run printed, for leak checks
}

var exportLine = regexp.MustCompile(`^export (AKIFLOW_BASE_URL|XDG_CACHE_HOME|AKIFLOW_MCP_URL)=\S+$`)

// startFake starts fakeakiflow and reads its exports, which a shell
// evaluates as README says to.
func startFake(t *testing.T, binary string, args ...string) *fakeProgram {
	t.Helper()
	f := &fakeProgram{t: t, cmd: exec.Command(binary, args...), done: make(chan struct{})}
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := f.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f.cmd.ProcessState == nil {
			f.cmd.Process.Kill()
			f.cmd.Wait()
		}
	})
	go func() {
		defer close(f.done)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			f.mu.Lock()
			f.stderr.WriteString(s.Text() + "\n")
			f.mu.Unlock()
		}
	}()

	// stdout: three exports, then a comment; nothing else.
	lines := make(chan []string, 1)
	go func() {
		var got []string
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			got = append(got, s.Text())
			if strings.HasPrefix(s.Text(), "#") {
				break
			}
		}
		lines <- got
	}()
	var exports []string
	select {
	case exports = <-lines:
	case <-time.After(patience):
		t.Fatalf("fakeakiflow printed no exports in %s; stderr:\n%s", patience, f.stderrText())
	}
	if len(exports) != 4 || !exportLine.MatchString(exports[0]) || !exportLine.MatchString(exports[1]) ||
		!exportLine.MatchString(exports[2]) || !strings.Contains(exports[3], "stderr") {
		t.Fatalf("fakeakiflow's stdout: want three exports and a comment saying where the codes appear, got:\n%s\nstderr:\n%s",
			strings.Join(exports, "\n"), f.stderrText())
	}
	out, err := exec.Command("sh", "-c", `eval "$1" && printf '%s\n%s\n%s\n' "$AKIFLOW_BASE_URL" "$XDG_CACHE_HOME" "$AKIFLOW_MCP_URL"`,
		"sh", strings.Join(exports, "\n")).Output()
	if err != nil {
		t.Fatalf("sh cannot evaluate fakeakiflow's exports: %v", err)
	}
	values := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(values) != 3 || !strings.HasPrefix(values[0], "http://127.0.0.1:") || values[2] != values[0]+akiflowtest.MCPPath {
		t.Fatalf("the exports give %q", values)
	}
	f.url, f.cache = values[0], values[1]
	f.env = []string{"AKIFLOW_BASE_URL=" + f.url, "XDG_CACHE_HOME=" + f.cache, "AKIFLOW_MCP_URL=" + values[2]}
	if info, err := os.Stat(f.cache); err != nil || !info.IsDir() || info.Mode().Perm() != 0o700 {
		t.Fatalf("XDG_CACHE_HOME %s is not a fresh private folder: %v %v", f.cache, info, err)
	}
	return f
}

func (f *fakeProgram) stderrText() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stderr.String()
}

// code waits for the code that fakeakiflow says it mailed to email, and
// returns the last one.
func (f *fakeProgram) code(email string) string {
	f.t.Helper()
	re := regexp.MustCompile(`(?m)^code for ` + regexp.QuoteMeta(email) + `: (\d{6})$`)
	for deadline := time.Now().Add(patience); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := re.FindAllStringSubmatch(f.stderrText(), -1); m != nil {
			return m[len(m)-1][1]
		}
	}
	f.t.Fatalf("fakeakiflow printed no code for %s; its stderr:\n%s", email, f.stderrText())
	return ""
}

// line checks that a run printed exactly one token line, and that stderr
// holds no token; it returns the token.
func (f *fakeProgram) line(r result) string {
	f.t.Helper()
	token, ok := strings.CutSuffix(r.stdout, "\n")
	if r.code != 0 || !ok || token == "" || strings.ContainsAny(token, " \n") {
		f.t.Fatalf("want one token line and exit 0; got exit %d, %d bytes of stdout; stderr:\n%s", r.code, len(r.stdout), f.redact(r.stderr))
	}
	f.mu.Lock()
	f.tokens = append(f.tokens, token)
	f.mu.Unlock()
	f.checkNoTokens("stderr", r.stderr)
	return token
}

// token is line, and checks that the fake's protected endpoint accepts the
// token.
func (f *fakeProgram) token(r result) string {
	f.t.Helper()
	token := f.line(r)
	req, _ := http.NewRequest("GET", f.url+akiflowtest.ProtectedPath, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.t.Errorf("the fake's %s answered %d to the printed token", akiflowtest.ProtectedPath, resp.StatusCode)
	}
	return token
}

// checkNoTokens fails if text holds a printed token (without showing it).
func (f *fakeProgram) checkNoTokens(where, text string) {
	f.t.Helper()
	if redacted := f.redact(text); redacted != text {
		f.t.Errorf("%s holds a token:\n%s", where, redacted)
	}
}

func (f *fakeProgram) redact(s string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, token := range f.tokens {
		s = strings.ReplaceAll(s, token, fmt.Sprintf("<token #%d>", i+1))
	}
	return s
}

// stop presses Ctrl-C: fakeakiflow exits 0 and removes its cache folder.
func (f *fakeProgram) stop(t *testing.T) {
	t.Helper()
	f.cmd.Process.Signal(os.Interrupt)
	<-f.done
	err := f.cmd.Wait()
	if err != nil {
		t.Errorf("fakeakiflow after Ctrl-C: %v; stderr:\n%s", err, f.redact(f.stderrText()))
	}
	if _, err := os.Stat(f.cache); !os.IsNotExist(err) {
		t.Errorf("fakeakiflow left its cache folder %s (%v)", f.cache, err)
	}
	if !strings.Contains(f.stderrText(), "removed "+f.cache) {
		t.Errorf("fakeakiflow did not say it removed its cache folder:\n%s", f.stderrText())
	}
}
