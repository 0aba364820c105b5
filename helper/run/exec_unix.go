//go:build unix

package run

import "syscall"

// replace is execve(2): the command takes over this process.
func replace(path string, argv, env []string) error {
	return startError(argv[0], syscall.Exec(path, argv, env))
}
