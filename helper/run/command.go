package run

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
)

// DefaultTokenEnv is the variable exec puts the token in.
const DefaultTokenEnv = "AKIFLOW_TOKEN"

// CheckEnvName accepts a variable name that cannot break the command:
// letters, digits and underscores, not starting with a digit, and none
// that the command or the system needs (PATH, HOME, the dynamic loader's).
// Its error is a usage error (ExitUsage).
func CheckEnvName(name string) error {
	switch {
	case name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r == '_' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9')
	}) >= 0 || '0' <= name[0] && name[0] <= '9':
		return usageError("--env %q is not a variable name (letters, digits and _, such as %s)", name, DefaultTokenEnv)
	case reservedEnv(name):
		return usageError("--env %s would replace a variable the command needs; choose another name, such as %s", name, DefaultTokenEnv)
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

// LookCommand finds argv's program as a shell would, so that a command
// that cannot run is reported before any token is fetched: not found is
// ExitNotFound, found but not runnable ExitCannotRun, no command at all
// ExitUsage. A program found through "." (or another relative directory)
// in PATH is accepted, as a shell runs it; its path is then relative.
func LookCommand(argv []string) (string, error) {
	if len(argv) == 0 {
		return "", usageError("exec needs a command: akiflow-token exec -- CMD [ARGS...]")
	}
	path, err := exec.LookPath(argv[0])
	if errors.Is(err, exec.ErrDot) {
		err = nil
	}
	switch {
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
		return "", withCode(ExitNotFound, "%s: command not found", argv[0])
	case err != nil:
		return "", withCode(ExitCannotRun, "%s: cannot run it: %w", argv[0], cause(err))
	}
	return path, nil
}

// Env is environ (as os.Environ gives it) without the variables that set
// names, followed by set's variables in the order of their names: the
// same arguments always give the same environment. On Windows, where
// variable names ignore case, a variable named in another case is
// replaced too.
func Env(environ []string, set map[string]string) []string {
	names := make([]string, 0, len(set))
	replaced := make(map[string]bool, len(set))
	for name := range set {
		names = append(names, name)
		replaced[envKey(name)] = true
	}
	slices.Sort(names)
	out := make([]string, 0, len(environ)+len(set))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !replaced[envKey(name)] {
			out = append(out, kv)
		}
	}
	for _, name := range names {
		out = append(out, name+"="+set[name])
	}
	return out
}

// envKey is the form of a variable's name under which two names are the
// same variable.
func envKey(name string) string {
	if runtime.GOOS == "windows" {
		return strings.ToUpper(name)
	}
	return name
}

// Exec runs the program at path (as LookCommand found it) as argv, with
// the environment env (nil: this process's), in place of this process: on
// Unix, execve(2) replaces it, so the command gets our stdin, stdout,
// stderr, signals and parent, its exit status is ours, and Exec returns
// only on failure: ExitNotFound or ExitCannotRun. Where a process cannot
// be replaced (Windows), the command runs as Supervise runs it, and Exec
// returns, once it has ended, an *ExitError with its Status: the caller
// exits with it, silently.
func Exec(path string, argv, env []string) error {
	if len(argv) == 0 {
		return usageError("exec needs a command: akiflow-token exec -- CMD [ARGS...]")
	}
	if env == nil {
		env = os.Environ()
	}
	return replace(path, argv, env)
}
