package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// maxLeftover bounds what Recover reads of a leftover temporary file, which
// a killed Commit filled with zeros up to its record size (perhaps that of
// another version).
const maxLeftover = 1 << 20

// Recover recovers what a killed Commit of the record name left. A
// process killed after writing the new record to its temporary file and
// before renaming it over the record leaves that file behind, and it may
// hold the only good copy (a refresh the server answered, which spent the
// refresh token the record still holds).
//
// For each leftover temporary file of the record, newest first, Recover
// reads it (without the zeros its reservation left) and, if keep says so,
// puts it in the record's place (atomically, and fsyncs the folder) and
// stops looking; every other leftover of the record is removed. keep sees
// only non-empty contents of at most the record size, and should accept
// only a record that is whole and newer than the one in place. With a keep
// that returns false, Recover just removes the leftovers (for a logout).
//
// Call it while holding the record's lock, and only for records that are
// replaced only under their lock: a Prepare under way in another process
// has a temporary file too. A leftover that could not be moved is kept
// for the next time, and the error returned.
func (s *Store) Recover(name string, keep func(data []byte) bool) (moved bool, err error) {
	partial, err := s.partialFolder(false)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	dir := filepath.Dir(partial)
	base := escape(name) + ext
	// Listed at every Recover: partialDir holds only the saves under way
	// or killed, and a long-running process (serve) must see a save that
	// another process's refresh child left since its last look.
	listed, err := leftovers(partial)
	if err != nil {
		return false, err
	}
	paths := listed[base]
	if len(paths) == 0 {
		return false, nil
	}
	type leftover struct {
		path  string
		f     *os.File // nil: not a regular file of ours
		mtime time.Time
	}
	// A leftover that is not a regular file of ours, mode 0600, is not one
	// that Prepare made: it is removed unread. One that could not be opened
	// for another reason is kept for the next time.
	var found []leftover
	var errs []error
	for _, p := range paths {
		f, info, err := openRegular(p, os.O_RDWR, 0)
		var nr *notRegularError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case errors.As(err, &nr), errors.Is(err, fs.ErrPermission):
			found = append(found, leftover{path: p}) // not one of ours: removed
		case err != nil:
			errs = append(errs, fmt.Errorf("could not recover %s: %w", p, err))
			continue // kept for the next time
		case checkPrivate(f, p, info) != nil:
			f.Close()
			found = append(found, leftover{path: p})
		case !heldNow(f):
			f.Close() // an open Pending's, under way in another process: not a leftover
		default:
			found = append(found, leftover{path: p, f: f, mtime: info.ModTime()})
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].mtime.After(found[j].mtime) })

	for _, l := range found {
		if l.f != nil && !moved {
			ok, err := salvage(l.f, filepath.Join(dir, base), s.recordSize, keep)
			l.f.Close()
			if err != nil {
				errs = append(errs, fmt.Errorf("could not recover %s: %w", l.path, err))
				continue // kept for the next time
			}
			if moved = ok; moved {
				continue // it is the record now
			}
		} else if l.f != nil {
			l.f.Close()
		}
		if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("could not remove %s: %w", l.path, unwrapPathError(err)))
		}
	}
	return moved, errors.Join(errs...)
}

// heldNow takes the lock of the leftover f, which an open Pending holds:
// false when one does. Closing f lets go of it.
func heldNow(f *os.File) bool {
	held, err := holdFile(f)
	return held || err != nil // a lock that cannot be tried says nothing of a Pending
}

// salvage puts the leftover f in the place of the record at path if keep
// accepts what it holds: cut to its length (the reserved zeros dropped),
// fsynced, renamed, and the folder fsynced.
func salvage(f *os.File, path string, recordSize int, keep func([]byte) bool) (bool, error) {
	info, err := f.Stat()
	if err != nil {
		return false, unwrapPathError(err)
	}
	data, err := readAtMost(f, min(info.Size(), maxLeftover), maxLeftover)
	var tooLarge errTooLarge
	if errors.As(err, &tooLarge) {
		return false, nil // not a record of ours: removed
	}
	if err != nil {
		return false, err
	}
	data = trimPadding(data)
	if len(data) == 0 || len(data) > recordSize || !keep(data) {
		return false, nil
	}
	if int64(len(data)) != info.Size() {
		if err := f.Truncate(int64(len(data))); err != nil {
			return false, unwrapPathError(err)
		}
	}
	if err := f.Sync(); err != nil {
		return false, unwrapPathError(err)
	}
	if err := replaceFile(f.Name(), path); err != nil {
		return false, unwrapPathError(err)
	}
	syncDir(filepath.Dir(path))
	return true, nil
}

// leftovers lists the temporary files in dir (a partialDir), by the file
// name of their record: renameio names them "." + the record's file name +
// digits.
func leftovers(dir string) (map[string][]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("could not list %s: %w", dir, unwrapPathError(err))
	}
	found := map[string][]string{}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), ".")
		if !ok || e.IsDir() {
			continue // never ours: left alone, and not warned about at every refresh
		}
		i := strings.LastIndex(name, ext)
		if i <= 0 {
			continue
		}
		base, digits := name[:i+len(ext)], name[i+len(ext):]
		if digits != "" && strings.Trim(digits, "0123456789") == "" {
			found[base] = append(found[base], filepath.Join(dir, e.Name()))
		}
	}
	return found, nil
}
