package main

import (
	"os"
	"path/filepath"
)

// replaceFile replaces path, atomically, with a file holding data, made
// beside it and renamed over it (os.Rename is MoveFileEx with
// MOVEFILE_REPLACE_EXISTING). Windows has no mode bits: the file takes the
// folder's inherited access, which in the user's profile is the user's.
func replaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
