// End-to-end tests of shell completion in the real shells: bash completes
// at a terminal, fish asks the function its script defines, zsh parses its
// script. The candidates akiflow-token answers are in completion.txtar;
// that it answers any line without a panic is FuzzCompletion.
package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// interactiveShell runs shell in a pseudo-terminal, evaluates setup in it,
// types keys, and returns the screen once it shows want (or after
// patience).
func (w *world) interactiveShell(shell string, args []string, setup, keys, want string) string {
	w.t.Helper()
	setupFile := filepath.Join(w.t.TempDir(), "setup.sh")
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
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		mu.Lock()
		s := screen.String()
		mu.Unlock()
		if strings.Contains(s, want) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return screen.String()
}

// bash for real: evaluate the script, type a prefix, press Tab.
func TestCompletionBash(t *testing.T) {
	t.Parallel()
	needTool(t, "bash")
	w := newWorld(t)
	script := w.run("completion", "bash")
	check(t, "completion bash: exit", script.code, 0)
	bash, _ := exec.LookPath("bash")
	screen := w.interactiveShell(bash, []string{"--norc", "--noprofile"}, script.stdout, "akiflow-token stat\t", "akiflow-token status")
	if !strings.Contains(screen, "akiflow-token status") {
		t.Errorf("bash did not complete \"stat\" to \"status\"; the screen:\n%s", screen)
	}
}

// fish's complete -C asks the function the script defines.
func TestCompletionFish(t *testing.T) {
	t.Parallel()
	needTool(t, "fish")
	w := newWorld(t)
	script := w.run("completion", "fish")
	check(t, "completion fish: exit", script.code, 0)
	res := w.runProgram(strings.NewReader(script.stdout), nil, "fish", "-n")
	if res.code != 0 {
		t.Errorf("fish -n refuses the script: %s", res.stderr)
	}
	res = w.runProgram(nil, nil, "fish", "-c", script.stdout+"\ncomplete -C 'akiflow-token st'; complete -C 'akiflow-token -o j'")
	check(t, "fish completes", strings.Fields(res.stdout), []string{"status", "json"})
}

// zsh parses the script.
func TestCompletionZsh(t *testing.T) {
	t.Parallel()
	needTool(t, "zsh")
	w := newWorld(t)
	script := w.run("completion", "zsh")
	check(t, "completion zsh: exit", script.code, 0)
	res := w.runProgram(strings.NewReader(script.stdout), nil, "zsh", "-n")
	if res.code != 0 {
		t.Errorf("zsh -n refuses the script: %s", res.stderr)
	}
}
