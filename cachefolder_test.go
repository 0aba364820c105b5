// End-to-end tests of the cache folder: the folders are the user's own or
// not used, records and lock files are opened without following links or
// waiting on FIFOs, and there is no guessing of a cache folder without HOME.
package main_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// appFolder is the akiflow-token folder of the world's cache home.
func (w *world) appFolder() string { return filepath.Join(w.home, ".cache", "akiflow-token") }

// checkRefusal fails unless r is exit 1 with exactly the one line want on
// stderr, nothing on stdout, and no request sent since before.
func (w *world) checkRefusal(t *testing.T, r result, before map[string]int, want string) {
	t.Helper()
	check(t, "exit status", r.code, 1)
	check(t, "stdout", r.stdout, "")
	check(t, "stderr", r.stderr, "akiflow-token: "+want+"\n")
	w.checkRequests(before, map[string]int{})
}

func TestSymbolicLinksAsCacheFoldersAreRefused(t *testing.T) {
	for _, which := range []string{"akiflow-token", "host"} {
		t.Run(which, func(t *testing.T) {
			w := newWorld(t)
			w.login(alice)
			dir := w.appFolder()
			if which == "host" {
				dir = filepath.Dir(w.cacheFile(alice))
			}
			// The same private folder, with the session in it, moved aside
			// and linked to: still refused.
			if err := os.Rename(dir, dir+".real"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(dir+".real", dir); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("refusing to use %s: it is a symbolic link; remove it (rm %s) and run again", dir, dir)
			before := w.counts()
			for _, args := range [][]string{nil, {"-e", alice}, {"status"}, {"logout"}} {
				w.checkRefusal(t, w.run(args...), before, want)
			}
			// Doing what it says mends it: no session, and no error.
			os.Remove(dir)
			check(t, "exit status after rm", w.run().code, 3)
		})
	}
}

func TestCacheFolderModesAreMadePrivate(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)
	app, host := w.appFolder(), filepath.Dir(w.cacheFile(alice))
	os.Chmod(app, 0o755)
	os.Chmod(host, 0o777)
	r := w.run()
	check(t, "the cached token", w.tokenOf(r), token)
	check(t, "stderr", r.stderr, "")
	for _, dir := range []string{app, host} {
		info, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		check(t, dir+" mode", info.Mode().Perm(), os.FileMode(0o700))
	}
}

func TestCacheFoldersOfAnotherUserAreRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: only root can give a folder to another user")
	}
	for _, which := range []string{"akiflow-token", "host"} {
		t.Run(which, func(t *testing.T) {
			w := newWorld(t)
			w.login(alice)
			dir := w.appFolder()
			if which == "host" {
				dir = filepath.Dir(w.cacheFile(alice))
			}
			if err := os.Chown(dir, int(nobody.Uid), int(nobody.Gid)); err != nil {
				t.Fatal(err)
			}
			before := w.counts()
			w.checkRefusal(t, w.run(), before,
				fmt.Sprintf(`refusing to use %s: it belongs to another user (uid %d); run "chown -R 0 %s"`, dir, nobody.Uid, dir))
		})
	}
}

func TestCacheHomeThatAnyoneCanWriteIsRefused(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)
	home := filepath.Join(w.home, ".cache")
	before := w.counts()
	for _, tc := range []struct {
		mode   os.FileMode
		refuse bool
	}{
		{0o777, true},
		{0o777 | os.ModeSticky, false}, // like /tmp: nobody can replace our folder
		{0o775, false},                 // a group that can write is fine
	} {
		if err := os.Chmod(home, tc.mode); err != nil {
			t.Fatal(err)
		}
		r := w.run()
		if tc.refuse {
			w.checkRefusal(t, r, before, fmt.Sprintf(
				`refusing to use %s: anyone can write to it (mode 0777) and it has no sticky bit; run "chmod o-w %s", or set XDG_CACHE_HOME to a folder of your own`, home, home))
		} else {
			check(t, fmt.Sprintf("the cached token with mode %v", tc.mode), w.tokenOf(r), token)
		}
		info, _ := os.Stat(home)
		check(t, "the cache home's mode, never changed", info.Mode()&(os.ModePerm|os.ModeSticky), tc.mode)
	}
}

func TestFIFOAtARecordIsNoSession(t *testing.T) {
	w := newWorld(t)
	path := w.sessionPath(alice)
	os.MkdirAll(filepath.Dir(path), 0o700)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-e", alice}, nil} {
		start := time.Now()
		r := w.run(args...)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("akiflow-token %v took %v", args, took)
		}
		check(t, "exit status", r.code, 3)
		check(t, "stdout", r.stdout, "")
		if want := path + " is not a regular file; treating it as no session"; !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, redact(r.stderr))
		}
	}
	w.checkRequests(map[string]int{}, map[string]int{})
}

func TestFIFOAtALockFileIsAnError(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	lock := strings.TrimSuffix(w.cacheFile(alice), ".json") + ".lock"
	os.Remove(lock)
	if err := syscall.Mkfifo(lock, 0o600); err != nil {
		t.Fatal(err)
	}
	before := w.counts()
	start := time.Now()
	r := w.run()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the run took %v", took)
	}
	check(t, "exit status", r.code, 1)
	check(t, "stdout", r.stdout, "")
	if want := lock + " is not a regular file"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, redact(r.stderr))
	}
	w.checkRequests(before, map[string]int{}) // no refresh without the lock
}

func TestSymbolicLinkedRecordIsNotFollowed(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	path := w.cacheFile(alice)
	target := filepath.Join(w.home, "elsewhere.json")
	if err := os.Rename(path, target); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	saved, _ := os.ReadFile(target)
	before := w.counts()
	r := w.run("-e", alice)
	check(t, "exit status", r.code, 3)
	check(t, "stdout", r.stdout, "")
	if want := path + " is a symbolic link: refusing to follow it; treating it as no session"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, redact(r.stderr))
	}
	w.checkRequests(before, map[string]int{})
	after, _ := os.ReadFile(target)
	check(t, "the link's target is untouched", bytes.Equal(after, saved), true)
}

// runWithout runs akiflow-token as run does, without the environment
// variables drop, with extra ones, in the folder dir.
func (w *world) runWithout(dir string, drop, extra []string, args ...string) result {
	w.t.Helper()
	var env []string
	for _, kv := range w.env {
		name, _, _ := strings.Cut(kv, "=")
		dropped := false
		for _, d := range drop {
			dropped = dropped || name == d
		}
		if !dropped {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(env, extra...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	timer := time.AfterFunc(time.Minute, func() {
		w.t.Errorf("akiflow-token %s did not end within a minute", strings.Join(args, " "))
		cmd.Process.Kill()
	})
	err := cmd.Wait()
	timer.Stop()
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: exitCode(w.t, err)}
	w.checkNoSecrets("stderr", r.stderr)
	return r
}

func TestNoHomeNoCacheFolder(t *testing.T) {
	w := newWorld(t)
	_, slashCacheErr := os.Lstat("/.cache")
	wd := t.TempDir()
	const want = "akiflow-token: cannot find the cache folder: set HOME or XDG_CACHE_HOME to an absolute path (without control characters)\n"
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"neither", nil},
		{"empty", []string{"HOME=", "XDG_CACHE_HOME="}},
		{"a relative XDG_CACHE_HOME", []string{"XDG_CACHE_HOME=cache"}},
		{"a relative HOME", []string{"HOME=home"}},
		{"a line break in XDG_CACHE_HOME", []string{"XDG_CACHE_HOME=/tmp/x\naccount: admin@corp.com on web.akiflow.com"}},
	} {
		for _, args := range [][]string{nil, {"-e", alice}, {"status"}, {"logout"}} {
			r := w.runWithout(wd, []string{"HOME", "XDG_CACHE_HOME"}, tc.extra, args...)
			check(t, fmt.Sprintf("%s: akiflow-token %v: exit status", tc.name, args), r.code, 1)
			check(t, fmt.Sprintf("%s: akiflow-token %v: stderr", tc.name, args), r.stderr, want)
		}
	}
	if entries, _ := os.ReadDir(wd); len(entries) != 0 {
		t.Errorf("akiflow-token made %s in the working folder", entries[0].Name())
	}
	if _, err := os.Lstat("/.cache"); slashCacheErr != nil && err == nil {
		t.Error("akiflow-token made /.cache")
	}
	w.checkRequests(map[string]int{}, map[string]int{})
}

func TestRelativeCacheHomeIsIgnored(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)
	wd := t.TempDir()
	// As the XDG spec says: a relative XDG_CACHE_HOME is ignored, for ~/.cache.
	r := w.runWithout(wd, []string{"XDG_CACHE_HOME"}, []string{"XDG_CACHE_HOME=cache"})
	check(t, "the cached token", w.tokenOf(r), token)
	if entries, _ := os.ReadDir(wd); len(entries) != 0 {
		t.Errorf("akiflow-token made %s in the working folder", entries[0].Name())
	}
}
