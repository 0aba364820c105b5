package helper

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strings"
)

// DefaultTokenEnv is the variable exec puts the token in.
const DefaultTokenEnv = "AKIFLOW_TOKEN"

// CheckEnvName accepts a variable name that cannot break the command:
// letters, digits and underscores, not starting with a digit, and none
// that the command or the system needs (PATH, HOME, the dynamic loader's).
func CheckEnvName(name string) error {
	switch {
	case name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r == '_' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9')
	}) >= 0 || '0' <= name[0] && name[0] <= '9':
		return UsageError("--env %q is not a variable name (letters, digits and _, such as %s)", name, DefaultTokenEnv)
	case reservedEnv(name):
		return UsageError("--env %s would replace a variable the command needs; choose another name, such as %s", name, DefaultTokenEnv)
	}
	return nil
}

// reservedEnv names variables that must not be replaced by a token.
func reservedEnv(name string) bool {
	upper := strings.ToUpper(name)
	switch upper {
	case "PATH", "HOME", "SHELL", "USER", "LOGNAME", "PWD", "TMPDIR", "IFS", "ENV", "BASH_ENV", "TERM", "LANG",
		"NODE_OPTIONS", "NODE_PATH", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PERL5LIB", "PERL5OPT",
		"RUBYOPT", "RUBYLIB", "GCONV_PATH", "JAVA_TOOL_OPTIONS", "GIT_DIR", "SSL_CERT_FILE", "SSL_CERT_DIR":
		return true
	}
	return strings.HasPrefix(upper, "LD_") || strings.HasPrefix(upper, "DYLD_") || strings.HasPrefix(upper, "LC_")
}

// LookCommand finds argv's program, as a shell would, before any token is
// fetched: not found exits 127, not runnable 126, as shells do.
func LookCommand(argv []string) (string, error) {
	if len(argv) == 0 {
		return "", UsageError("exec needs a command: akiflow-token exec -- CMD [ARGS...]")
	}
	path, err := exec.LookPath(argv[0])
	if errors.Is(err, exec.ErrDot) {
		err = nil // found through "." in PATH: a shell runs it, and so do we
	}
	switch {
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
		return "", withCode(ExitNotFound, "%s: command not found", argv[0])
	case err != nil:
		return "", withCode(ExitCannotRun, "%s: cannot run it: %v", argv[0], unwrapExecError(err))
	}
	return path, nil
}

// Exec replaces this process with the program at path, run as argv, with
// s's access token in the environment variable envName: the command gets
// our stdin, stdout, stderr and signals, and its exit status is ours. It
// returns only on failure.
func Exec(s *Session, envName, path string, argv []string) error {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envName+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, envName+"="+s.AccessToken)
	err := execve(path, argv, env)
	if errors.Is(err, fs.ErrNotExist) {
		return withCode(ExitNotFound, "%s: command not found", argv[0])
	}
	return withCode(ExitCannotRun, "%s: cannot run it: %v", argv[0], err)
}

func unwrapExecError(err error) error {
	if ee, ok := err.(*exec.Error); ok {
		return ee.Err
	}
	return err
}
