package cache

import (
	"akiflow-token/helper/store"

	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/adrg/xdg"
)

// testRecordSize is the record size of the tests' stores.
const testRecordSize = 4 << 10

// useTempCache points the XDG cache home at a fresh folder.
func useTempCache(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	xdg.Reload()
	t.Cleanup(xdg.Reload)
	return dir
}

func TestWriteReadModes(t *testing.T) {
	root := useTempCache(t)
	s := Open("127.0.0.1:8080", testRecordSize)
	if _, err := s.Read("a@b.c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read of a missing record: %v", err)
	}
	if err := s.Write("a@b.c", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read("a@b.c"); err != nil || string(got) != "one" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	want := filepath.Join(root, "akiflow-token", "127.0.0.1%3A8080", "a@b.c.json")
	if s.Path("a@b.c") != want {
		t.Errorf("Path = %s, want %s", s.Path("a@b.c"), want)
	}
	for path, mode := range map[string]os.FileMode{want: 0o600, filepath.Dir(want): 0o700, filepath.Dir(filepath.Dir(want)): 0o700} {
		if runtime.GOOS == "windows" {
			break // no modes: TestCreatedFilesArePrivate
		}
		info, err := os.Stat(path)
		if err != nil || info.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v (%v)", path, info.Mode().Perm(), mode, err)
		}
	}
	names, err := s.List()
	if err != nil || len(names) != 1 || names[0] != "a@b.c" {
		t.Errorf("Names = %v, %v", names, err)
	}
}

func TestReadRefusesFilesOthersCanRead(t *testing.T) {
	skipModes(t)
	useTempCache(t)
	s := Open("h", testRecordSize)
	s.Write("a@b.c", []byte("x"))
	os.Chmod(s.Path("a@b.c"), 0o640)
	_, err := s.Read("a@b.c")
	var ie *InsecureError
	if !errors.As(err, &ie) || ie.Fix != "chmod 600 "+s.Path("a@b.c") {
		t.Errorf("got %v", err)
	}
}

func TestFailedReplaceLeavesTheRecord(t *testing.T) {
	useTempCache(t)
	s := Open("h", testRecordSize)
	if err := s.Write("a@b.c", []byte("old")); err != nil {
		t.Fatal(err)
	}
	failure := errors.New("no content")
	if err := replace(s, "a@b.c", func() ([]byte, error) { return nil, failure }); !errors.Is(err, failure) {
		t.Errorf("Replace = %v, want the content's error", err)
	}
	if got, _ := s.Read("a@b.c"); string(got) != "old" {
		t.Errorf("got %q", got)
	}
	for _, info := range tempFiles(t, s) {
		t.Errorf("temporary file %s left behind", info.Name())
	}
}

func TestReplaceInAnUnwritableFolderDoesNotAskForContent(t *testing.T) {
	root := useTempCache(t)
	if os.Getuid() == 0 || runtime.GOOS == "windows" {
		// root writes anywhere, and a folder's mode means nothing on
		// Windows: a file where the folder should be stops it.
		os.WriteFile(filepath.Join(root, "akiflow-token"), nil, 0o600)
	} else {
		os.MkdirAll(filepath.Join(root, "akiflow-token", "h"), 0o500)
	}
	asked := false
	err := replace(Open("h", testRecordSize), "a@b.c", func() ([]byte, error) { asked = true; return []byte("x"), nil })
	if err == nil || asked {
		t.Errorf("Replace = %v, content asked: %v; want an error before asking", err, asked)
	}
}

func TestLockIsExclusiveAndBounded(t *testing.T) {
	useTempCache(t)
	s := Open("h", testRecordSize)
	lock, err := s.Lock(context.Background(), "a@b.c")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Open("h", testRecordSize).Lock(ctx, "a@b.c"); !errors.Is(err, ErrLockTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Lock: %v, want ErrLockTimeout", err)
	}
	if _, err := s.Adopt("a@b.c", lock.Handle()); err != nil {
		t.Errorf("AdoptLock of a held lock: %v", err)
	}
	if _, err := s.Adopt("x@b.c", lock.Handle()); err == nil {
		t.Errorf("AdoptLock took another record's lock file")
	}
	// Removed since it was taken (a cleaner of ~/.cache): still the lock.
	if err := os.Remove(filepath.Join(s.Dir(), "a@b.c"+lockExt)); err == nil {
		if _, err := s.Adopt("a@b.c", lock.Handle()); err != nil {
			t.Errorf("AdoptLock of a held lock whose file was removed: %v", err)
		}
	} else if runtime.GOOS != "windows" {
		t.Error(err)
	}
	lock.Close()
	lock2, err := s.Lock(context.Background(), "a@b.c")
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	lock2.Close()
}

// A lock file removed while a process holds it (a cleaner of ~/.cache),
// or the whole cache folder, keeps nobody out: a Lock that waited on it
// locks the file that is there now (making the folder again), so that a
// Lock after it still waits. Each Lock renews the file's time, so that a
// cleaner of old files leaves a lock in use alone.
func TestLockOfARemovedLockFileLocksTheNewOne(t *testing.T) {
	for _, removed := range []string{"the lock file", "the cache folder"} {
		t.Run(removed, func(t *testing.T) {
			root := useTempCache(t)
			s := Open("h", testRecordSize)
			first, err := s.Lock(context.Background(), "a@b.c")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(root, "akiflow-token", "h", "a@b.c"+lockExt)
			old := time.Now().Add(-90 * 24 * time.Hour)
			os.Chtimes(path, old, old)
			second := make(chan store.Lock, 1)
			go func() {
				lock, err := Open("h", testRecordSize).Lock(context.Background(), "a@b.c")
				if err != nil {
					t.Error(err)
				}
				second <- lock
			}()
			time.Sleep(5 * lockPoll) // the second Lock waits on the first's file
			remove := map[string]func() error{
				"the lock file":    func() error { return os.Remove(path) },
				"the cache folder": func() error { return os.RemoveAll(filepath.Join(root, "akiflow-token")) },
			}[removed]
			if err := remove(); err != nil {
				first.Close()
				if lock := <-second; lock != nil {
					lock.Close()
				}
				if runtime.GOOS == "windows" {
					t.Skipf("Windows refuses to remove a lock file in use, so the case cannot arise: %v", err)
				}
				t.Fatal(err)
			}
			first.Close()
			lock := <-second
			if lock == nil {
				t.FailNow()
			}
			defer lock.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if third, err := Open("h", testRecordSize).Lock(ctx, "a@b.c"); !errors.Is(err, ErrLockTimeout) {
				if third != nil {
					third.Close()
				}
				t.Errorf("a Lock after the removal: %v, want ErrLockTimeout (the waiting Lock holds the new lock file)", err)
			}
			if info, err := os.Stat(path); err != nil || time.Since(info.ModTime()) > time.Hour {
				t.Errorf("the lock file's time was not renewed: %v", err)
			}
		})
	}
}

func TestAdoptLockRefusesAFileNotLocked(t *testing.T) {
	useTempCache(t)
	s := Open("h", testRecordSize)
	lock, err := s.Lock(context.Background(), "a@b.c")
	if err != nil {
		t.Fatal(err)
	}
	// Another open file of the same lock, while the first holds it: the
	// descriptor a process got some other way is refused.
	other, err := os.Open(filepath.Join(s.Dir(), "a@b.c.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := s.Adopt("a@b.c", other); err == nil {
		t.Error("AdoptLock took a lock file held by another open file")
	}
	lock.Close()
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"a@b.c", "127.0.0.1:80", "..", ".hidden", "a/b", "%41", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		e := escape(name)
		if strings.ContainsAny(e, "/\\:") || strings.HasPrefix(e, ".") {
			t.Errorf("escape(%q) = %q is not a safe file name", name, e)
		}
		if back, err := unescape(e); err != nil || back != name {
			t.Errorf("unescape(escape(%q)) = %q, %v", name, back, err)
		}
	})
}

// replace is Prepare, content and Commit (store.Replace).
func replace(s *Store, name string, content func() ([]byte, error)) error {
	return store.Replace(s, name, content)
}

// WriteFile replaces a file outside any store atomically, private as a
// record, and replaces a symbolic link at its path rather than follow it.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "urls")
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o600)
	linked := makeSymlink(target, path) == nil
	if err := WriteFile(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "two" {
		t.Errorf("the file holds %q", got)
	}
	if got, _ := os.ReadFile(target); linked && string(got) != "keep" {
		t.Errorf("the link's target was written: %q", got)
	}
	if info, err := os.Lstat(path); err != nil || !info.Mode().IsRegular() || runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Errorf("the file: %v, %v; want a regular file, mode 0600", info.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("the folder holds %d entries, want the file and the target: a temporary file was left", len(entries))
	}
}
