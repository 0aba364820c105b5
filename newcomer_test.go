// End-to-end tests of a newcomer's first hour: completion, a certificate
// this machine does not trust, git's operations typed by hand, login as an
// explicit request.
package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// complete asks akiflow-token for completions as bash's complete -C does:
// the line in COMP_LINE, the cursor in COMP_POINT, and the command, the
// word and the word before as arguments.
func (w *world) complete(line string) []string {
	w.t.Helper()
	words := strings.Fields(line)
	current, previous := "", words[len(words)-1]
	if !strings.HasSuffix(line, " ") {
		current = words[len(words)-1]
		previous = ""
		if len(words) > 1 {
			previous = words[len(words)-2]
		}
	}
	env := []string{"COMP_LINE=" + line, "COMP_POINT=" + itoa(len(line))}
	res := w.runProgram(nil, env, binary, "akiflow-token", current, previous)
	if res.code != 0 {
		w.t.Errorf("completing %q: exit %d: %s", line, res.code, res.stderr)
	}
	return strings.Fields(res.stdout)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestCompletion(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.login("bob@example.org")
	for line, want := range map[string]string{
		"akiflow-token st":                 "status",
		"akiflow-token -o ":                "token header json curl exec-credential",
		"akiflow-token -o js":              "json",
		"akiflow-token --non-int":          "--non-interactive",
		"akiflow-token -e ":                "alice@example.com bob@example.org",
		"akiflow-token -e b":               "bob@example.org",
		"akiflow-token completion ":        "bash fish zsh",
		"akiflow-token git-credential --v": "--verbose --version",
	} {
		got := w.complete(line)
		if strings.Join(sorted(got), " ") != strings.Join(sorted(strings.Fields(want)), " ") {
			t.Errorf("completing %q: got %q, want %q", line, got, want)
		}
	}

	// bash for real: evaluate the script, type a prefix, press Tab.
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash here")
	}
	script := w.run("completion", "bash")
	check(t, "completion bash: exit", script.code, 0)
	screen := w.interactiveShell(bash, []string{"--norc", "--noprofile"}, script.stdout, "akiflow-token stat\t")
	if !strings.Contains(screen, "akiflow-token status") {
		t.Errorf("bash did not complete \"stat\" to \"status\"; the screen:\n%s", screen)
	}

	// fish for real, where it is installed: its complete -C asks the
	// function the script defines.
	if fish, err := exec.LookPath("fish"); err == nil {
		script := w.run("completion", "fish")
		res := w.runProgram(nil, nil, fish, "-c", script.stdout+"\ncomplete -C 'akiflow-token st'; complete -C 'akiflow-token -o j'")
		check(t, "fish completes", strings.Fields(res.stdout), []string{"status", "json"})
	}
	// A COMP_LINE inherited by a program that runs akiflow-token for its
	// token is not a request for completions.
	res := w.runEnv([]string{"COMP_LINE=mytool lo", "COMP_POINT=9"})
	check(t, "with an inherited COMP_LINE: the token", res.stdout, w.tokenOf(w.run())+"\n")

	// zsh and fish: the scripts parse, where those shells are installed.
	for _, shell := range []string{"zsh", "fish"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("%s is not installed: its script is not checked", shell)
			continue
		}
		script := w.run("completion", shell)
		check(t, "completion "+shell+": exit", script.code, 0)
		res := w.runProgram(strings.NewReader(script.stdout), nil, path, "-n")
		if res.code != 0 {
			t.Errorf("%s -n refuses the script: %s", shell, res.stderr)
		}
	}
}

// interactiveShell runs shell in a pseudo-terminal, evaluates setup in it,
// types keys, and returns the screen.
func (w *world) interactiveShell(shell string, args []string, setup, keys string) string {
	w.t.Helper()
	dir := w.t.TempDir()
	setupFile := filepath.Join(dir, "setup.sh")
	os.WriteFile(setupFile, []byte(setup), 0o600)
	cmd := exec.Command(shell, args...)
	cmd.Env = append(append([]string(nil), w.env...), "PS1=$ ", "TERM=dumb")
	master, err := pty.Start(cmd)
	if err != nil {
		w.t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		master.Close()
	}()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	master.Write([]byte(". " + setupFile + "\n"))
	master.Write([]byte(keys))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		s := screen.String()
		mu.Unlock()
		if strings.Contains(s, "akiflow-token status") {
			return s
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return screen.String()
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// A certificate this machine does not trust is not "try again later": exit
// 1, naming the problem and the fix, with no retry.
func TestUntrustedCertificateSaysWhatToDo(t *testing.T) {
	w := newWorldWith(t, akiflowtest.NewTLSServer())
	r := w.start("-e", alice) // a person at a terminal: the login would ask
	res := r.wait()
	check(t, "exit status", res.code, 1)
	for _, want := range []string{"certificate", "trust store", "SSL_CERT_FILE", "--insecure"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, redact(res.stderr))
		}
	}
	check(t, "requests that reached the server", w.srv.Count(akiflowtest.RouteCSRF), 0)
}

// git's get, typed by hand at a terminal, says what it waits for.
func TestGitGetAtATerminalSaysWhatItReads(t *testing.T) {
	w := newWorld(t)
	r := w.start("git-credential", "get")
	r.expect("reading git's credential request on stdin")
	r.typeLine("protocol=https")
	r.typeLine("host=github.com")
	r.typeLine("")
	res := r.wait()
	check(t, "exit status", res.code, 0)
	check(t, "stdout", res.stdout, "")
}

// login is an explicit request to ask: it prompts at a terminal whatever
// the variables that turn the implicit login's prompting off say; and when
// prompting is off, the message names what turned it off.
func TestLoginAlwaysAsksAtATerminal(t *testing.T) {
	w := newWorld(t)
	env := []string{"AKIFLOW_NON_INTERACTIVE=1", "GIT_TERMINAL_PROMPT=0"}
	r := w.startEnv(env, "login", "-e", alice)
	r.expect("Code: ")
	r.typeLine(w.srv.Code(alice))
	res := r.wait()
	check(t, "login with prompting turned off elsewhere: exit", res.code, 0)
	w.tokenOf(w.run())

	w.run("logout")
	for _, tc := range []struct {
		args, env []string
		why       string
	}{
		{[]string{"--non-interactive"}, nil, "--non-interactive"},
		{nil, []string{"AKIFLOW_NON_INTERACTIVE=true"}, "AKIFLOW_NON_INTERACTIVE"},
		{nil, []string{"GIT_TERMINAL_PROMPT=0"}, "GIT_TERMINAL_PROMPT=0"},
	} {
		r := w.startEnv(tc.env, tc.args...)
		res := r.wait()
		check(t, tc.why+": exit", res.code, 3)
		if !strings.Contains(res.stderr, "prompting is turned off ("+tc.why+")") {
			t.Errorf("%s: the message does not name it: %q", tc.why, res.stderr)
		}
	}
}

// --app-version and --platform (and their variables) reach every request,
// the detached refresh included.
func TestClientHeadersFollowTheEnvironment(t *testing.T) {
	w := newWorld(t)
	w.login(alice, "--app-version", "9.9.9", "--platform", "android")
	check(t, "login: Akiflow-Version", w.srv.LastHeader(akiflowtest.RouteLogin, "Akiflow-Version"), "9.9.9")
	w.tokenOf(w.runEnv([]string{"AKIFLOW_APP_VERSION=2.80.1", "AKIFLOW_PLATFORM=mac"}, "--force-refresh"))
	check(t, "refresh: Akiflow-Version", w.srv.LastHeader(akiflowtest.RouteRefresh, "Akiflow-Version"), "2.80.1")
	check(t, "refresh: Akiflow-Platform", w.srv.LastHeader(akiflowtest.RouteRefresh, "Akiflow-Platform"), "mac")
	w.tokenOf(w.run("--force-refresh"))
	check(t, "default Akiflow-Version", w.srv.LastHeader(akiflowtest.RouteRefresh, "Akiflow-Version"), "2.69.3")
}
