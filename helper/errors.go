package helper

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/format"
)

// Exit statuses, as documented in the README and in --help.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitLoginNeeded = 3   // a login is needed but nobody can be asked
	ExitUnavailable = 4   // Akiflow unreachable or failing: try again later
	ExitUsage       = 80  // bad flags or environment (kong's own status)
	ExitCannotRun   = 126 // exec: the command cannot be run (as shells say)
	ExitNotFound    = 127 // exec: the command is not found (as shells say)
	ExitInterrupted = 130 // Ctrl-C
)

// Error is an error with the exit status it calls for.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode makes Error a kong.ExitCoder.
func (e *Error) ExitCode() int { return e.Code }

// ExitCode is the exit status for err: its own; ExitUnavailable for a
// failure of Akiflow that may pass; ExitInterrupted for a cancelled
// context; else ExitFailure.
func ExitCode(err error) int {
	var coder interface{ ExitCode() int }
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &coder):
		return coder.ExitCode()
	case akiflow.IsTransient(err):
		return ExitUnavailable
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	return ExitFailure
}

func withCode(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// ErrInterrupted is returned when the person pressed Ctrl-C.
var ErrInterrupted = &Error{Code: ExitInterrupted, Err: errors.New("interrupted")}

// loginNeeded says a login is needed and cannot happen here, and the
// command that logs in to account (shown as typed; "" when none is
// chosen).
func (h *Helper) loginNeeded(why, account string) error {
	return withCode(ExitLoginNeeded, "%s; in a terminal, run: %s", why, h.LoginCommand(account))
}

// LoginCommand is the command that logs in to account ("" for none
// chosen), with this Helper's kind of session.
func (h *Helper) LoginCommand(account string) string {
	cmd := strings.Join(append(append([]string{"akiflow-token"}, h.cfg.CommandFlags...), "login"), " ")
	if h.cfg.OAuth {
		cmd += " --oauth"
	}
	if account != "" {
		cmd += " -e " + format.ShellWord(account)
	}
	return cmd
}

// UsageError is a bad flag or environment value.
func UsageError(format string, args ...any) error {
	return withCode(ExitUsage, format, args...)
}

// IsTimeout says err is Akiflow (or the refresh process) not answering in
// time.
func IsTimeout(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

// timeoutError is a timeout reported in words (by the refresh process).
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }
