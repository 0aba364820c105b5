//go:build unix

// The command-line contract as testscript scripts (testdata/script/*.txtar):
// what akiflow-token prints, on which stream, with which exit status: usage
// errors, every output format, the git credential protocol, exec,
// exec-credential, status, logout, completion, bad cache files and
// folders, what exec --serve and serve refuse. Each script runs the release
// build of the real binary (TestMain's, with git-credential-akiflow beside
// it) with a cached session it writes itself, a hermetic HOME, and an auth
// host where nothing listens, so that no script can reach a network. Run
// one with go test -run TestScripts/NAME; add -testwork to keep its $WORK.

package main_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptBaseURL is the auth host of every script: nothing listens there.
// Its cache folder is $SESSIONS.
const scriptBaseURL = "http://127.0.0.1:1"

func TestScripts(t *testing.T) {
	t.Parallel()
	bin := filepath.Dir(binary) // akiflow-token and git-credential-akiflow
	// testscript runs commands without starting a new session: when go test
	// itself has a controlling terminal (a developer's shell), a script that
	// reached a login by mistake would prompt on it. Never let it: it fails
	// with exit 3 instead. Scripts that expect a login to be needed set
	// AKIFLOW_NON_INTERACTIVE=1 themselves, so they behave the same with or
	// without a terminal.
	ttyPresent := hasControllingTerminal()

	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		// testscript starts from an almost empty environment: none of the
		// developer's AKIFLOW_*, KUBERNETES_EXEC_INFO, GIT_* or XDG_*
		// variables reaches a script.
		Setup: func(env *testscript.Env) error {
			home := filepath.Join(env.WorkDir, "home")
			if err := os.Mkdir(home, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("HOME", home)
			env.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
			env.Setenv("XDG_DATA_HOME", filepath.Join(home, ".local", "share"))
			env.Setenv("XDG_STATE_HOME", filepath.Join(home, ".local", "state"))
			env.Setenv("AKIFLOW_BASE_URL", scriptBaseURL)
			// Where the sessions of scriptBaseURL live (cache/escape.go: ":" is %3A).
			env.Setenv("SESSIONS", filepath.Join(home, ".cache", "akiflow-token", "127.0.0.1%3A1"))
			if ttyPresent {
				env.Setenv("AKIFLOW_NON_INTERACTIVE", "1")
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitcode,
		},
		RequireUniqueNames: true,
	})
}

// cmdExitcode is "exitcode N PROGRAM [ARGS...]": it runs PROGRAM as exec
// does (with the stdin of a preceding stdin command; stdout and stderr are
// then checked as after exec) and fails unless PROGRAM exits with status N.
// Plain exec only tells zero from non-zero.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil || want < 0 || want > 255 {
		ts.Fatalf("exitcode: %q is not an exit status", args[0])
	}
	got := 0
	var exit *exec.ExitError
	switch err := ts.Exec(args[1], args[2:]...); {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		got = exit.ExitCode()
	default:
		ts.Fatalf("%s: %v", args[1], err)
	}
	ts.Logf("[exit status %d]", got)
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// hasControllingTerminal says this process can open /dev/tty, as
// akiflow-token does to prompt.
func hasControllingTerminal() bool {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
