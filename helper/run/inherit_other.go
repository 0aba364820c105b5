//go:build !unix

package run

import "os"

// KeepsFiles says whether Supervise passes its keep files on: not here.
const KeepsFiles = false

// inheritable does nothing here: no file is passed on by number.
func inheritable(files []*os.File) (restore func()) { return func() {} }
