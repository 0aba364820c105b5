//go:build !unix

package storetest

import (
	"errors"
	"os"
)

// inherit would return another handle of f's open file, as a child process
// inherits it: not done here.
func inherit(f *os.File) (*os.File, error) { return nil, errors.ErrUnsupported }
