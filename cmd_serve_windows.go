package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// writePrivateFile replaces path, atomically, with a file holding data,
// made beside it and renamed over it (os.Rename is MoveFileEx with
// MOVEFILE_REPLACE_EXISTING). Windows has no mode bits: the file takes the
// folder's inherited access, which in the user's profile is the user's.
func writePrivateFile(path string, data []byte) error {
	err := func() error {
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name()) // a no-op once renamed
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(f.Name(), path)
	}()
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("could not write the URLs to %s: %w", path, err)
	}
	return nil
}
