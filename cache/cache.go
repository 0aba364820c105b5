// Package cache keeps akiflow-token's records on disk, under the XDG cache
// folder, as the store.Store the token flow declares: small files that only their owner may read, in folders that only
// their owner may enter, replaced atomically (a reader sees the old file or
// the new one, never half of one), each guarded by a lock file of its own.
// It knows nothing of tokens, HTTP or Akiflow.
package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"akiflow-token/helper/store"
)

// appDir is the folder under the XDG cache home that holds every group's.
const appDir = "akiflow-token"

const (
	dirMode  = 0o700
	fileMode = 0o600
	ext      = ".json"
	lockExt  = ".lock"

	// partialDir is the folder, in each store's, of the temporary files
	// that replace records: Recover lists it, which holds only the saves
	// under way or killed, and never the folder of every record (10,000
	// accounts would cost every refresh a listing of 20,000 files). No
	// record's file name starts with "." (escape escapes it).
	partialDir = ".partial"

	// maxName is the longest file name (in bytes) of Linux, macOS and the
	// BSDs (Windows' is 255 UTF-16 units: our names are ASCII).
	maxName = 255
	// tempDigits is the most digits appended to a temporary file's name
	// ("." + the record's name + a non-negative int64): renameio's on
	// Unix, pending_windows.go's.
	tempDigits = 19
)

// ErrNotFound is returned by Read when a record does not exist. It matches
// fs.ErrNotExist.
var ErrNotFound error = notFound{}

type notFound struct{}

func (notFound) Error() string        { return "no such record" }
func (notFound) Is(target error) bool { return target == fs.ErrNotExist }

// InsecureError is returned for a file or folder that others could read or
// write, that belongs to another user, or that is not what it should be (a
// symbolic link where a folder should be): the store refuses to use it.
// Fix is the command that mends it; Advice, when set, says in words what to
// do (the message then shows it instead of "run Fix").
type InsecureError struct {
	Path, Problem, Fix, Advice string
}

func (e *InsecureError) Error() string {
	if e.Advice != "" {
		return fmt.Sprintf("refusing to use %s: %s; %s", e.Path, e.Problem, e.Advice)
	}
	return fmt.Sprintf("refusing to use %s: %s; to fix it, run: %s", e.Path, e.Problem, e.Fix)
}

// Unsafe says the store refuses to use the file, rather than failing to
// read it: it must not be overwritten either.
func (e *InsecureError) Unsafe() bool { return true }

// Store is one folder of records, such as the sessions of one Akiflow host.
// Its methods are safe to call from several processes, and goroutines, at
// once.
type Store struct {
	rel        string // the folder, relative to the XDG cache home
	recordSize int    // the largest record

	home    string // the XDG cache home, or "" with homeErr
	homeErr error
	dir     string // home/rel

	mu      sync.Mutex
	checked bool // the folders exist and are fit to use (folder)
	partial bool // so does partialDir (partialFolder)
}

// Open returns the store for group (for example a host name), whose
// records are at most recordSize bytes. Nothing is touched on disk until a
// method needs it; when there is no cache folder (no HOME and no
// XDG_CACHE_HOME), those methods return ErrNoCacheHome.
func Open(group string, recordSize int) *Store {
	if recordSize <= 0 {
		panic("cache.Open: recordSize must be positive")
	}
	s := &Store{rel: filepath.Join(appDir, escape(group)), recordSize: recordSize}
	s.home, s.homeErr = cacheHome()
	if s.homeErr == nil {
		s.dir = filepath.Join(s.home, s.rel)
	}
	return s
}

// Dir is the store's folder. Without a cache folder it is a placeholder
// for messages ("$XDG_CACHE_HOME/akiflow-token/…"), which nothing here
// uses as a path.
func (s *Store) Dir() string {
	if s.homeErr != nil {
		return filepath.Join("$XDG_CACHE_HOME", s.rel)
	}
	return s.dir
}

// Path is the file that holds the record name.
func (s *Store) Path(name string) string { return filepath.Join(s.Dir(), escape(name)+ext) }

// Describe says where the record name lives, for messages: its file, or
// with "" the store's folder.
func (s *Store) Describe(name string) string {
	if name == "" {
		return s.Dir()
	}
	return s.Path(name)
}

// Read returns the record name, or ErrNotFound. A record that is not a
// regular file (a symbolic link, a FIFO, a folder) is an error; one that
// others could read, that belongs to another user, or that is larger than
// the store's record size (a newer version's, perhaps, which must not be
// overwritten) is an *InsecureError. It never blocks on a FIFO and never
// follows a symbolic link.
func (s *Store) Read(name string) ([]byte, error) {
	dir, err := s.folder(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if _, err := fileName(name, ext); err != nil {
		return nil, ErrNotFound // a name too long to save was never saved
	}
	path := filepath.Join(dir, escape(name)+ext)
	f, info, err := openRegular(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := checkPrivate(f, path, info); err != nil {
		return nil, err
	}
	data, err := readAtMost(f, info.Size(), s.recordSize)
	var tooLarge errTooLarge
	if errors.As(err, &tooLarge) {
		return nil, &InsecureError{Path: path, Problem: tooLarge.Error() + ", more than a record of this akiflow-token can be",
			Advice: "a newer akiflow-token may have written it: upgrade, or remove it"}
	}
	if err != nil {
		return nil, fmt.Errorf("could not read %s: %w", path, err)
	}
	return data, nil
}

// errTooLarge is readAtMost's error for a file over its limit.
type errTooLarge int

func (e errTooLarge) Error() string { return fmt.Sprintf("it is larger than %d bytes", int(e)) }

// readAtMost reads f, whose size was size, to its end: at most limit bytes,
// or errTooLarge.
func readAtMost(f *os.File, size int64, limit int) ([]byte, error) {
	if size > int64(limit) {
		return nil, errTooLarge(limit)
	}
	buf := make([]byte, 0, size+1) // one more, to see the end at once
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, errTooLarge(limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, unwrapPathError(err)
		}
	}
}

// openRegular opens path with flag (and perm, to create it) without
// following a symbolic link, blocking on a FIFO or taking a terminal, and
// returns it with its fstat only when it is a regular file (else a
// *notRegularError): what is checked is what is read, with no
// lstat-then-open race. Its errors name the path, except one that matches
// fs.ErrNotExist.
func openRegular(path string, flag int, perm fs.FileMode) (*os.File, fs.FileInfo, error) {
	f, err := openFile(path, flag, perm)
	var nr *notRegularError
	if errors.Is(err, fs.ErrNotExist) || errors.As(err, &nr) {
		return nil, nil, err
	}
	if err != nil {
		// O_NOFOLLOW's error differs by system (ELOOP, EMLINK, EFTYPE), and
		// a socket's is ENXIO (Windows: a folder's is Access denied): say
		// what is there instead.
		if info, lerr := os.Lstat(path); lerr == nil && !info.Mode().IsRegular() {
			return nil, nil, &notRegularError{path, info.Mode()&fs.ModeSymlink != 0}
		}
		return nil, nil, fmt.Errorf("could not open %s: %w", path, unwrapPathError(err))
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("could not open %s: %w", path, unwrapPathError(err))
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, &notRegularError{path, false}
	}
	return f, info, nil
}

// notRegularError is openRegular's error for anything but a regular file.
type notRegularError struct {
	path    string
	symlink bool
}

func (e *notRegularError) Error() string {
	if e.symlink {
		return e.path + " is a symbolic link: refusing to follow it"
	}
	return e.path + " is not a regular file"
}

// Write replaces the record name with data, atomically.
func (s *Store) Write(name string, data []byte) error {
	p, err := s.Prepare(name)
	if err != nil {
		return err
	}
	defer p.Discard()
	return p.Commit(data)
}

// Pending is a replacement of one record, prepared and not yet committed.
type Pending struct {
	f          *pendingFile
	hold       *os.File // another open file of f, whose lock says the save is under way until it is in place
	path       string
	recordSize int
	staged     int // the bytes Stage wrote; zeros after them
}

// Prepare gets ready to replace the record name, atomically, and returns
// the replacement to Commit (or Discard).
//
// Everything that could keep the result from being saved is done here, so
// that work whose result must not be lost (a refresh that spends the old
// token) is done only once it can be saved: the folders are checked (and
// made), the record's path must hold a regular file of ours or nothing, its
// name must fit, the record's folder must be writable (for the rename),
// and the temporary file that will become the record is made in its
// partialDir (on the same file system; never in $TMPDIR), filled with the record
// size in zeros and fsynced, so that writing the result over them needs no
// new space on ext4, xfs or tmpfs (a copy-on-write file system such as
// btrfs or ZFS may still fail then).
func (s *Store) Prepare(name string) (store.Pending, error) {
	p, err := s.prepare(name)
	if errors.Is(err, fs.ErrNotExist) {
		// The folder went away since it was checked: make it again.
		s.recheck()
		p, err = s.prepare(name)
	}
	if err != nil {
		return nil, err // not a nil *Pending in an interface
	}
	return p, nil
}

// Stage writes data over the reserved zeros of the temporary file, where
// Recover finds it should this process be killed: a process's death keeps
// what it wrote (the kernel writes it out later), so no fsync is needed
// for that, and a crash of the machine loses the staged data as it would
// lose an unsaved result.
func (p *Pending) Stage(data []byte) error {
	if len(data) > p.recordSize {
		return fmt.Errorf("could not save %s: the record is %d bytes, more than the %d it may be", p.path, len(data), p.recordSize)
	}
	buf := data
	if p.staged > len(data) { // zeros over the rest of what was staged before
		buf = append(append([]byte(nil), data...), make([]byte, p.staged-len(data))...)
	}
	if _, err := p.f.WriteAt(buf, 0); err != nil {
		return fmt.Errorf("could not write %s: %w", p.path, unwrapPathError(err))
	}
	p.staged = len(data)
	return nil
}

// Commit writes data over the reserved zeros, cuts the file to its length,
// fsyncs it, renames it over the record and fsyncs the folder. A process
// killed between the fsync and the rename leaves the result in a temporary
// file: see Recover.
func (p *Pending) Commit(data []byte) error {
	if len(data) > p.recordSize {
		return fmt.Errorf("could not save %s: the record is %d bytes, more than the %d it may be", p.path, len(data), p.recordSize)
	}
	if _, err := p.f.WriteAt(data, 0); err != nil {
		return fmt.Errorf("could not write %s: %w", p.path, unwrapPathError(err))
	}
	if err := p.f.Truncate(int64(len(data))); err != nil {
		return fmt.Errorf("could not write %s: %w", p.path, unwrapPathError(err))
	}
	if testHookBeforeRename != nil {
		testHookBeforeRename()
	}
	if err := p.f.CloseAtomicallyReplace(); err != nil { // fsync, close, rename
		return fmt.Errorf("could not save %s: %w", p.path, unwrapPathError(err))
	}
	p.letGo() // only now: until the rename, the file is a save under way
	syncDir(filepath.Dir(p.path))
	return nil
}

// Discard removes the temporary file, unless Commit put it in place: the
// record stays as it was. It may be deferred.
func (p *Pending) Discard() {
	p.f.Cleanup()
	p.letGo()
}

// letGo lets go of the lock that says the save is under way.
func (p *Pending) letGo() {
	if p.hold != nil {
		p.hold.Close()
		p.hold = nil
	}
}

// Alone says no other replacement of the record is under way: every
// Pending holds a lock on its temporary file while it is open, which this
// finds on the others (store.ErrBusy).
func (p *Pending) Alone() error {
	partial, ours := filepath.Dir(p.f.Name()), p.f.Name()
	listed, err := leftovers(partial)
	if err != nil {
		return err
	}
	for _, path := range listed[filepath.Base(p.path)] {
		if path != ours && inUse(path) {
			return store.ErrBusy
		}
	}
	return nil
}

// inUse says the temporary file at path is an open Pending's: its lock is
// held. One that cannot be opened (gone, committed) is not.
func inUse(path string) bool {
	f, _, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	held, err := holdFile(f)
	return !held && err == nil
}

// testHookAfterCreate, when set (by tests), runs after a Pending's
// temporary file is made and before it is locked, with its path.
var testHookAfterCreate func(path string)

// testHookBeforeRename, when set (by tests), runs after the result is
// written to the temporary file and before it is fsynced and renamed.
var testHookBeforeRename func()

// prepare does what Prepare does. A missing folder is an error that
// matches fs.ErrNotExist.
func (s *Store) prepare(name string) (*Pending, error) {
	dir, err := s.folder(true)
	if err != nil {
		return nil, err
	}
	base, err := fileName(name, ext)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, base)
	switch info, err := os.Lstat(path); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("could not save %s: %w", path, unwrapPathError(err))
	case info.Mode()&fs.ModeSymlink != 0 || isLink(info):
		return nil, fmt.Errorf("could not save %s: it is a symbolic link; remove it, and run again: %s", path, removeFix(path, info))
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("could not save %s: it is not a regular file; remove it and run again", path)
	default:
		if err := checkOwner(nil, path, info); err != nil {
			return nil, err
		}
	}
	// The rename into dir is the one step after the temporary file that
	// needs a permission: a folder made read-only (chmod, a read-only
	// mount, chattr +i) would fail it after the work is done.
	if err := writable(dir); err != nil {
		return nil, fmt.Errorf("could not write to %s: %w", dir, err)
	}
	partial, err := s.partialFolder(true)
	if err != nil {
		return nil, err
	}
	f, err := newPendingFile(path, partial)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("could not write to %s: %w", dir, unwrapPathError(err))
	}
	// Locked through a file of its own, held until the rename (and while
	// this process lives): another Pending's Alone sees this save under
	// way, and Recover leaves it be. (renameio closes f before renaming.)
	if testHookAfterCreate != nil {
		testHookAfterCreate(f.Name())
	}
	hold, err := holdPending(f.Name())
	if err == nil {
		// Until it was locked, another process's Recover could take it
		// for a killed save's leftover, and remove it.
		serr := sameFile(hold, f.Name())
		if serr == nil && removed(hold) {
			serr = errors.New("it is marked for deletion")
		}
		if serr != nil {
			hold.Close()
			err = fmt.Errorf("could not keep %s: another akiflow-token removed it (%v)", f.Name(), serr)
		}
	}
	if err != nil {
		f.Cleanup()
		return nil, err
	}
	// Reserve the space of the largest record, on the disk.
	_, err = f.Write(make([]byte, s.recordSize))
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Cleanup()
		hold.Close()
		return nil, fmt.Errorf("could not write to %s: %w", dir, unwrapPathError(err))
	}
	return &Pending{f: f, hold: hold, path: path, recordSize: s.recordSize}, nil
}

// holdPending opens the temporary file at path again and takes its lock,
// trying for a while: another process's Alone or Recover may hold it for
// a moment to see whether it is in use.
func holdPending(path string) (*os.File, error) {
	f, _, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("could not open %s: %w", path, unwrapPathError(err))
	}
	for range 100 {
		held, err := holdFile(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("could not lock %s: %w", path, err)
		}
		if held {
			return f, nil
		}
		time.Sleep(time.Millisecond)
	}
	f.Close()
	return nil, fmt.Errorf("could not lock %s: another process holds it", path)
}

// fileName is the file name of the record name with extension ext: it
// must fit in a file name, and so must the temporary file that replaces
// it ("." + the record's file name + up to 19 digits).
func fileName(name, ext string) (string, error) {
	base := escape(name) + ext
	if longest := 1 + len(escape(name)) + len(".json") + tempDigits; longest > maxName {
		return "", fmt.Errorf("the name %q is too long for a file name (%d bytes with its temporary file's prefix and digits; at most %d)", name, longest, maxName)
	}
	return base, nil
}

// syncDir fsyncs the folder dir, so that a rename in it survives a crash.
// Errors are ignored: the rename has happened, for every process that
// looks, and some file systems cannot fsync a folder.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// Remove deletes the record name; a missing record is not an error.
func (s *Store) Remove(name string) error {
	dir, err := s.folder(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := fileName(name, ext); err != nil {
		return nil // a name too long to save was never saved
	}
	path := filepath.Join(dir, escape(name)+ext)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("could not remove %s: %w", path, unwrapPathError(err))
	}
	return nil
}

// List lists the records in the store, without reading them.
func (s *Store) List() ([]string, error) {
	dir, err := s.folder(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("could not list %s: %w", dir, unwrapPathError(err))
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

// trimPadding drops the zeros that Prepare reserved and a killed Commit
// may have left after the record.
func trimPadding(data []byte) []byte { return bytes.TrimRight(data, "\x00") }

// unwrapPathError drops the path and operation that *fs.PathError repeats,
// since our messages name the file already.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Root is the folder that holds every store, for messages and help: a
// placeholder when there is no cache folder.
func Root() string {
	home, err := cacheHome()
	if err != nil {
		return filepath.Join("$XDG_CACHE_HOME", appDir)
	}
	return filepath.Join(home, appDir)
}

var _ store.Store = (*Store)(nil)

// WriteFile replaces the file at path, outside any store, atomically with
// one holding data, private as a record is (0600 on Unix; on Windows the
// user's, with a DACL that grants nobody else), from a temporary file made
// beside it: a symbolic link there is replaced, not followed. It is for
// the files akiflow-token writes where the user says (serve --url-file).
func WriteFile(path string, data []byte) error {
	f, err := newPendingFile(path, filepath.Dir(path))
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.CloseAtomicallyReplace()
}
