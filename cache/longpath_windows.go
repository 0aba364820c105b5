package cache

import (
	"path/filepath"
	"strings"
)

// longPath is path as the Windows calls made here (CreateFile,
// CreateDirectory, MoveFileEx, GetNamedSecurityInfo) take it when it is
// longer than MAX_PATH allows: \\?\ before an absolute path, \\?\UNC\ for a
// share, as package os does for its own calls. A record's path is the
// cache home, two folders, and a name of up to 255 bytes (temporary files
// in .partial: one folder more).
func longPath(path string) string {
	const limit = 248 // CreateDirectory's: MAX_PATH less an 8.3 name
	if len(path) < limit || !filepath.IsAbs(path) || strings.HasPrefix(path, `\\?\`) {
		return path
	}
	path = filepath.Clean(path)
	if rest, ok := strings.CutPrefix(path, `\\`); ok {
		return `\\?\UNC\` + rest
	}
	return `\\?\` + path
}
