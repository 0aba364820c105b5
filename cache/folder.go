package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/adrg/xdg"
)

// ErrNoCacheHome is returned by every method of a store that touches the
// disk when neither XDG_CACHE_HOME nor HOME names an absolute folder. Its
// Unsafe method returns true: the store refuses to guess a folder (adrg/xdg
// would take "/" for a missing HOME, so /.cache, and a relative path for a
// relative one).
var ErrNoCacheHome error = noCacheHome{}

type noCacheHome struct{}

func (noCacheHome) Error() string {
	return "cannot find the cache folder: set HOME or XDG_CACHE_HOME to an absolute path (without control characters)"
}

// Unsafe says the store refuses to work, rather than finds no record.
func (noCacheHome) Unsafe() bool { return true }

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

// folder returns the store's folder once it and the folders above it have
// been found fit to use (checkCacheHome, checkOwnFolder); with create, it
// makes the missing ones (0700) first. Without create, a missing folder is
// an error that matches fs.ErrNotExist: there is no record either. The
// checks run once per Store: on a cache hit they cost a stat of the cache
// home and an lstat of each of our two folders.
func (s *Store) folder(create bool) (string, error) {
	if s.homeErr != nil {
		return "", s.homeErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checked {
		return s.dir, nil
	}
	if err := checkCacheHome(s.home, create); err != nil {
		return "", err
	}
	for _, dir := range []string{filepath.Join(s.home, appDir), s.dir} {
		if err := checkOwnFolder(dir, create); err != nil {
			return "", err
		}
	}
	s.checked = true
	return s.dir, nil
}

// partialFolder returns the store's partialDir once it is found fit to use
// as our folders are (checkOwnFolder); with create, it makes it (and the
// store's folder) first. Without create, a missing one is an error that
// matches fs.ErrNotExist: there is no leftover either.
func (s *Store) partialFolder(create bool) (string, error) {
	dir, err := s.folder(create)
	if err != nil {
		return "", err
	}
	partial := filepath.Join(dir, partialDir)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.partial {
		return partial, nil
	}
	if err := checkOwnFolder(partial, create); err != nil {
		return "", err
	}
	s.partial = true
	return partial, nil
}

// recheck forgets that the folders were checked: one was found missing
// since.
func (s *Store) recheck() {
	s.mu.Lock()
	s.checked, s.partial = false, false
	s.mu.Unlock()
}

// checkCacheHome checks the XDG cache home, which is not ours to change:
// it is refused only when another user (not root) owns it, or when others
// (its group, or anyone) may write to it without the sticky bit: then they
// could rename our akiflow-token folder away, or put their own there. A
// symbolic link to it is followed. Missing, it is created with create.
func checkCacheHome(home string, create bool) error {
	info, err := os.Stat(home)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.MkdirAll(home, dirMode); err != nil {
			return fmt.Errorf("could not create the cache folder %s: %w", home, unwrapPathError(err))
		}
		info, err = os.Stat(home)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return err
	case err != nil:
		return fmt.Errorf("could not use the cache folder %s: %w", home, unwrapPathError(err))
	}
	const elsewhere = "set XDG_CACHE_HOME to a folder of your own"
	if !info.IsDir() {
		return &InsecureError{Path: home, Problem: "it is not a folder", Advice: elsewhere}
	}
	if uid, ok := fileOwner(info); ok && uid != os.Getuid() && uid != 0 {
		return &InsecureError{Path: home, Problem: fmt.Sprintf("it belongs to another user (uid %d)", uid), Advice: elsewhere}
	}
	if perm := info.Mode().Perm(); perm&0o022 != 0 && info.Mode()&fs.ModeSticky == 0 {
		who, fix := "anyone", "chmod o-w "+shellQuote(home)
		if perm&0o002 == 0 {
			who, fix = "its group", "chmod g-w "+shellQuote(home)
		}
		return &InsecureError{Path: home, Problem: fmt.Sprintf("%s can write to it (mode %04o) and it has no sticky bit", who, perm),
			Fix: fix, Advice: fmt.Sprintf("run %q, or %s", fix, elsewhere)}
	}
	return nil
}

// checkOwnFolder checks one of our folders (akiflow-token, and a group's),
// as ssh checks ~/.ssh: it must be a real folder (not a symbolic link) of
// this user's, that nobody else may enter. A mode that lets others in is
// set to 0700; anything else is refused, with the fix. Missing, it is
// created with create.
func checkOwnFolder(dir string, create bool) error {
	info, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("could not create the cache folder %s: %w", dir, unwrapPathError(err))
		}
		info, err = os.Lstat(dir)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return err
	case err != nil:
		return fmt.Errorf("could not use the cache folder %s: %w", dir, unwrapPathError(err))
	}
	remove := func(problem string) error {
		fix := "rm " + shellQuote(dir)
		return &InsecureError{Path: dir, Problem: problem, Fix: fix, Advice: fmt.Sprintf("remove it (%s) and run again", fix)}
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		return remove("it is a symbolic link")
	case !info.IsDir():
		return remove("it is not a folder")
	}
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
