//go:build !unix

package run

import "os"

// inheritable does nothing here: no file is passed on by number.
func inheritable(files []*os.File) (restore func()) { return func() {} }
