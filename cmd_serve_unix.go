//go:build !windows

package main

import (
	"path/filepath"

	"github.com/google/renameio/v2"
)

// replaceFile replaces path, atomically, with a 0600 file holding data: a
// symbolic link there is replaced, not followed, and the temporary file is
// made beside it.
func replaceFile(path string, data []byte) error {
	return renameio.WriteFile(path, data, 0o600, renameio.WithStaticPermissions(0o600), renameio.WithTempDir(filepath.Dir(path)))
}
