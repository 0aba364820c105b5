//go:build unix

package helper

import (
	"io"
	"os"
)

// OpenTerminal opens the controlling terminal, /dev/tty, to ask the person
// on: prompts never touch stdin or stdout, which belong to $(...), git or
// kubectl. It fails when the process has none (a cron job, a CI run, a
// setsid child).
func OpenTerminal() (io.ReadWriteCloser, error) {
	return os.OpenFile("/dev/tty", os.O_RDWR, 0)
}
