//go:build unix

// End-to-end tests of the cache on a real disk: a session whose refresh
// could not be saved is never sent, a kill between writing a refreshed
// session and putting it in place loses nothing, a file this user cannot
// read is no session. The rules of the cache folder and its files are
// cache's unit tests; what the program says about bad folders and files
// is in testdata/script (cache_folders.txtar, bad_cache_files.txtar).
package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A refresh whose result could not be saved is never sent (it would spend
// the refresh token): a token that is still good is printed with a
// warning, an expired one is an error (exit 1); nothing is lost, and once
// the session can be saved again, it refreshes.
func TestUnsaveableSessionSendsNoRefresh(t *testing.T) {
	t.Parallel()
	const why = "not refreshing, since the new session could not be saved"

	// A file-size limit (RLIMIT_FSIZE) stops the reservation of the
	// record's space, before the refresh is sent.
	t.Run("file-size limit", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.login(alice)
		saved := w.session(alice)
		w.expire(alice)
		before := w.counts()
		// 32 blocks (16 or 32 KiB, as the shell counts them) is less than a
		// record's reservation.
		res := w.runProgram(nil, nil, "/bin/sh", "-c", `ulimit -f 32 && exec "$0"`, binary)
		check(t, "exit status under the limit", res.code, 1)
		check(t, "stdout under the limit", res.stdout, "")
		if !strings.Contains(res.stderr, why) {
			t.Errorf("stderr does not say why:\n%s", redact(res.stderr))
		}
		w.checkRequests(before, map[string]int{})
		check(t, "the refresh token kept", w.session(alice)["refresh_token"] == saved["refresh_token"], true)
		w.tokenOf(w.run())
		w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	})

	// A folder the user cannot write to (as nobody, when the tests run as
	// root, whom modes do not stop).
	t.Run("read-only folder", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.asNobody()
		token := w.login(alice)
		w.nearExpiry(alice) // under --min-ttl: the next run wants to refresh
		w.giveHome()
		dir := filepath.Dir(w.cacheFile(alice))
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o700)

		before := w.counts()
		r := w.run()
		check(t, "the cached token", w.tokenOf(r), token)
		if !strings.Contains(r.stderr, why) {
			t.Errorf("stderr:\n%s", redact(r.stderr))
		}
		os.Chmod(dir, 0o700)
		w.expire(alice)
		w.giveHome()
		os.Chmod(dir, 0o500)
		r = w.run()
		check(t, "expired: exit status", r.code, 1)
		check(t, "expired: stdout", r.stdout, "")
		w.checkRequests(before, map[string]int{})
	})

	// A full disk (a small tmpfs, in a mount namespace of its own): once
	// space is freed, the session refreshes.
	t.Run("full disk", func(t *testing.T) {
		t.Parallel()
		needMountNamespace(t)
		w := newWorld(t)
		w.login(alice)
		w.expire(alice)
		before := w.counts()
		disk := t.TempDir()
		script := `set -e
mount -t tmpfs -o size=1m tmpfs "$DISK"
cp -a "$HOME/.cache" "$DISK/cache"
dd if=/dev/zero of="$DISK/fill" bs=4k 2>/dev/null || true
set +e
XDG_CACHE_HOME="$DISK/cache" "$BINARY"; echo "full: $?" >&2
rm "$DISK/fill"
XDG_CACHE_HOME="$DISK/cache" "$BINARY"; echo "freed: $?" >&2
`
		res := w.runProgram(nil, []string{"DISK=" + disk, "BINARY=" + binary}, "unshare", "-m", "sh", "-c", script)
		if !strings.Contains(res.stderr, why) || !strings.Contains(res.stderr, "full: 1\n") {
			t.Errorf("on a full disk: want exit 1 and no refresh sent, got:\n%s", redact(res.stderr))
		}
		if !strings.Contains(res.stderr, "freed: 0\n") {
			t.Errorf("once space was freed: want a refresh, got:\n%s", redact(res.stderr))
		}
		// One refresh in all: the one after space was freed.
		w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
		check(t, "tokens printed", strings.Count(res.stdout, "\n"), 1)
	})
}

// needMountNamespace skips a test that mounts a tmpfs in a mount namespace
// of its own (unshare -m) where it cannot.
func needMountNamespace(t *testing.T) {
	t.Helper()
	needRoot(t, "to mount a tmpfs (unshare -m)")
	needTool(t, "unshare")
	if out, err := exec.Command("unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt").CombinedOutput(); err != nil {
		t.Skipf("skipped: this machine does not allow a tmpfs in a mount namespace: %v %s", err, out)
	}
}

// A read-only cache (a read-only file system: a container's, a remounted
// home) cannot even be locked: a token that is still good, though under
// --min-ttl, is printed with one warning that says why it was not
// refreshed; an expired one is an error that names the read-only file
// system. No request is sent: a refresh could not be saved. (A folder the
// user cannot write to, on a writable file system, is
// TestUnsaveableSessionSendsNoRefresh's.)
func TestReadOnlyCache(t *testing.T) {
	t.Parallel()
	needMountNamespace(t)
	w := newWorld(t)
	token := w.login(alice)
	// runReadOnly runs akiflow-token with the cache folder a read-only
	// tmpfs holding a copy of it, in a mount namespace of its own.
	runReadOnly := func() result {
		t.Helper()
		script := `set -e
cp -a "$CACHE/." "$COPY/"
mount -t tmpfs -o size=1m,mode=0700 tmpfs "$CACHE"
cp -a "$COPY/." "$CACHE/"
mount -o remount,ro "$CACHE"
exec "$BINARY"`
		cache := filepath.Join(w.home, ".cache")
		return w.runProgram(nil, []string{"CACHE=" + cache, "COPY=" + t.TempDir(), "BINARY=" + binary}, "unshare", "-m", "sh", "-c", script)
	}

	w.nearExpiry(alice) // good for a minute: under --min-ttl
	before := w.counts()
	res := runReadOnly()
	check(t, "a still-good token: the cached token", w.tokenOf(res), token)
	warning := "akiflow-token: warning: using the cached token, which expires in "
	if line, ok := strings.CutSuffix(res.stderr, "\n"); !ok || strings.Contains(line, "\n") ||
		!strings.Contains(line, "read-only file system") || !strings.HasPrefix(line, warning) || !strings.Contains(line, "(no refresh runs without the account's lock): ") {
		t.Errorf("a still-good token: want one warning naming the read-only file system, got:\n%s", redact(res.stderr))
	}

	w.expire(alice)
	res = runReadOnly()
	if res.code == 0 {
		t.Errorf("an expired token: exit status 0")
	}
	check(t, "an expired token: stdout", res.stdout, "")
	if !strings.Contains(res.stderr, "read-only file system") || strings.Count(res.stderr, "\n") != 1 {
		t.Errorf("an expired token: want one line naming the read-only file system, got:\n%s", redact(res.stderr))
	}
	w.checkRequests(before, map[string]int{})
}

// A .partial folder on another file system (a mount over it) would fail
// the rename after the refresh spent the token: it is refused before any
// request, naming the fix.
func TestPartialFolderOnAnotherFileSystem(t *testing.T) {
	t.Parallel()
	needMountNamespace(t)
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	partial := filepath.Join(filepath.Dir(w.cacheFile(alice)), ".partial")
	before := w.counts()
	res := w.runProgram(nil, []string{"PARTIAL=" + partial, "BINARY=" + binary}, "unshare", "-m", "sh", "-c",
		`mount -t tmpfs -o size=1m,mode=0700 tmpfs "$PARTIAL" && exec "$BINARY"`)
	check(t, "exit status", res.code, 1)
	check(t, "stdout", res.stdout, "")
	if !strings.Contains(res.stderr, "it is on another file system than") || !strings.Contains(res.stderr, "unmount it, remove it, and run again: rm -r ") {
		t.Errorf("stderr does not say why:\n%s", redact(res.stderr))
	}
	w.checkRequests(before, map[string]int{})
}

// A process killed after it saved a refreshed session to its temporary
// file but before it put the file in place leaves the only good refresh
// token there: the next run that holds the lock puts it in place. An older
// leftover is removed, not used; logout removes leftovers too. (Which
// leftover is kept is cache's TestSalvage…; here, that the program
// salvages under the lock.)
func TestKilledSaveIsRecovered(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.login(alice)
	record := w.cacheFile(alice)
	old, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	w.tokenOf(w.run("--force-refresh")) // the server rotates the refresh token
	newer, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	// As a kill between fsync and rename leaves it: the new session in a
	// temporary file (with the reservation's zeros after it), the spent one
	// in place.
	leftover := filepath.Join(filepath.Dir(record), ".partial", "."+filepath.Base(record)+"123456789")
	if err := os.WriteFile(leftover, append(newer, make([]byte, 4096)...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(record, old, 0o600); err != nil {
		t.Fatal(err)
	}
	var recovered map[string]any
	json.Unmarshal(newer, &recovered)
	before := w.counts()
	// --force-refresh finds, under the lock, a session other than the one
	// it meant to replace: the recovered one, which it prints.
	check(t, "the recovered token", w.tokenOf(w.run("--force-refresh")), recovered["access_token"])
	w.checkRequests(before, map[string]int{})
	// Its refresh token is the live one: a refresh needs no login.
	w.tokenOf(w.run("--force-refresh"))
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("the leftover is still there: %v", err)
	}

	// A leftover older than the record is removed, and not used.
	if err := os.WriteFile(leftover, old, 0o600); err != nil {
		t.Fatal(err)
	}
	w.tokenOf(w.run("--force-refresh"))
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("the old leftover is still there: %v", err)
	}
	// logout removes leftovers too.
	if err := os.WriteFile(leftover, old, 0o600); err != nil {
		t.Fatal(err)
	}
	check(t, "logout", w.run("logout").code, 0)
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("logout left the leftover: %v", err)
	}
}

// A session file the user cannot read is no session, with a warning, and
// no request. (Run as nobody when the tests run as root, whom modes do
// not stop.)
func TestUnreadableCacheFileIsNoSession(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.asNobody()
	w.login(alice)
	w.giveHome()
	os.Chmod(w.cacheFile(alice), 0o000)
	before := w.counts()
	r := w.run()
	check(t, "exit status", r.code, 3)
	if !strings.Contains(r.stderr, "treating it as no session") {
		t.Errorf("stderr:\n%s", redact(r.stderr))
	}
	w.checkRequests(before, map[string]int{})
}
