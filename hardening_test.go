// End-to-end tests of the promises under attack: a hostile or broken
// server, hostile input, a full stdout. Each class of attack has one test.
package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// nearExpiry leaves the cached token of email a minute: good, but under
// --min-ttl, so the next call refreshes.
func (w *world) nearExpiry(email string) {
	w.editSession(email, func(s map[string]any) {
		s["expires_at"] = time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	})
}

// A refresh token is forgotten only when Akiflow's refresh endpoint
// rejects it with an OAuth error. Any other failure keeps it: a
// still-good token is printed with a warning (exit 0); without one, the
// exit status names the failure, and a 400/401/403 suggests a login.
func TestRefreshTokenIsKeptUnlessAkiflowRejectsIt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		route string
		fault akiflowtest.Fault
		tries int // how many times the fault is served
		code  int // exit status once the token has expired
		words string
		login bool // the error suggests a login
	}{
		{"csrf-cookie 401", akiflowtest.RouteCSRF, akiflowtest.Reply(401, "application/json", `{"error":"invalid_grant"}`), 1, 1, "HTTP 401", true},
		{"csrf-cookie 404", akiflowtest.RouteCSRF, akiflowtest.Reply(404, "text/html", "<h1>Not Found</h1>"), 1, 1, "HTTP 404", false},
		{"400 proxy page", akiflowtest.RouteRefresh, akiflowtest.Reply(400, "text/html", "<h1>Bad Request</h1>"), 1, 1, "HTTP 400", true},
		{"401 proxy page", akiflowtest.RouteRefresh, akiflowtest.Reply(401, "text/html", "<h1>Unauthorized</h1>"), 1, 1, "HTTP 401", true},
		{"403 firewall", akiflowtest.RouteRefresh, akiflowtest.Reply(403, "text/plain", "error code: 1010"), 1, 1,
			"a firewall or proxy in front of Akiflow refused this client, not Akiflow itself (error code: 1010)", true},
		{"404", akiflowtest.RouteRefresh, akiflowtest.Reply(404, "text/html", "<h1>Not Found</h1>"), 1, 1, "HTTP 404", false},
		{"418", akiflowtest.RouteRefresh, akiflowtest.Reply(418, "application/json", `{"message":"I'm a teapot"}`), 1, 1, "HTTP 418", false},
		{"419 twice", akiflowtest.RouteRefresh, akiflowtest.Reply(419, "application/json", `{"message":"CSRF token mismatch."}`), 2, 1, "HTTP 419", false},
		{"500", akiflowtest.RouteRefresh, akiflowtest.Reply(500, "application/json", `{"message":"Server Error"}`), 1, 4, "HTTP 500", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.login(alice)
			saved, err := w.readSession(alice)
			if err != nil {
				t.Fatal(err)
			}
			faults := make([]akiflowtest.Fault, tc.tries)
			for i := range faults {
				faults[i] = tc.fault
			}

			// A still-good token: printed, with one warning.
			w.nearExpiry(alice)
			w.srv.Fail(tc.route, faults...)
			res := w.run("--timeout", "1s")
			w.tokenOf(res)
			if lines := strings.Split(strings.TrimSpace(res.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], tc.words) {
				t.Errorf("stderr: want one warning naming %q, got:\n%s", tc.words, redact(res.stderr))
			}

			// An expired one: the status names the failure.
			w.expire(alice)
			w.srv.Fail(tc.route, faults...)
			res = w.run("--timeout", "1s")
			check(t, "exit status with an expired token", res.code, tc.code)
			check(t, "stdout", res.stdout, "")
			if !strings.Contains(res.stderr, tc.words) || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
				t.Errorf("stderr: want one line naming %q, got:\n%s", tc.words, redact(res.stderr))
			}
			if suggests := strings.Contains(res.stderr, `run "akiflow-token login"`); suggests != tc.login {
				t.Errorf("suggests a login: %v, want %v:\n%s", suggests, tc.login, redact(res.stderr))
			}

			// The refresh token was kept: the next call refreshes with it.
			now, err := w.readSession(alice)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "the refresh token kept", now["refresh_token"], saved["refresh_token"])
			w.tokenOf(w.run())
		})
	}
}

// A reply that rotates the refresh token but carries a hostile or unusable
// access token: nothing is printed in any format (exit 4), and the new
// refresh token is saved, so that the next call refreshes instead of
// asking for a login.
func TestHostileAccessTokenIsNeverPrinted(t *testing.T) {
	hostile := map[string]func(map[string]any){
		"line break": func(r map[string]any) { r["access_token"] = "x\nprotocol=https\nhost=evil.example" },
		"CR and NUL": func(r map[string]any) { r["access_token"] = "x\r\x00header = \"X-Evil: 1\"" },
		"C1 CSI":     func(r map[string]any) { r["access_token"] = "x\u009b2Jy" },
		"space":      func(r map[string]any) { r["access_token"] = "x -K /etc/passwd" },
		"empty":      func(r map[string]any) { r["access_token"] = "" },
		"no expiry":  func(r map[string]any) { r["access_token"] = "opaque"; delete(r, "expires_in") },
	}
	for name, edit := range hostile {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			w.login(alice)
			for _, format := range []string{"token", "header", "json", "curl", "exec-credential"} {
				w.expire(alice)
				w.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Rewrite(akiflowtest.RouteRefresh, edit))
				res := w.run("-o", format)
				check(t, format+": exit status", res.code, 4)
				check(t, format+": stdout", res.stdout, "")
				if strings.ContainsAny(strings.TrimSuffix(res.stderr, "\n"), "\n\r\x00\u009b") {
					t.Errorf("%s: stderr is not one clean line: %q", format, res.stderr)
				}
				// The new refresh token was saved: this call refreshes.
				w.tokenOf(w.run("--force-refresh"))
			}
			// git's get: no credential lines either.
			w.expire(alice)
			w.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Rewrite(akiflowtest.RouteRefresh, edit))
			u := strings.TrimPrefix(w.srv.URL, "http://")
			res := w.runStdin(strings.NewReader("protocol=http\nhost="+u+"\n\n"), nil, "git-credential", "get")
			check(t, "git get: stdout", res.stdout, "")
			check(t, "git get: exit status", res.code, 4)
		})
	}
}

// Short-lived tokens cost one refresh per half lifetime, not one per call:
// the effective --min-ttl is at most half the issued lifetime.
func TestShortLivedTokensAreNotRefreshedAtEveryCall(t *testing.T) {
	w := newWorld(t)
	w.srv.SetExpiresIn(20) // under --min-ttl (5m)
	w.login(alice)
	before := w.counts()
	for range 5 {
		w.tokenOf(w.run())
	}
	results := w.parallel(10)
	for _, res := range results {
		w.tokenOf(res)
	}
	w.checkRequests(before, map[string]int{})
	saved, err := w.readSession(alice)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "saved lifetime", saved["lifetime"], float64(20))
}

// Emails are refused before any request when they hold invisible or
// control characters, or cannot name a file.
func TestUnsafeEmailsAreRefusedBeforeAnyRequest(t *testing.T) {
	w := newWorld(t)
	for _, email := range []string{"a\u202e@example.com", "a\u200b@example.com", "a\u009b@example.com", "a\x1b[2J@example.com"} {
		res := w.run("-e", email)
		check(t, fmt.Sprintf("%q: exit status", email), res.code, 80)
		if strings.ContainsAny(res.stderr, "\u202e\u200b\u009b\x1b") {
			t.Errorf("%q: the error repeats the character: %q", email, res.stderr)
		}
	}
	w.checkRequests(map[string]int{}, map[string]int{})

	// An address whose file name would be too long: refused before a code
	// is mailed, at a terminal.
	long := strings.Repeat("a", 240) + "@example.com"
	r := w.start("-e", long)
	res := r.wait()
	if res.code == 0 {
		t.Errorf("a %d-byte email: exit 0", len(long))
	}
	if n := w.srv.Count(akiflowtest.RouteLogin); n != 0 {
		t.Errorf("a %d-byte email: %d codes mailed, want 0:\n%s", len(long), n, redact(res.stderr))
	}
}

// Every command reports a failed write to stdout: exit 1, not a silent 0.
func TestFailedWritesToStdoutAreReported(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full here: %v", err)
	}
	defer full.Close()
	w := newWorld(t)
	w.login(alice)
	for _, args := range [][]string{{}, {"-o", "json"}, {"status"}, {"status", "-o", "json"}, {"--version"}} {
		res := w.runTo(full, args...)
		if res.code != 1 || !strings.Contains(res.stderr, "no space left on device") {
			t.Errorf("%v > /dev/full: exit %d, stderr %q; want exit 1 saying why", args, res.code, redact(res.stderr))
		}
	}
}

// Text from the server reaches stderr without terminal controls.
func TestServerTextIsStrippedOfControls(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.expire(alice)
	w.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(500, "application/json",
		`{"message":"down \u001b]0;owned\u0007 \u009b2J \u202egnp.exe\u200b"}`))
	res := w.run()
	check(t, "exit status", res.code, 4)
	if strings.ContainsAny(res.stderr, "\x1b\x07\u009b\u202e\u200b") {
		t.Errorf("stderr holds terminal controls: %q", res.stderr)
	}
}

// Git hosts that are not DNS names get nothing, whatever they end with.
func TestGitHostsThatAreNotNamesGetNothing(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	for _, host := range []string{"evil.com/.akiflow.com", "evil.com#.akiflow.com", `evil.com\.akiflow.com`, "evil.com?.akiflow.com"} {
		res := w.runStdin(strings.NewReader("protocol=https\nhost="+host+"\n\n"), nil, "git-credential", "get")
		check(t, host+": stdout", res.stdout, "")
		check(t, host+": exit status", res.code, 0)
	}
}

// runTo runs akiflow-token with stdout the file f (such as /dev/full).
func (w *world) runTo(f *os.File, args ...string) result {
	w.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = w.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return result{stderr: stderr.String(), code: exitCode(w.t, err)}
}

// A process killed after it saved a refreshed session to its temporary
// file but before it put the file in place leaves the only good refresh
// token there: the next run that holds the lock puts it in place. An older
// leftover is removed, not used.
func TestKilledSaveIsRecovered(t *testing.T) {
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
	leftover := filepath.Join(filepath.Dir(record), "."+filepath.Base(record)+"123456789")
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

// A file-size limit (RLIMIT_FSIZE) stops the reservation of the record's
// space, before the refresh is sent: the session is kept whole, and the
// next run without the limit refreshes with it.
func TestFileSizeLimitLosesNoSession(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	saved, err := w.readSession(alice)
	if err != nil {
		t.Fatal(err)
	}
	w.expire(alice)
	before := w.counts()
	// 32 blocks (16 or 32 KiB, as the shell counts them) is less than a
	// record's reservation.
	res := w.runProgram(nil, nil, "/bin/sh", "-c", `ulimit -f 32 && exec "$0"`, binary)
	check(t, "exit status under the limit", res.code, 1)
	check(t, "stdout under the limit", res.stdout, "")
	if !strings.Contains(res.stderr, "not refreshing, since the new session could not be saved") {
		t.Errorf("stderr does not say why:\n%s", redact(res.stderr))
	}
	w.checkRequests(before, map[string]int{})
	now, err := w.readSession(alice)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "the refresh token kept", now["refresh_token"], saved["refresh_token"])
	w.tokenOf(w.run())
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
}

// A full disk (a small tmpfs, in a mount namespace of its own) stops the
// reservation before the refresh is sent; once space is freed, the session
// refreshes. Needs root and unshare(1): skipped, with the reason, elsewhere.
func TestFullDiskLosesNoSession(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to mount a tmpfs (unshare -m)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare(1): ", err)
	}
	if out, err := exec.Command("unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt").CombinedOutput(); err != nil {
		t.Skipf("this machine does not allow a tmpfs in a mount namespace: %v %s", err, out)
	}
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
	if !strings.Contains(res.stderr, "not refreshing, since the new session could not be saved") || !strings.Contains(res.stderr, "full: 1\n") {
		t.Errorf("on a full disk: want exit 1 and no refresh sent, got:\n%s", redact(res.stderr))
	}
	if !strings.Contains(res.stderr, "freed: 0\n") {
		t.Errorf("once space was freed: want a refresh, got:\n%s", redact(res.stderr))
	}
	// One refresh in all: the one after space was freed.
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	if tokens := strings.Count(res.stdout, "\n"); tokens != 1 {
		t.Errorf("printed %d tokens, want 1", tokens)
	}
}

// While another process holds the account's lock (a login waiting at its
// code prompt, a slow refresh), a still-good token is printed with a
// warning after a short wait, not held up for the whole lock wait; an
// expired one waits.
func TestStillGoodTokenDoesNotWaitForAnotherLogin(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)
	w.nearExpiry(alice)
	lockPath := strings.TrimSuffix(w.cacheFile(alice), ".json") + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	before := w.counts()
	res := w.run()
	check(t, "the cached token", w.tokenOf(res), token)
	if !strings.Contains(res.stderr, "another akiflow-token is refreshing or logging in") {
		t.Errorf("no warning: %q", redact(res.stderr))
	}
	w.checkRequests(before, map[string]int{})
}
