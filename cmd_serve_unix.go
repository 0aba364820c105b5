//go:build !windows

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// writePrivateFile replaces path, atomically, with a 0600 file holding
// data: a symbolic link there is replaced, not followed, and the temporary
// file is made beside it.
func writePrivateFile(path string, data []byte) error {
	err := renameio.WriteFile(path, data, 0o600, renameio.WithStaticPermissions(0o600), renameio.WithTempDir(filepath.Dir(path)))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("could not write the URLs to %s: %w", path, err)
	}
	return nil
}
