//go:build unix

package helper

import "os"

// openTerminal opens the controlling terminal, /dev/tty; it fails when the
// process has none (a cron job, a CI run, a setsid child).
func openTerminal() (*terminal, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return newTerminal(f), nil
}
