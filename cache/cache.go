// Package cache keeps akiflow-token's records on disk, under the XDG cache
// folder: small files that only their owner may read, replaced atomically (a
// reader sees the old file or the new one, never half of one), each guarded by
// a lock file of its own. It knows nothing of tokens, HTTP or Akiflow.
package cache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/adrg/xdg"
	"github.com/google/renameio/v2"
)

// appDir is the folder under the XDG cache home that holds every record.
const appDir = "akiflow-token"

// maxRecordSize bounds what Read accepts: records are a few kilobytes.
const maxRecordSize = 64 << 10

const (
	dirMode  = 0o700
	fileMode = 0o600
	ext      = ".json"
)

// ErrNotFound is returned by Read when a record does not exist. It matches
// fs.ErrNotExist.
var ErrNotFound error = notFound{}

type notFound struct{}

func (notFound) Error() string        { return "no such record" }
func (notFound) Is(target error) bool { return target == fs.ErrNotExist }

// InsecureError is returned by Read for a file that others could read or
// that belongs to another user. Fix says the command that mends it.
type InsecureError struct {
	Path, Problem, Fix string
}

func (e *InsecureError) Error() string {
	return fmt.Sprintf("refusing to use %s: %s; run %q", e.Path, e.Problem, e.Fix)
}

// Unsafe says the store refuses to use the file, rather than failing to
// read it: it must not be overwritten either.
func (e *InsecureError) Unsafe() bool { return true }

// Store is one folder of records, such as the sessions of one Akiflow host.
// Its methods are safe to call from several processes at once.
type Store struct {
	rel string // the folder, relative to the XDG cache home
}

// Open returns the store for group (for example a host name). Nothing is
// touched on disk until a record is written or locked.
func Open(group string) *Store {
	return &Store{rel: filepath.Join(appDir, escape(group))}
}

// Dir is the store's folder.
func (s *Store) Dir() string { return filepath.Join(xdg.CacheHome, s.rel) }

// Path is the file that holds the record name.
func (s *Store) Path(name string) string { return filepath.Join(s.Dir(), escape(name)+ext) }

// Read returns the record name, or ErrNotFound. A record that is not a
// regular file, is too large, or is open to other users is an error.
func (s *Store) Read(name string) ([]byte, error) {
	path := s.Path(name)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("could not open %s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("could not read %s: %w", path, unwrapPathError(err))
	}
	if err := checkPrivate(path, info); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("could not read %s: %w", path, unwrapPathError(err))
	}
	if len(data) > maxRecordSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxRecordSize)
	}
	return data, nil
}

func checkPrivate(path string, info fs.FileInfo) error {
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if err := checkOwner(path, info); err != nil {
		return err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return &InsecureError{Path: path, Problem: fmt.Sprintf("its mode %04o lets others read it", info.Mode().Perm()),
			Fix: "chmod 600 " + path}
	}
	return nil
}

// Write replaces the record name with data, atomically.
func (s *Store) Write(name string, data []byte) error {
	return s.Replace(name, func() ([]byte, error) { return data, nil })
}

// Replace replaces the record name, atomically, with what content returns.
// The temporary file that will hold it is created first: when it cannot
// be (a read-only or full folder), content is never called, so work whose
// result must not be lost is not done. When content fails, the record is
// left as it was.
func (s *Store) Replace(name string, content func() ([]byte, error)) error {
	path, err := s.file(escape(name) + ext)
	if err != nil {
		return err
	}
	f, err := renameio.NewPendingFile(path, renameio.WithStaticPermissions(fileMode))
	if err != nil {
		return fmt.Errorf("could not write to %s: %w", filepath.Dir(path), unwrapPathError(err))
	}
	defer f.Cleanup()
	data, err := content()
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("could not write %s: %w", path, unwrapPathError(err))
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("could not save %s: %w", path, unwrapPathError(err))
	}
	return nil
}

// Remove deletes the record name; a missing record is not an error.
func (s *Store) Remove(name string) error {
	err := os.Remove(s.Path(name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("could not remove %s: %w", s.Path(name), unwrapPathError(err))
	}
	return nil
}

// Names lists the records in the store, without reading them.
func (s *Store) Names() ([]string, error) {
	entries, err := os.ReadDir(s.Dir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("could not list %s: %w", s.Dir(), unwrapPathError(err))
	}
	var names []string
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ext)
		if !ok || strings.HasPrefix(base, ".") {
			continue
		}
		if name, err := unescape(base); err == nil {
			names = append(names, name)
		}
	}
	return names, nil
}

// file returns the path of a file in the store, creating the store's
// folders (0700) first.
func (s *Store) file(base string) (string, error) {
	path, err := xdg.CacheFile(filepath.Join(s.rel, base))
	if err != nil {
		return "", fmt.Errorf("could not create the cache folder %s: %w", s.Dir(), unwrapPathError(err))
	}
	return path, nil
}

// unwrapPathError drops the path and operation that *fs.PathError repeats,
// since our messages name the file already.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
