package cache

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode"

	"github.com/adrg/xdg"
	"golang.org/x/sys/windows"
)

// noCacheHomeMessage is ErrNoCacheHome's message.
const noCacheHomeMessage = "cannot find the cache folder: set XDG_CACHE_HOME to an absolute path (without control characters), or LOCALAPPDATA"

// cacheHome is the XDG cache home: $XDG_CACHE_HOME when it is an absolute
// path, else adrg/xdg's default, %LocalAppData%\cache (the known folder,
// else LOCALAPPDATA). HOME means nothing on Windows and is not needed; a
// relative XDG_CACHE_HOME is ignored, as the XDG spec says, and a default
// that is not an absolute path is refused rather than guessed.
func cacheHome() (string, error) {
	dir := os.Getenv("XDG_CACHE_HOME")
	if strings.ContainsFunc(dir, unicode.IsControl) {
		return "", ErrNoCacheHome // a line break in a path would forge lines in status
	}
	if filepath.IsAbs(dir) {
		return filepath.Clean(dir), nil
	}
	if !filepath.IsAbs(xdg.CacheHome) || strings.ContainsFunc(xdg.CacheHome, unicode.IsControl) {
		return "", ErrNoCacheHome
	}
	return filepath.Clean(xdg.CacheHome), nil
}

// mkdirPrivate makes our folder dir, the user's, with a DACL that grants
// nobody else anything and passes to what it will hold.
func mkdirPrivate(dir string) error {
	sa, err := privateSecurity(true)
	if err != nil {
		return err
	}
	p, err := windows.UTF16PtrFromString(longPath(dir))
	if err != nil {
		return err
	}
	if err := windows.CreateDirectory(p, sa); err != nil {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return nil
}

// removeFix is the command that removes what is at path (found with info,
// which may be nil), for a message: rmdir for a folder or a link to one
// (which removes the link, not what it points to), del for anything else;
// through cmd /c, which PowerShell runs as cmd.exe does.
func removeFix(path string, info fs.FileInfo) string {
	if info != nil {
		if a, ok := info.Sys().(*syscall.Win32FileAttributeData); ok && a.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0 {
			return "cmd /c rmdir " + windowsQuote(path)
		}
	}
	return "cmd /c del " + windowsQuote(path)
}

// isLink says info, from Lstat, is a reparse point (a symbolic link, a
// junction, a mount point): never followed into one of our folders.
func isLink(info fs.FileInfo) bool {
	d, ok := info.Sys().(*syscall.Win32FileAttributeData)
	return ok && d.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0
}

// homeAccess refuses the cache home when another user owns it (the user,
// SYSTEM and Administrators may), or when its DACL lets anyone else write
// to it.
func homeAccess(home string, _ fs.FileInfo) error {
	return checkSecurity(nil, home, cacheHomeDir)
}

// ownFolderAccess refuses our folder dir when another user owns it or its
// DACL lets anyone but the user, SYSTEM and Administrators in; the fix is
// an icacls command.
func ownFolderAccess(dir string, _ fs.FileInfo) error {
	return checkSecurity(nil, dir, privateFolder)
}

// checkPrivate refuses a record, open as f, that belongs to another user or
// whose DACL lets anyone but the user, SYSTEM and Administrators in.
func checkPrivate(f *os.File, path string, _ fs.FileInfo) error {
	return checkSecurity(f, path, privateFile)
}

// checkOwner refuses a file (open as f, or nil) that belongs to another
// user.
func checkOwner(f *os.File, path string, _ fs.FileInfo) error {
	return checkSecurity(f, path, ownedFile)
}

// writable would say this user may create and rename files in the folder
// dir: Windows has no access(2), and the folder's DACL is ours
// (ownFolderAccess), so only a read-only volume would stop the rename, and
// that stops the temporary file first.
func writable(string) error { return nil }

// checkSameFileSystem is nil on Windows: a folder mounted from another
// volume is a reparse point, which checkOwnFolder refuses, so two folders
// it accepted, one inside the other, are on one volume.
func checkSameFileSystem(a, b string) error { return nil }
