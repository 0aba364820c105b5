//go:build linux

package main_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
	"akiflow-token/keyring/keyringtest"
)

// The refresh token in the OS keyring, end to end: the program against a
// real gnome-keyring on a private session bus (keyringtest), and the fake
// Akiflow. The keyring's own failures (no bus, no service, a service that
// never answers) are package keyring's tests.

// keyringWorld is a world whose program reaches a private bus with an
// unlocked gnome-keyring on it.
func keyringWorld(t *testing.T) (*world, *keyringtest.Session) {
	t.Helper()
	bus := keyringtest.NewBus(t)
	bus.StartKeyring()
	w := newWorld(t)
	w.env = append(w.env, "DBUS_SESSION_BUS_ADDRESS="+bus.Address)
	return w, bus
}

// inKeyring is what the keyring holds for email's refresh token, read by
// libsecret's secret-tool: "" when nothing.
func (w *world) inKeyring(bus *keyringtest.Session, email string) string {
	w.t.Helper()
	host := strings.TrimPrefix(w.srv.URL, "http://")
	cmd := exec.Command("secret-tool", "lookup", "application", "akiflow-token", "host", host, "account", email)
	cmd.Env = bus.Env
	out, _ := cmd.Output() // exit 1: no such item
	return string(out)
}

// A login with --store keyring keeps the refresh token in the keyring and
// not in the cache file; a cache hit needs no keyring (no bus at all);
// refreshes rotate the keyring's token, one for 50 callers at once; status
// says where it is; store moves it both ways; logout removes it.
func TestKeyringSession(t *testing.T) {
	t.Parallel()
	w, bus := keyringWorld(t)
	token := w.login(alice, "--store", "keyring")
	rt := w.inKeyring(bus, alice)
	if rt == "" {
		t.Fatal("the keyring holds no refresh token after the login")
	}
	s := w.session(alice)
	check(t, "the record's refresh_in", s["refresh_in"], "keyring")
	check(t, "a refresh token in the record", s["refresh_token"] != nil, false)

	// A cache hit: no bus is needed.
	before := w.counts()
	res := w.runEnv([]string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent"})
	check(t, "a cache hit without a bus", w.tokenOf(res), token)
	check(t, "its stderr", res.stderr, "")

	w.expire(alice)
	n := repeat(50, 8)
	for i, r := range w.parallel(n, "-e", alice) {
		check(t, fmt.Sprintf("caller %d of %d: exit", i, n), r.code, 0)
	}
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	if now := w.inKeyring(bus, alice); now == "" || now == rt {
		t.Error("the keyring's refresh token was not rotated")
	}
	check(t, "a refresh token in the record after the refresh", w.session(alice)["refresh_token"] != nil, false)

	res = w.run("status")
	if !strings.Contains(res.stdout, "refresh: held in the keyring\n") {
		t.Errorf("status:\n%s", res.stdout)
	}

	res = w.run("store", "file")
	check(t, "store file: exit", res.code, 0)
	check(t, "store file: stderr", res.stderr, "moved the refresh token of alice@example.com from the keyring to the cache file\n")
	check(t, "the keyring after store file", w.inKeyring(bus, alice), "")
	check(t, "a refresh token in the record after store file", w.session(alice)["refresh_token"] != nil, true)
	res = w.run("store", "keyring")
	check(t, "store keyring: exit", res.code, 0)
	check(t, "a refresh token in the record after store keyring", w.session(alice)["refresh_token"] != nil, false)
	w.expire(alice)
	w.tokenOf(w.run("-e", alice))

	check(t, "logout", w.run("logout").code, 0)
	check(t, "the keyring after logout", w.inKeyring(bus, alice), "")
}

// A locked keyring stops a refresh before it is sent, at once: an error
// that names it and says how to unlock it, exit 1; the session is kept.
func TestKeyringLocked(t *testing.T) {
	t.Parallel()
	w, bus := keyringWorld(t)
	w.login(alice, "--store", "keyring")
	w.expire(alice)
	bus.Lock()
	before := w.counts()
	start := time.Now()
	res := w.run()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the call took %s", d)
	}
	check(t, "exit status", res.code, 1)
	check(t, "stdout", res.stdout, "")
	if !strings.Contains(res.stderr, "the keyring is locked; unlock it") || strings.Count(res.stderr, "\n") != 1 {
		t.Errorf("stderr: want one line saying the keyring is locked:\n%s", redact(res.stderr))
	}
	w.checkRequests(before, map[string]int{})
	check(t, "the record's refresh_in", w.session(alice)["refresh_in"], "keyring")
}

// Killed at any moment of a refresh, a keyring session is never lost: the
// keyring gets the new refresh token before the record stops naming the
// old one.
func TestKeyringKilledRefreshesLoseNoSession(t *testing.T) {
	t.Parallel()
	kills := repeat(40, 8)
	w, _ := keyringWorld(t)
	w.login(alice, "--store", "keyring")
	w.srv.SetLatency(3 * time.Millisecond)
	logins := w.srv.Count(akiflowtest.RouteLogin)
	for i := range kills {
		w.killDuringRefresh(30 * time.Millisecond)
		r := w.run("-e", alice)
		if r.code != 0 {
			t.Fatalf("kill %d: the next call exited %d: %s", i, r.code, redact(r.stderr))
		}
		w.tokenOf(r)
	}
	check(t, "logins after the kills", w.srv.Count(akiflowtest.RouteLogin)-logins, 0)
}
