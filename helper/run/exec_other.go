//go:build !unix

package run

// replace runs the command as a child: this system cannot replace a
// process. Its status comes back as an *ExitError, for the caller to exit
// with.
func replace(path string, argv, env []string) error {
	st, err := supervise(path, argv, env, nil, false)
	if err != nil {
		return err
	}
	return &ExitError{Status: st}
}
