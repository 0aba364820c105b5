//go:build !windows

package run

import "os"

// tie does nothing here: tie_windows.go says what Windows does instead.
func tie(name string, p *os.Process) (untie func(leftoversDie bool), err error) {
	return func(bool) {}, nil
}
