package cache

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// promptly fails the test if f takes more than a few seconds: a FIFO must
// never make the store wait for a writer.
func promptly(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s hangs", what)
	}
}

// newFolder makes the store's folder and returns the store.
func newFolder(t *testing.T) *Store {
	t.Helper()
	useTempCache(t)
	s := Open("h", testRecordSize)
	if err := os.MkdirAll(s.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkBadRecord fails unless err is an ordinary error (a bad record, no
// session) that says want.
func checkBadRecord(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || errors.Is(err, fs.ErrNotExist) || refused(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want an ordinary error that says %q", err, want)
	}
}

func TestRecordsThatAreNotRegularFilesAreBadRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
		want string
	}{
		{"FIFO", func(p string) error { return mkfifo(p) }, "is not a regular file"},
		{"folder", func(p string) error { return os.Mkdir(p, 0o700) }, "is not a regular file"},
		{"socket", func(p string) error {
			l, err := net.Listen("unix", p)
			if err == nil {
				t.Cleanup(func() { l.Close() })
			}
			return err
		}, "is not a regular file"},
		{"symbolic link", func(p string) error {
			target := filepath.Join(t.TempDir(), "target")
			os.WriteFile(target, []byte("secret"), 0o600)
			return makeSymlink(target, p)
		}, "is a symbolic link: refusing to follow it"},
		{"dangling symbolic link", func(p string) error { return makeSymlink(p+".gone", p) }, "is a symbolic link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFolder(t)
			if err := tc.make(s.Path("a@b.c")); err != nil {
				t.Skip(err)
			}
			promptly(t, "Read", func() {
				_, err := s.Read("a@b.c")
				checkBadRecord(t, err, s.Path("a@b.c")+" "+tc.want)
			})
		})
	}
}

func TestReadRefusesRecordsOfAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: only root can give a file to another user")
	}
	s := newFolder(t)
	s.Write("a@b.c", []byte("x"))
	os.Chown(s.Path("a@b.c"), nobodyUID, nobodyUID)
	_, err := s.Read("a@b.c")
	var ie *InsecureError
	if !errors.As(err, &ie) || ie.Fix != "chown 0 "+s.Path("a@b.c") {
		t.Errorf("got %v", err)
	}
}

// A record larger than the record size may be a newer version's: it is
// refused, so that nothing overwrites it, and the message says so.
func TestReadRefusesRecordsLargerThanTheRecordSize(t *testing.T) {
	s := newFolder(t)
	os.WriteFile(s.Path("a@b.c"), make([]byte, testRecordSize+1), 0o600)
	_, err := s.Read("a@b.c")
	if !refused(err) || !strings.Contains(err.Error(), "larger than 4096 bytes") || !strings.Contains(err.Error(), "upgrade, or remove it") {
		t.Errorf("got %v, want an *InsecureError that says the record is too large", err)
	}
	os.WriteFile(s.Path("a@b.c"), bytes.Repeat([]byte("x"), testRecordSize), 0o600)
	if data, err := s.Read("a@b.c"); err != nil || len(data) != testRecordSize {
		t.Errorf("Read of a record of the record size: %d bytes, %v", len(data), err)
	}
}

func TestLockFilesThatAreNotRegularFilesAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
		want string
	}{
		{"FIFO", func(p string) error { return mkfifo(p) }, "is not a regular file"},
		{"symbolic link", func(p string) error {
			return makeSymlink(filepath.Join(filepath.Dir(p), "elsewhere"), p)
		}, "is a symbolic link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFolder(t)
			path := filepath.Join(s.Dir(), "a@b.c.lock")
			if err := tc.make(path); errors.Is(err, errors.ErrUnsupported) {
				t.Skip(err)
			} else if err != nil {
				t.Fatal(err)
			}
			promptly(t, "Lock", func() {
				lock, err := s.Lock(context.Background(), "a@b.c")
				if err == nil {
					lock.Close()
				}
				if err == nil || !strings.Contains(err.Error(), path+" "+tc.want) {
					t.Errorf("Lock: %v, want an error that says %q", err, tc.want)
				}
			})
			if _, err := os.Lstat(filepath.Join(s.Dir(), "elsewhere")); err == nil {
				t.Error("Lock created the target of a symbolic link")
			}
		})
	}
}

func TestLockFilesOfAnotherUserAreRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: only root can give a file to another user")
	}
	s := newFolder(t)
	path := filepath.Join(s.Dir(), "a@b.c.lock")
	os.WriteFile(path, nil, 0o600)
	os.Chown(path, nobodyUID, nobodyUID)
	if _, err := s.Lock(context.Background(), "a@b.c"); !refused(err) {
		t.Errorf("Lock: %v, want an *InsecureError", err)
	}
}

// tempFiles lists renameio's temporary files of s: the files of its
// partialDir. Any other hidden file in its folder fails t: no temporary
// file belongs there.
func tempFiles(t *testing.T, s *Store) []os.FileInfo {
	t.Helper()
	entries, err := os.ReadDir(s.Dir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && e.Name() != partialDir {
			t.Errorf("%s is in the record folder", e.Name())
		}
	}
	entries, err = os.ReadDir(filepath.Join(s.Dir(), partialDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var infos []os.FileInfo
	for _, e := range entries {
		info, _ := e.Info()
		infos = append(infos, info)
	}
	return infos
}

func TestReplaceReservesTheRecordBesideItsFolder(t *testing.T) {
	useTempCache(t)
	// A TMPDIR on the same file system, which renameio would otherwise pick.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	s := Open("h", testRecordSize)
	err := replace(s, "a@b.c", func() ([]byte, error) {
		if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
			t.Errorf("TMPDIR holds %v", entries)
		}
		temps := tempFiles(t, s)
		if len(temps) != 1 {
			t.Fatalf("want one temporary file in %s, found %d", filepath.Join(s.Dir(), partialDir), len(temps))
		}
		info := temps[0]
		wantMode := os.FileMode(0o600)
		if runtime.GOOS == "windows" {
			wantMode = info.Mode() // Windows' is the DACL's (TestCreatedFilesArePrivate)
		}
		if !strings.HasPrefix(info.Name(), ".a@b.c.json") || info.Size() != testRecordSize || info.Mode() != wantMode {
			t.Errorf("the temporary file: %s, %d bytes, mode %v; want .a@b.c.json…, %d bytes, 0600", info.Name(), info.Size(), info.Mode(), testRecordSize)
		}
		return []byte("data"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read("a@b.c"); err != nil || string(got) != "data" {
		t.Errorf("Read = %q, %v", got, err)
	}
	if temps := tempFiles(t, s); len(temps) != 0 {
		t.Errorf("left behind: %v", temps[0].Name())
	}
}

func TestReplaceRefusesContentOverTheRecordSize(t *testing.T) {
	s := newFolder(t)
	s.Write("a@b.c", []byte("old"))
	err := s.Write("a@b.c", make([]byte, testRecordSize+1))
	if err == nil || !strings.Contains(err.Error(), "more than the 4096 it may be") {
		t.Errorf("Write of too much: %v", err)
	}
	if got, _ := s.Read("a@b.c"); string(got) != "old" {
		t.Errorf("the record is now %q", got)
	}
	if temps := tempFiles(t, s); len(temps) != 0 {
		t.Errorf("left behind: %v", temps[0].Name())
	}
	full := bytes.Repeat([]byte("y"), testRecordSize)
	if err := s.Write("a@b.c", full); err != nil {
		t.Errorf("Write of exactly the record size: %v", err)
	}
}

func TestReplaceChecksTheRecordPathBeforeContent(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
		want string
	}{
		{"a folder", func(p string) error { return os.Mkdir(p, 0o700) }, "it is not a regular file"},
		{"a FIFO", func(p string) error { return mkfifo(p) }, "it is not a regular file"},
		{"a symbolic link", func(p string) error { return makeSymlink(p+".gone", p) }, "it is a symbolic link; remove it, and run again: " + removeFix("", nil)[:3]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFolder(t)
			if err := tc.make(s.Path("a@b.c")); errors.Is(err, errors.ErrUnsupported) {
				t.Skip(err)
			} else if err != nil {
				t.Fatal(err)
			}
			asked := false
			err := replace(s, "a@b.c", func() ([]byte, error) { asked = true; return []byte("x"), nil })
			if err == nil || asked || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Replace = %v, content asked: %v; want an error that says %q before asking", err, asked, tc.want)
			}
		})
	}
}

func TestNamesTooLongForAFileName(t *testing.T) {
	s := newFolder(t)
	longest := strings.Repeat("a", maxName-1-len(ext)-tempDigits-len("@b.c")) + "@b.c"
	if err := s.Write(longest, []byte("x")); err != nil {
		t.Errorf("Write of the longest name: %v", err)
	}
	lock, err := s.Lock(context.Background(), longest)
	if err != nil {
		t.Errorf("Lock of the longest name: %v", err)
	} else {
		lock.Close()
	}

	tooLong := "a" + longest
	asked := false
	err = replace(s, tooLong, func() ([]byte, error) { asked = true; return []byte("x"), nil })
	if err == nil || asked || !strings.Contains(err.Error(), `the name "`+tooLong+`" is too long for a file name`) {
		t.Errorf("Replace = %v, content asked: %v", err, asked)
	}
	if _, err := s.Lock(context.Background(), tooLong); err == nil || !strings.Contains(err.Error(), "is too long for a file name") {
		t.Errorf("Lock: %v", err)
	}
	// An escaped character takes three bytes.
	if _, err := s.Lock(context.Background(), strings.Repeat("/", 80)); err == nil || !strings.Contains(err.Error(), "is too long for a file name") {
		t.Errorf("Lock: %v", err)
	}
}

func TestReplaceMakesARemovedFolderAgain(t *testing.T) {
	useTempCache(t)
	s := Open("h", testRecordSize)
	if err := s.Write("a@b.c", []byte("one")); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(s.Dir())
	if err := s.Write("a@b.c", []byte("two")); err != nil {
		t.Fatalf("Write after the folder was removed: %v", err)
	}
	os.RemoveAll(s.Dir())
	lock, err := s.Lock(context.Background(), "a@b.c")
	if err != nil {
		t.Fatalf("Lock after the folder was removed: %v", err)
	}
	lock.Close()
}
