package run

import (
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// exitCode is the status err calls for, as main maps it.
func exitCode(err error) int {
	var coder interface{ ExitCode() int }
	if errors.As(err, &coder) {
		return coder.ExitCode()
	}
	return -1
}

func TestCheckEnvName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want string // "" for accepted, else a part of the message
	}{
		{"AKIFLOW_TOKEN", ""},
		{"MY_TOKEN", ""},
		{"_x9", ""},
		{"token", ""},
		{"AKIFLOW_TOKEN_URL", ""}, // exec --serve refuses it, not this
		{"", "is not a variable name"},
		{"1BAD", "is not a variable name"},
		{"A-B", "is not a variable name"},
		{"A=B", "is not a variable name"},
		{"A B", "is not a variable name"},
		{"TOKÉN", "is not a variable name"},
		{"PATH", "would replace a variable the command needs"},
		{"path", "would replace a variable the command needs"},
		{"HOME", "would replace a variable the command needs"},
		{"NODE_OPTIONS", "would replace a variable the command needs"},
		{"LD_PRELOAD", "would replace a variable the command needs"},
		{"ld_library_path", "would replace a variable the command needs"},
		{"DYLD_INSERT_LIBRARIES", "would replace a variable the command needs"},
		{"LC_ALL", "would replace a variable the command needs"},
	} {
		err := CheckEnvName(tc.name)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckEnvName(%q) = %v, want nil", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("CheckEnvName(%q) = nil, want an error saying %q", tc.name, tc.want)
		case tc.want != "":
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), DefaultTokenEnv) {
				t.Errorf("CheckEnvName(%q) = %q, want it to say %q and suggest %s", tc.name, err, tc.want, DefaultTokenEnv)
			}
			if got := exitCode(err); got != ExitUsage {
				t.Errorf("CheckEnvName(%q): exit status %d, want %d", tc.name, got, ExitUsage)
			}
		}
	}
}

func TestLookCommandNoCommand(t *testing.T) {
	t.Parallel()
	for _, argv := range [][]string{nil, {}} {
		_, err := LookCommand(argv)
		if got := exitCode(err); got != ExitUsage || !strings.Contains(err.Error(), "needs a command") {
			t.Errorf("LookCommand(%q) = %v (exit status %d), want a usage error", argv, err, got)
		}
	}
	if err := Exec("/bin/true", nil, nil); exitCode(err) != ExitUsage {
		t.Errorf("Exec with no argv = %v, want a usage error", err)
	}
	if _, err := Supervise("/bin/true", nil, nil); exitCode(err) != ExitUsage {
		t.Errorf("Supervise with no argv = %v, want a usage error", err)
	}
}

func TestLookCommandNotFound(t *testing.T) {
	t.Parallel()
	_, err := LookCommand([]string{"no-such-command-anywhere-akiflow"})
	if got := exitCode(err); got != ExitNotFound || err.Error() != "no-such-command-anywhere-akiflow: command not found" {
		t.Errorf("LookCommand of a missing command = %v (exit status %d), want %d, command not found", err, got, ExitNotFound)
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	environ := []string{"A=1", "AKIFLOW_TOKEN=old", "B=2=3", "AKIFLOW_TOKEN=older", "AKIFLOW_TOKEN_URL=kept", "C=", "AKIFLOW_TOKEN"}
	got := Env(environ, map[string]string{"Z": "last", "AKIFLOW_TOKEN": "new", "NEW": "x=y"})
	want := []string{"A=1", "B=2=3", "AKIFLOW_TOKEN_URL=kept", "C=", "AKIFLOW_TOKEN=new", "NEW=x=y", "Z=last"}
	if !slices.Equal(got, want) {
		t.Errorf("Env =\n%q\nwant\n%q", got, want)
	}
	if !slices.Equal(environ[:2], []string{"A=1", "AKIFLOW_TOKEN=old"}) {
		t.Errorf("Env changed its argument: %q", environ)
	}
	if got := Env(environ, nil); !slices.Equal(got, environ) {
		t.Errorf("Env with nothing to set = %q, want %q", got, environ)
	}
	if got := Env(nil, map[string]string{"A": "1"}); !slices.Equal(got, []string{"A=1"}) {
		t.Errorf("Env of an empty environment = %q", got)
	}
}

// recorder is a process that records the signals sent to it.
type recorder struct{ got []os.Signal }

func (r *recorder) Signal(sig os.Signal) error {
	r.got = append(r.got, sig)
	return nil
}

// forward passes SIGTERM and SIGHUP on, and drops SIGINT and SIGQUIT (a
// terminal sends those to the child itself).
func TestForward(t *testing.T) {
	t.Parallel()
	signals := make(chan os.Signal) // unbuffered: each send is received
	done := make(chan struct{})
	ended := make(chan struct{})
	var p recorder
	go func() {
		forward(signals, &p, done)
		close(ended)
	}()
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGTERM} {
		signals <- sig
	}
	close(done)
	<-ended
	if want := []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGTERM}; !slices.Equal(p.got, want) {
		t.Errorf("signals passed on: %v, want %v", p.got, want)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	err := startError("prog", &os.PathError{Op: "fork/exec", Path: "/x/prog", Err: syscall.EACCES})
	if exitCode(err) != ExitCannotRun || err.Error() != "prog: cannot run it: permission denied" || !errors.Is(err, syscall.EACCES) {
		t.Errorf("startError(EACCES) = %v (exit status %d)", err, exitCode(err))
	}
	err = startError("prog", syscall.ENOENT)
	if exitCode(err) != ExitNotFound || err.Error() != "prog: command not found" {
		t.Errorf("startError(ENOENT) = %v (exit status %d)", err, exitCode(err))
	}
	ee := &ExitError{Status: Status{Code: 3}}
	if exitCode(ee) != 3 {
		t.Errorf("ExitError's ExitCode = %d, want 3", exitCode(ee))
	}
}
