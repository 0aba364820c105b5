package helper

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// DefaultTokenEnv is the variable exec puts the token in.
const DefaultTokenEnv = "AKIFLOW_TOKEN"

// CheckEnvName accepts a shell variable name.
func CheckEnvName(name string) error {
	if name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r == '_' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9')
	}) >= 0 || '0' <= name[0] && name[0] <= '9' {
		return UsageError("--env %q is not a variable name", name)
	}
	return nil
}

// Exec replaces this process with argv, with s's access token in the
// environment variable envName: the command gets our stdin, stdout, stderr
// and signals, and its exit status is ours. It returns only on failure.
func Exec(s *Session, envName string, argv []string) error {
	if len(argv) == 0 {
		return UsageError("exec needs a command: akiflow-token exec -- CMD [ARGS...]")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("could not run %s: %w", argv[0], unwrapExecError(err))
	}
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envName+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, envName+"="+s.AccessToken)
	err = execve(path, argv, env)
	return fmt.Errorf("could not run %s: %w", argv[0], err)
}

func unwrapExecError(err error) error {
	if ee, ok := err.(*exec.Error); ok {
		return ee.Err
	}
	return err
}
