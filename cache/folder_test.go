package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/adrg/xdg"
)

// nobodyUID owns what the tests give to another user (as root).
const nobodyUID = 65534

// everyMethod calls every method of s that touches the disk and returns
// their errors by name; Replace's content must not be called.
func everyMethod(t *testing.T, s *Store) map[string]error {
	t.Helper()
	errs := map[string]error{}
	_, errs["Read"] = s.Read("a@b.c")
	errs["Replace"] = replace(s, "a@b.c", func() ([]byte, error) {
		t.Error("Replace asked for content")
		return []byte("x"), nil
	})
	lock, err := s.Lock(context.Background(), "a@b.c")
	if err == nil {
		lock.Close()
	}
	errs["Lock"] = err
	_, errs["List"] = s.List()
	errs["Remove"] = s.Remove("a@b.c")
	_, errs["Recover"] = s.Recover("a@b.c", func([]byte) bool { return true })
	return errs
}

// checkRefused fails unless every method of s refuses with an
// *InsecureError whose message is want.
func checkRefused(t *testing.T, s *Store, want string) {
	t.Helper()
	for method, err := range everyMethod(t, s) {
		var ie *InsecureError
		if !errors.As(err, &ie) || !ie.Unsafe() {
			t.Errorf("%s: %v, want an *InsecureError", method, err)
			continue
		}
		if err.Error() != want {
			t.Errorf("%s:\n got %s\nwant %s", method, err, want)
		}
	}
}

func TestSymbolicLinkedFoldersAreRefused(t *testing.T) {
	for _, which := range []string{"akiflow-token", "akiflow-token/h"} {
		t.Run(which, func(t *testing.T) {
			root := useTempCache(t)
			target := t.TempDir() // a private folder, but not a real one at the path
			link := filepath.Join(root, which)
			os.MkdirAll(filepath.Dir(link), 0o700)
			if err := makeSymlink(target, link); errors.Is(err, errors.ErrUnsupported) {
				t.Skip(err)
			} else if err != nil {
				t.Fatal(err)
			}
			info, _ := os.Lstat(link)
			checkRefused(t, Open("h", testRecordSize),
				fmt.Sprintf("refusing to use %s: it is a symbolic link; remove it, and run again: %s", link, removeFix(link, info)))
			if entries, _ := os.ReadDir(target); len(entries) != 0 {
				t.Errorf("the link's target was written to: %v", entries)
			}
		})
	}
}

func TestFilesWhereFoldersShouldBeAreRefused(t *testing.T) {
	root := useTempCache(t)
	path := filepath.Join(root, "akiflow-token")
	os.WriteFile(path, nil, 0o600)
	info, _ := os.Lstat(path)
	checkRefused(t, Open("h", testRecordSize),
		fmt.Sprintf("refusing to use %s: it is not a folder; remove it, and run again: %s", path, removeFix(path, info)))
}

func TestFolderModesAreMadePrivate(t *testing.T) {
	skipModes(t)
	root := useTempCache(t)
	os.Chmod(root, 0o755) // the cache home: left alone
	app, host := filepath.Join(root, "akiflow-token"), filepath.Join(root, "akiflow-token", "h")
	os.MkdirAll(host, 0o700)
	os.Chmod(app, 0o755)
	os.Chmod(host, 0o777)
	s := Open("h", testRecordSize)
	if _, err := s.Read("a@b.c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read: %v, want ErrNotFound", err)
	}
	for path, want := range map[string]os.FileMode{root: 0o755, app: 0o700, host: 0o700} {
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, info.Mode().Perm(), want, err)
		}
	}
}

func TestFoldersOfAnotherUserAreRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: only root can give a folder to another user")
	}
	for _, which := range []string{"akiflow-token", "akiflow-token/h"} {
		t.Run(which, func(t *testing.T) {
			root := useTempCache(t)
			dir := filepath.Join(root, which)
			os.MkdirAll(dir, 0o700)
			if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil {
				t.Fatal(err)
			}
			checkRefused(t, Open("h", testRecordSize),
				fmt.Sprintf(`refusing to use %s: it belongs to another user (uid %d); to fix it, run: chown -R 0 %s`, dir, nobodyUID, dir))
		})
	}
}

func TestCacheHome(t *testing.T) {
	skipModes(t)
	const elsewhere = "set XDG_CACHE_HOME to a folder of your own"
	for _, tc := range []struct {
		name  string
		mode  os.FileMode
		owner int // -1: ours
		want  string
	}{
		{"private", 0o700, -1, ""},
		{"group-writable", 0o770, -1, `refusing to use ROOT: its group can write to it (mode 0770) and it has no sticky bit; ` + elsewhere + `, or run: chmod g-w ROOT`},
		{"group-writable with the sticky bit", 0o770 | os.ModeSticky, -1, ""},
		{"world-writable with the sticky bit", 0o777 | os.ModeSticky, -1, ""},
		{"world-writable", 0o777, -1, `refusing to use ROOT: anyone can write to it (mode 0777) and it has no sticky bit; ` + elsewhere + `, or run: chmod go-w ROOT`},
		{"root's", 0o755, 0, ""},
		{"another user's", 0o755, nobodyUID, "refusing to use ROOT: it belongs to another user (uid 65534); " + elsewhere},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.owner >= 0 && os.Getuid() != 0 {
				t.Skip("needs root: only root can give a folder to another user")
			}
			root := useTempCache(t)
			if err := os.Chmod(root, tc.mode); err != nil {
				t.Fatal(err)
			}
			if tc.owner >= 0 {
				os.Chown(root, tc.owner, tc.owner)
			}
			s := Open("h", testRecordSize)
			if tc.want != "" {
				checkRefused(t, s, strings.ReplaceAll(tc.want, "ROOT", root))
				return
			}
			if err := s.Write("a@b.c", []byte("x")); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Read("a@b.c"); err != nil || string(got) != "x" {
				t.Errorf("Read = %q, %v", got, err)
			}
			if info, _ := os.Stat(root); info.Mode()&(os.ModePerm|os.ModeSticky) != tc.mode {
				t.Errorf("the cache home's mode changed to %v", info.Mode())
			}
		})
	}
}

func TestCacheHomeThroughASymbolicLinkIsFollowed(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "cache")
	if err := makeSymlink(real, link); errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	t.Setenv("XDG_CACHE_HOME", link)
	xdg.Reload()
	t.Cleanup(xdg.Reload)
	if err := Open("h", testRecordSize).Write("a@b.c", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(real, "akiflow-token", "h", "a@b.c.json")); err != nil {
		t.Error(err)
	}
}

func TestMissingCacheHomeIsCreated(t *testing.T) {
	root := filepath.Join(useTempCache(t), "new", "cache")
	t.Setenv("XDG_CACHE_HOME", root)
	s := Open("h", testRecordSize)
	if _, err := s.Read("a@b.c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Read: %v", err)
	}
	if _, err := os.Stat(root); err == nil {
		t.Error("Read created the cache home")
	}
	if err := s.Write("a@b.c", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(root); err != nil || !info.IsDir() || runtime.GOOS != "windows" && info.Mode().Perm() != 0o700 {
		t.Errorf("the new cache home: %v, %v", info, err)
	}
}

// setenv sets or (with "unset") unsets an environment variable for the test.
func setenv(t *testing.T, name, value string) {
	t.Setenv(name, value)
	if value == "unset" {
		os.Unsetenv(name)
	}
}

func TestNoHomeNoCacheHome(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("HOME means nothing to the cache on Windows: TestCacheHomeOnWindows")
	}
	wd, _ := os.Getwd()
	_, slashCacheErr := os.Lstat("/.cache")
	for _, tc := range []struct {
		home, cacheHome string
		want            string // the folder's parent; "" for ErrNoCacheHome
	}{
		{"unset", "unset", ""},
		{"", "", ""},
		{"unset", "relative/cache", ""},
		{"relative", "unset", ""},
		{"unset", "~/cache", ""}, // adrg/xdg makes it /cache
		{"unset", "/abs/cache", "/abs/cache"},
		{"/home/x", "relative/cache", "HOME"}, // ignored, as the XDG spec says
		{"/home/x", "~/cache", "/home/x/cache"},
	} {
		t.Run(fmt.Sprintf("HOME=%s,XDG_CACHE_HOME=%s", tc.home, tc.cacheHome), func(t *testing.T) {
			setenv(t, "HOME", tc.home)
			setenv(t, "XDG_CACHE_HOME", tc.cacheHome)
			xdg.Reload()
			t.Cleanup(xdg.Reload)
			s := Open("h", testRecordSize)
			if tc.want != "" {
				want := tc.want
				if want == "HOME" {
					want = xdg.CacheHome // ~/.cache, ~/Library/Caches on macOS
					if !strings.HasPrefix(want, tc.home+"/") {
						t.Fatalf("xdg.CacheHome = %s, not under HOME", want)
					}
				}
				if got := filepath.Dir(filepath.Dir(s.Dir())); got != want {
					t.Errorf("the cache home is %s, want %s", got, want)
				}
				return
			}
			for method, err := range everyMethod(t, s) {
				if !errors.Is(err, ErrNoCacheHome) || !refused(err) {
					t.Errorf("%s: %v, want ErrNoCacheHome", method, err)
				}
			}
			if _, err := s.Adopt("a@b.c", os.Stdin); !errors.Is(err, ErrNoCacheHome) {
				t.Errorf("AdoptLock: %v", err)
			}
			if got, want := ErrNoCacheHome.Error(), "cannot find the cache folder: set HOME or XDG_CACHE_HOME to an absolute path (without control characters)"; got != want {
				t.Errorf("message %q, want %q", got, want)
			}
			if _, err := os.Lstat("/.cache"); slashCacheErr != nil && err == nil {
				t.Error("/.cache was created")
			}
			for _, rel := range []string{"relative", "akiflow-token", "cache"} {
				if _, err := os.Lstat(filepath.Join(wd, rel)); err == nil {
					t.Errorf("%s was created in the working folder", rel)
				}
			}
		})
	}
}

// skipModes skips t on Windows, where Unix's modes and uids mean nothing:
// the DACL rule replaces them (TestJudgeSecurity on every system, and
// the Windows tests of acl_windows_test.go).
func skipModes(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("modes and uids are Unix's: Windows has the DACL rule instead (TestJudgeSecurity)")
	}
}

func refused(err error) bool {
	var u interface{ Unsafe() bool }
	return errors.As(err, &u) && u.Unsafe()
}
