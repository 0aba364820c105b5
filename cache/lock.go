package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"akiflow-token/helper/store"
)

// lockPoll is how often a waiting Lock tries again.
const lockPoll = 10 * time.Millisecond

// ErrLockTimeout is returned by Lock when another process held the lock for
// longer than the caller would wait. It matches context.DeadlineExceeded.
var ErrLockTimeout error = lockTimeout{}

type lockTimeout struct{}

func (lockTimeout) Error() string        { return "timed out waiting for another akiflow-token process" }
func (lockTimeout) Is(target error) bool { return target == context.DeadlineExceeded }

// Lock is a held lock on one record: an open lock file of its own beside
// the record, so that replacing the record never drops it.
type Lock struct{ f *os.File }

// Lock takes the exclusive lock of the record name, waiting until ctx is
// done. The kernel releases it when the last process holding it exits,
// however it exits.
// Close unlocks.
func (s *Store) Lock(ctx context.Context, name string) (store.Lock, error) {
	f, path, err := s.openLockAgain(name)
	if err != nil {
		return nil, err
	}
	for {
		held, err := tryLock(f)
		if held {
			if sameFile(f, path) == nil {
				// Its time renewed: a cleaner of old files in ~/.cache
				// leaves a lock in use alone.
				now := time.Now()
				os.Chtimes(path, now, now)
				return &Lock{f: f}, nil
			}
			// The file was removed (or replaced) while another process
			// held it: this one keeps nobody out. Lock the record's
			// lock file as it is now, after a poll's pause (a file system
			// whose inodes are not stable would spin here).
			f.Close()
			select {
			case <-ctx.Done():
				return nil, lockWaitError(ctx.Err())
			case <-time.After(lockPoll):
			}
			if f, path, err = s.openLockAgain(name); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("could not lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, lockWaitError(ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

// lockWaitError is what a Lock whose wait ended with ctx returns.
func lockWaitError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrLockTimeout
	}
	return err
}

// openLockAgain is openLock, which makes the folder again if it went away
// since it was checked.
func (s *Store) openLockAgain(name string) (*os.File, string, error) {
	f, path, err := s.openLock(name)
	if errors.Is(err, fs.ErrNotExist) {
		s.recheck()
		f, path, err = s.openLock(name)
	}
	return f, path, err
}

// Handle is the lock's open file. A child process that inherits it holds
// the lock too, until it exits: the lock outlives this process if it dies
// first.
func (l *Lock) Handle() *os.File { return l.f }

// Close lets go of the lock. A child process that inherited the lock's
// file keeps holding it until it exits.
func (l *Lock) Close() error { return l.f.Close() }

// openLock opens (creating it) the lock file of the record name: a regular
// file of this user's, opened without following a symbolic link or
// blocking on a FIFO. A missing folder matches fs.ErrNotExist.
func (s *Store) openLock(name string) (*os.File, string, error) {
	dir, err := s.folder(true)
	if err != nil {
		return nil, "", err
	}
	base, err := fileName(name, lockExt)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, base)
	f, info, err := openRegular(path, os.O_RDWR|os.O_CREATE, fileMode)
	var nr *notRegularError
	if errors.As(err, &nr) {
		// Nobody holds a lock on anything but a regular file. What is
		// there names its fix (a folder is removed with rmdir on Windows).
		info, _ := os.Lstat(path)
		return nil, "", fmt.Errorf("%w; remove it, and run again: %s", err, removeFix(path, info))
	}
	if err != nil {
		return nil, "", err
	}
	if err := checkOwner(f, path, info); err != nil {
		f.Close()
		return nil, "", err
	}
	return f, path, nil
}

// Adopt takes over the lock of the record name, held by a parent
// process and handed down as f. It fails unless f is that record's lock
// file, and its lock is not held by another open file (a lock file nobody
// holds is taken). The lock it returns owns f.
func (s *Store) Adopt(name string, f *os.File) (store.Lock, error) {
	if s.homeErr != nil {
		return nil, s.homeErr
	}
	path := filepath.Join(s.dir, escape(name)+lockExt)
	// A lock file removed since the parent took it (a cleaner of ~/.cache)
	// is still the one it held: the saves' own check (Pending.Alone) keeps
	// a second refresh out.
	if err := sameFile(f, path); err != nil && !(errors.Is(err, fs.ErrNotExist) && removed(f)) {
		return nil, fmt.Errorf("the handed-down lock is not %s: %w", path, err)
	}
	held, err := adoptLock(f)
	if !held {
		if err == nil {
			err = errors.New("another process holds it")
		}
		return nil, fmt.Errorf("the handed-down lock %s is not ours: %v", path, err)
	}
	return &Lock{f: f}, nil
}

// sameFile says f is the file at path (same device and inode).
func sameFile(f *os.File, path string) error {
	got, err := f.Stat()
	if err != nil {
		return err
	}
	want, err := os.Lstat(path)
	if err != nil {
		return unwrapPathError(err)
	}
	if !os.SameFile(got, want) {
		return errors.New("another file")
	}
	return nil
}
