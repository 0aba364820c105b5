package run

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
)

// Exit statuses of this package's errors, as shells use them and as the
// README documents them.
const (
	ExitUsage     = 80  // a bad --env name, or no command
	ExitCannotRun = 126 // the command is found but cannot be run
	ExitNotFound  = 127 // the command is not found
)

// Error is a failure with the exit status it calls for.
type Error struct {
	Code int
	Err  error
}

// Error is the message, which names the command.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the exit status the failure calls for (a kong.ExitCoder).
func (e *Error) ExitCode() int { return e.Code }

func withCode(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

func usageError(format string, args ...any) error {
	return withCode(ExitUsage, format, args...)
}

// startError is the error for a command named name that could not be
// started (execve or fork/exec failed with err): not found 127, else 126.
func startError(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return withCode(ExitNotFound, "%s: command not found", name)
	}
	return withCode(ExitCannotRun, "%s: cannot run it: %w", name, cause(err))
}

// cause drops the wrapping that repeats the command's name or path
// (exec.Error, fs.PathError), leaving the reason ("permission denied").
func cause(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err
}

// ExitError is what Exec returns where this process cannot be replaced by
// the command (Windows): the command ran as a child and ended with Status,
// successfully or not. It is not a failure to report: the caller exits
// with Status.Code, saying nothing, as it would have if the command had
// replaced it.
type ExitError struct {
	Status Status
}

// Error says how the command ended, should the caller report it anyway.
func (e *ExitError) Error() string {
	return fmt.Sprintf("the command ended with exit status %d", e.Status.Code)
}

// ExitCode is the command's exit status.
func (e *ExitError) ExitCode() int { return e.Status.Code }
