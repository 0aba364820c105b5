//go:build unix

package cache

import (
	"os"

	"github.com/google/renameio/v2"
)

// pendingFile is the temporary file that replaces a record: renameio's
// (fsync, close, rename over the record in CloseAtomicallyReplace).
type pendingFile = renameio.PendingFile

// newPendingFile makes the temporary file, mode 0600, that will replace the
// record at path, in the folder partial: "." + the record's file name +
// digits.
func newPendingFile(path, partial string) (*pendingFile, error) {
	return renameio.NewPendingFile(path, renameio.WithTempDir(partial), renameio.WithStaticPermissions(fileMode))
}

// openFile opens path as openRegular does, without following a symbolic
// link, blocking on a FIFO or taking a terminal (openFlags); perm is the
// mode of a file it creates.
func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag|openFlags, perm)
}

// replaceFile renames the file from over the file to, atomically.
func replaceFile(from, to string) error { return os.Rename(from, to) }
