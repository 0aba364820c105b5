package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNoCacheHome is returned by every method of a store that touches the
// disk when there is no absolute cache folder to use (cacheHome). Its
// Unsafe method returns true: the store refuses to guess a folder (adrg/xdg
// would take "/" for a missing HOME, so /.cache, and a relative path for a
// relative one).
var ErrNoCacheHome error = noCacheHome{}

type noCacheHome struct{}

func (noCacheHome) Error() string { return noCacheHomeMessage }

// Unsafe says the store refuses to work, rather than finds no record.
func (noCacheHome) Unsafe() bool { return true }

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
	// A rename cannot cross file systems: a save whose temporary file is on
	// another (a mount over partialDir) would fail after the refresh.
	if err := checkSameFileSystem(dir, partial); err != nil {
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
// may write to it (homeAccess): then they could rename our akiflow-token
// folder away, or put their own there. A symbolic link to it is followed.
// Missing, it is created with create.
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
	if !info.IsDir() {
		return &InsecureError{Path: home, Problem: "it is not a folder", Advice: elsewhere}
	}
	return homeAccess(home, info)
}

// elsewhere is the advice for a cache home that is refused.
const elsewhere = "set XDG_CACHE_HOME to a folder of your own"

// checkOwnFolder checks one of our folders (akiflow-token, and a group's),
// as ssh checks ~/.ssh: it must be a real folder (not a symbolic link) of
// this user's, that nobody else may enter (ownFolderAccess). Missing, it
// is created with create (mkdirPrivate).
func checkOwnFolder(dir string, create bool) error {
	info, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := mkdirPrivate(dir); err != nil && !errors.Is(err, fs.ErrExist) {
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
		fix := removeFix(dir, info)
		return &InsecureError{Path: dir, Problem: problem, Fix: fix, Advice: "remove it, and run again: " + fix}
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0 || isLink(info):
		return remove("it is a symbolic link")
	case !info.IsDir():
		return remove("it is not a folder")
	}
	return ownFolderAccess(dir, info)
}
