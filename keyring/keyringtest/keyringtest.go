// Package keyringtest starts a private D-Bus session bus, and a real
// gnome-keyring on it, for tests of the Secret Service: nothing of the
// developer's own session is touched, and every process ends with its
// test.
package keyringtest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// Password unlocks the test keyring's "login" collection.
const Password = "test-keyring-password"

// Session is a private session bus: Env points a process at it (and at a
// private HOME and XDG_RUNTIME_DIR, with no DISPLAY).
type Session struct {
	t       testing.TB
	Address string
	Env     []string
	home    string
}

// need skips t without program, or fails it when
// AKIFLOW_TEST_REQUIRE_TOOLS=1 says every tool must be there.
func need(t testing.TB, program string) {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		if os.Getenv("AKIFLOW_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (AKIFLOW_TEST_REQUIRE_TOOLS=1) but missing", program)
		}
		t.Skipf("%s is not installed (apt-get install gnome-keyring libsecret-tools dbus)", program)
	}
}

// NewBus starts a private session bus (dbus-daemon --session), which ends
// with t.
func NewBus(t testing.TB) *Session {
	t.Helper()
	need(t, "dbus-daemon")
	dir := t.TempDir()
	home, run := filepath.Join(dir, "home"), filepath.Join(dir, "run")
	for _, d := range []string{home, run} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--print-address=1")
	cmd.Env = cleanEnv(home, run)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	addr := strings.TrimSpace(line)
	s := &Session{t: t, Address: addr, home: home}
	s.Env = append(cleanEnv(home, run), "DBUS_SESSION_BUS_ADDRESS="+addr)
	return s
}

// cleanEnv is the environment of the test's processes: this one's, without
// the developer's session (its bus, display or keyring).
func cleanEnv(home, run string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "GNOME_KEYRING_CONTROL", "HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "XDG_RUNTIME_DIR="+run, "XDG_DATA_HOME="+filepath.Join(home, ".local", "share"))
}

// Use points this process at the bus for the rest of t (the backend reads
// DBUS_SESSION_BUS_ADDRESS when it connects).
func (s *Session) Use(t testing.TB) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", s.Address)
}

// StartKeyring starts gnome-keyring's Secret Service on the bus, its
// "login" collection made and unlocked with Password, and waits until it
// owns org.freedesktop.secrets. It ends with t (and with the bus).
func (s *Session) StartKeyring() {
	t := s.t
	t.Helper()
	need(t, "gnome-keyring-daemon")
	cmd := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	cmd.Env = s.Env
	cmd.Stdin = strings.NewReader(Password)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s.waitOwner("org.freedesktop.secrets", true)
}

// Lock locks the default collection, as a screen lock would.
func (s *Session) Lock() {
	s.t.Helper()
	s.call(func(conn *dbus.Conn) error {
		var locked []dbus.ObjectPath
		var prompt dbus.ObjectPath
		return conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets").
			Call("org.freedesktop.Secret.Service.Lock", 0, []dbus.ObjectPath{"/org/freedesktop/secrets/aliases/default"}).Store(&locked, &prompt)
	})
}

// Owned says whether a name has an owner on the bus.
func (s *Session) Owned(name string) bool {
	s.t.Helper()
	var owned bool
	s.call(func(conn *dbus.Conn) error {
		return conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&owned)
	})
	return owned
}

// Hang takes org.freedesktop.secrets on the bus and never answers a call
// to it: a service that is slow, or stuck.
func (s *Session) Hang() {
	t := s.t
	t.Helper()
	conn, err := dbus.Connect(s.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// A handler that holds every call: the caller waits for an answer
	// that never comes.
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	if err := conn.ExportMethodTable(map[string]any{
		"Get": func(string, string) (dbus.Variant, *dbus.Error) { <-block; return dbus.Variant{}, nil },
	}, "/org/freedesktop/secrets/aliases/default", "org.freedesktop.DBus.Properties"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.secrets", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("taking org.freedesktop.secrets: %v %v", reply, err)
	}
}

func (s *Session) call(f func(*dbus.Conn) error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dbus.Connect(s.Address, dbus.WithContext(ctx))
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	if err := f(conn); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Session) waitOwner(name string, want bool) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Owned(name) != want {
		if time.Now().After(deadline) {
			s.t.Fatalf("%s never got an owner on the test bus", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
