//go:build linux

package keyring_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"akiflow-token/keyring"
	"akiflow-token/keyring/keyringtest"
)

const (
	host    = "web.akiflow.com"
	store   = "/home/alice/.cache/akiflow-token/web.akiflow.com"
	account = "alice@example.com"
	secret  = "def50200-refresh-token"
)

// A refresh token round-trips through gnome-keyring: set, get, replaced,
// removed; items are apart by host, store and account (two cache folders'
// sessions of one account never share one); reading one that is not there
// is "", and removing it no error.
func TestSecretService(t *testing.T) {
	bus := keyringtest.NewBus(t)
	bus.StartKeyring()
	bus.Use(t)
	k := keyring.Open()
	if got, err := k.Get(host, store, account); got != "" || err != nil {
		t.Fatalf("Get of nothing = %q, %v", got, err)
	}
	if err := k.Set(host, store, account, secret); err != nil {
		t.Fatal(err)
	}
	if err := k.Set("other.example", store, account, "other-host"); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Get(host, store, account); got != secret || err != nil {
		t.Errorf("Get = %q, %v", got, err)
	}
	const otherStore = "/tmp/sandbox/cache/akiflow-token/web.akiflow.com"
	if got, err := k.Get(host, otherStore, account); got != "" || err != nil {
		t.Errorf("another store's Get = %q, %v; want none", got, err)
	}
	if err := k.Set(host, otherStore, account, "other-store"); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(host, otherStore, account); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(host, store, account, secret+"-2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.Get(host, store, account); got != secret+"-2" {
		t.Errorf("Get after a second Set = %q", got)
	}
	// secret-tool, a libsecret client, finds it by the same attributes.
	if out, err := exec.Command("secret-tool", "lookup", "application", "akiflow-token", "host", host, "account", account).Output(); err == nil && string(out) != secret+"-2" {
		t.Errorf("secret-tool finds %q", out)
	}
	if err := k.Delete(host, store, account); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Get(host, store, account); got != "" || err != nil {
		t.Errorf("Get after Delete = %q, %v", got, err)
	}
	if err := k.Delete(host, store, account); err != nil {
		t.Errorf("Delete of nothing: %v", err)
	}
	if got, _ := k.Get("other.example", store, account); got != "other-host" {
		t.Errorf("another host's item: %q", got)
	}
}

// A locked collection is an error that says how to unlock it, at once:
// no prompt, no wait.
func TestSecretServiceLocked(t *testing.T) {
	bus := keyringtest.NewBus(t)
	bus.StartKeyring()
	bus.Use(t)
	k := keyring.Open()
	if err := k.Set(host, store, account, secret); err != nil {
		t.Fatal(err)
	}
	bus.Lock()
	for name, op := range map[string]func() error{
		"Get":    func() error { _, err := k.Get(host, store, account); return err },
		"Set":    func() error { return k.Set(host, store, account, secret) },
		"Delete": func() error { return k.Delete(host, store, account) },
	} {
		start := time.Now()
		err := op()
		checkError(t, name, err, "the keyring is locked", "unlock it")
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %s", name, d)
		}
	}
}

// Without a session bus, or with no Secret Service on it, the error says
// so and what to do, and nothing is started: no bus (dbus-launch), and no
// gnome-keyring by the bus's activation of org.freedesktop.secrets, which
// this bus could do (gnome-keyring installs its .service file).
func TestSecretServiceMissing(t *testing.T) {
	t.Run("no bus", func(t *testing.T) {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
		t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
		t.Setenv("DISPLAY", ":0") // what makes go-keyring's dbus-launch start a bus
		_, err := keyring.Open().Get(host, store, account)
		checkError(t, "Get", err, "there is no D-Bus session bus", "--store file")
	})
	t.Run("no service", func(t *testing.T) {
		bus := keyringtest.NewBus(t)
		bus.Use(t)
		_, err := keyring.Open().Get(host, store, account)
		checkError(t, "Get", err, "no Secret Service runs on the session bus", "gnome-keyring-daemon")
		if bus.Owned("org.freedesktop.secrets") {
			t.Error("the bus started a Secret Service")
		}
	})
	t.Run("not a unix socket", func(t *testing.T) {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unixexec:path=/bin/true")
		_, err := keyring.Open().Get(host, store, account)
		checkError(t, "Get", err, "is not a unix socket", "DBUS_SESSION_BUS_ADDRESS")
	})
}

// A service that never answers costs Timeout, and the error says it may
// answer later.
func TestSecretServiceSlow(t *testing.T) {
	bus := keyringtest.NewBus(t)
	bus.Hang()
	bus.Use(t)
	defer func(d time.Duration) { keyring.Timeout = d }(keyring.Timeout)
	keyring.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := keyring.Open().Get(host, store, account)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Get took %s against a Timeout of 300ms", d)
	}
	checkError(t, "Get", err, "no answer within 300ms", "")
	var ke *keyring.Error
	if !errors.As(err, &ke) || !ke.Timeout() {
		t.Errorf("%v: not a timeout", err)
	}
}

func checkError(t *testing.T, op string, err error, what, fix string) {
	t.Helper()
	var ke *keyring.Error
	switch {
	case !errors.As(err, &ke):
		t.Errorf("%s: %v, want a *keyring.Error", op, err)
	case !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), fix) || !strings.Contains(err.Error(), "the Secret Service"):
		t.Errorf("%s: %q, want it to say %q and %q", op, err, what, fix)
	case strings.Contains(err.Error(), "\n"):
		t.Errorf("%s: %q is more than one line", op, err)
	}
}
