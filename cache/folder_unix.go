//go:build unix

package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode"

	"github.com/adrg/xdg"
)

// noCacheHomeMessage is ErrNoCacheHome's message.
const noCacheHomeMessage = "cannot find the cache folder: set HOME or XDG_CACHE_HOME to an absolute path (without control characters)"

// cacheHome is the XDG cache home: $XDG_CACHE_HOME when it is an absolute
// path, else adrg/xdg's default under $HOME (~/.cache; ~/Library/Caches on
// macOS), which needs HOME to be an absolute path. A relative
// XDG_CACHE_HOME is ignored, as the XDG spec says.
func cacheHome() (string, error) {
	dir := os.Getenv("XDG_CACHE_HOME")
	if strings.ContainsFunc(dir, unicode.IsControl) || strings.ContainsFunc(os.Getenv("HOME"), unicode.IsControl) {
		return "", ErrNoCacheHome // a line break in a path would forge lines in status
	}
	if filepath.IsAbs(dir) {
		return filepath.Clean(dir), nil
	}
	// adrg/xdg expands "~" and "$HOME" in XDG_CACHE_HOME, and falls back to
	// "/" as the home when HOME is unset: only trust it with a real HOME.
	if !filepath.IsAbs(os.Getenv("HOME")) || !filepath.IsAbs(xdg.CacheHome) {
		return "", ErrNoCacheHome
	}
	return filepath.Clean(xdg.CacheHome), nil
}

// mkdirPrivate makes our folder dir, mode 0700.
func mkdirPrivate(dir string) error { return os.Mkdir(dir, dirMode) }

// removeFix is the command that removes what is at path (found with info,
// which may be nil), for a message.
func removeFix(path string, _ fs.FileInfo) string { return "rm " + shellQuote(path) }

// isLink says info, from Lstat, is a link that ModeSymlink does not show:
// none on Unix.
func isLink(fs.FileInfo) bool { return false }

// homeAccess refuses the cache home, found with info, when another user
// (not root) owns it, or when its group or anyone can write to it without
// the sticky bit.
func homeAccess(home string, info fs.FileInfo) error {
	if uid, ok := fileOwner(info); ok && uid != os.Getuid() && uid != 0 {
		return &InsecureError{Path: home, Problem: fmt.Sprintf("it belongs to another user (uid %d)", uid), Advice: elsewhere}
	}
	if perm := info.Mode().Perm(); perm&0o022 != 0 && info.Mode()&fs.ModeSticky == 0 {
		who, fix := "anyone", "chmod o-w "+shellQuote(home)
		if perm&0o020 != 0 {
			fix = "chmod go-w " + shellQuote(home) // both, or the next run refuses the group's
		}
		if perm&0o002 == 0 {
			who, fix = "its group", "chmod g-w "+shellQuote(home)
		}
		return &InsecureError{Path: home, Problem: fmt.Sprintf("%s can write to it (mode %04o) and it has no sticky bit", who, perm),
			Fix: fix, Advice: fmt.Sprintf("%s, or run: %s", elsewhere, fix)}
	}
	return nil
}

// ownFolderAccess refuses our folder dir, found with info, when it belongs
// to another user; a mode that lets others in is set to 0700
// (makePrivate).
func ownFolderAccess(dir string, info fs.FileInfo) error {
	if uid, ok := fileOwner(info); ok && uid != os.Getuid() {
		return &InsecureError{Path: dir, Problem: fmt.Sprintf("it belongs to another user (uid %d)", uid),
			Fix: fmt.Sprintf("chown -R %d %s", os.Getuid(), shellQuote(dir))}
	}
	if info.Mode().Perm()&0o077 != 0 {
		return makePrivate(dir, info)
	}
	return nil
}

// makePrivate sets the mode of our folder dir, found with info, to 0700,
// through a descriptor of that very folder (never through a symbolic link
// put in its place meanwhile).
func makePrivate(dir string, info fs.FileInfo) error {
	err := func() error {
		f, err := os.OpenFile(dir, os.O_RDONLY|openDirFlags, 0)
		if err != nil {
			return unwrapPathError(err)
		}
		defer f.Close()
		now, err := f.Stat()
		if err != nil {
			return unwrapPathError(err)
		}
		if !os.SameFile(info, now) {
			return errors.New("it changed while being checked")
		}
		return unwrapPathError(f.Chmod(dirMode))
	}()
	if err != nil {
		return &InsecureError{Path: dir,
			Problem: fmt.Sprintf("its mode %04o lets others in, and it could not be changed (%v)", info.Mode().Perm(), err),
			Fix:     "chmod 700 " + shellQuote(dir)}
	}
	return nil
}

// checkPrivate refuses a record, open as f, that belongs to another user or
// that others could read.
func checkPrivate(f *os.File, path string, info fs.FileInfo) error {
	if err := checkOwner(f, path, info); err != nil {
		return err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return &InsecureError{Path: path, Problem: fmt.Sprintf("its mode %04o lets others read it", info.Mode().Perm()),
			Fix: "chmod 600 " + shellQuote(path)}
	}
	return nil
}

// checkOwner refuses a file (open as f, or nil) that belongs to another
// user.
func checkOwner(_ *os.File, path string, info fs.FileInfo) error {
	if uid, ok := fileOwner(info); ok && uid != os.Getuid() {
		return &InsecureError{Path: path, Problem: "it belongs to another user",
			Fix: fmt.Sprintf("chown %d %s", os.Getuid(), shellQuote(path))}
	}
	return nil
}

// shellQuote quotes path for a shell when it needs it, for the fixes that
// messages suggest.
func shellQuote(path string) string {
	plain := func(r rune) bool {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)
	}
	for _, r := range path {
		if !plain(r) {
			return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
		}
	}
	return path
}

// checkSameFileSystem refuses the folder b unless it is on a's file system:
// a file cannot be renamed from one to the other.
func checkSameFileSystem(a, b string) error {
	var sa, sb syscall.Stat_t
	if err := syscall.Stat(a, &sa); err != nil {
		return fmt.Errorf("could not use %s: %w", a, err)
	}
	if err := syscall.Stat(b, &sb); err != nil {
		return fmt.Errorf("could not use %s: %w", b, err)
	}
	if sa.Dev != sb.Dev {
		fix := "rm -r " + shellQuote(b)
		return &InsecureError{Path: b, Problem: "it is on another file system than " + a, Fix: fix,
			Advice: "unmount it, remove it, and run again: " + fix}
	}
	return nil
}
