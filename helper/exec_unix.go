//go:build unix

package helper

import "syscall"

// execve replaces this process with path: the command gets our stdin,
// stdout, stderr and signals, and its exit status is ours.
func execve(path string, argv, env []string) error {
	return syscall.Exec(path, argv, env)
}
