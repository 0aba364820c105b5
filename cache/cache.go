// Package cache keeps akiflow-token's records on disk, under the XDG cache
// folder: small files that only their owner may read, replaced atomically (a
// reader sees the old file or the new one, never half of one), each guarded by
// a lock file of its own. It knows nothing of tokens, HTTP or Akiflow.
package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

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

// ErrNotFound is returned by Read when a record does not exist.
var ErrNotFound = errors.New("no such record")

// InsecureError is returned by Read for a file that others could read or
// that belongs to another user. Fix says the command that mends it.
type InsecureError struct {
	Path, Problem, Fix string
}

func (e *InsecureError) Error() string {
	return fmt.Sprintf("refusing to use %s: %s; run %q", e.Path, e.Problem, e.Fix)
}

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
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return &InsecureError{Path: path, Problem: "it belongs to another user",
			Fix: fmt.Sprintf("chown %d %s", os.Getuid(), path)}
	}
	if info.Mode().Perm()&0o077 != 0 {
		return &InsecureError{Path: path, Problem: fmt.Sprintf("its mode %04o lets others read it", info.Mode().Perm()),
			Fix: "chmod 600 " + path}
	}
	return nil
}

// Write replaces the record name with data, atomically.
func (s *Store) Write(name string, data []byte) error {
	p, err := s.Prepare(name)
	if err != nil {
		return err
	}
	return p.Commit(data)
}

// Pending is a record being replaced: its temporary file exists already, so
// a caller can make sure the record can be saved before doing work whose
// result must not be lost.
type Pending struct {
	path string
	file *renameio.PendingFile
}

// Prepare creates the temporary file that will replace the record name.
// Call Commit or Discard on the result.
func (s *Store) Prepare(name string) (*Pending, error) {
	path, err := s.file(escape(name) + ext)
	if err != nil {
		return nil, err
	}
	f, err := renameio.NewPendingFile(path, renameio.WithStaticPermissions(fileMode))
	if err != nil {
		return nil, fmt.Errorf("could not write to %s: %w", filepath.Dir(path), unwrapPathError(err))
	}
	return &Pending{path: path, file: f}, nil
}

// Commit writes data, syncs it and renames it over the record.
func (p *Pending) Commit(data []byte) error {
	defer p.file.Cleanup()
	if _, err := p.file.Write(data); err != nil {
		return fmt.Errorf("could not write %s: %w", p.path, unwrapPathError(err))
	}
	if err := p.file.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("could not save %s: %w", p.path, unwrapPathError(err))
	}
	return nil
}

// Discard removes the temporary file; the record is left as it was.
func (p *Pending) Discard() { p.file.Cleanup() }

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

// lockPoll is how often a waiting Lock tries again.
const lockPoll = 10 * time.Millisecond

// ErrLockTimeout is returned by Lock when another process held the lock for
// longer than the caller would wait.
var ErrLockTimeout = errors.New("timed out waiting for another akiflow-token process")

// Lock is a held lock on one record.
type Lock struct{ f *os.File }

// Lock takes the exclusive lock of the record name, waiting until ctx is
// done. The lock is a flock(2) on a file of its own beside the record, so
// replacing the record never drops it, and the kernel releases it when the
// last process holding it exits, however it exits.
func (s *Store) Lock(ctx context.Context, name string) (*Lock, error) {
	path, err := s.file(escape(name) + ".lock")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("could not open the lock %s: %w", path, unwrapPathError(err))
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("could not lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, ErrLockTimeout
			}
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}

// File is the lock's open file. A child process that inherits it holds the
// lock too, until it exits: the lock outlives this process if it dies first.
func (l *Lock) File() *os.File { return l.f }

// Unlock lets go of the lock. A child process that inherited the lock's
// file keeps holding it until it exits.
func (l *Lock) Unlock() { l.f.Close() }

// AdoptLock takes over a lock held by a parent process and handed down as
// f. It fails if f is not a held lock of this process tree.
func AdoptLock(f *os.File) (*Lock, error) {
	// On the same open file, flock succeeds at once; on any other, while
	// the lock is held elsewhere, it would block.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("the handed-down lock is not held: %w", err)
	}
	return &Lock{f: f}, nil
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
