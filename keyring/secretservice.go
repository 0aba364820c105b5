//go:build linux || freebsd || openbsd || netbsd || dragonfly

package keyring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/godbus/dbus/v5"
)

// The Secret Service (freedesktop.org's API, served by gnome-keyring,
// KWallet and KeePassXC) over the session bus, spoken with godbus
// directly rather than through a keyring library, for what those do that
// we must not (see docs/keyring.md): this client never launches a bus
// (no dbus-launch, no autolaunch), never lets the bus start a service
// (every call carries NO_AUTO_START), never opens a prompt (a locked
// collection is an error that says how to unlock it), and bounds every
// call with the operation's deadline.

func platform() backend { return secretService{} }

type secretService struct{}

const (
	ssName       = "org.freedesktop.secrets"
	ssPath       = "/org/freedesktop/secrets"
	ssService    = "org.freedesktop.Secret.Service"
	ssCollection = "org.freedesktop.Secret.Collection"
	ssItem       = "org.freedesktop.Secret.Item"
	// The default collection ("login" in gnome-keyring), by its alias.
	defaultCollection = dbus.ObjectPath("/org/freedesktop/secrets/aliases/default")
	noPrompt          = dbus.ObjectPath("/")
)

// secret is the Secret Service's Secret struct (oayays).
type secret struct {
	Session     dbus.ObjectPath
	Parameters  []byte
	Value       []byte
	ContentType string
}

func (secretService) name() string { return "the Secret Service (D-Bus)" }

// attributes find this program's item of an account of a store on a host.
func attributes(it item) map[string]string {
	return map[string]string{"application": service, "host": it.host, "account": it.account, "store": it.store}
}

func (s secretService) get(ctx context.Context, it item) (string, error) {
	c, err := connect(ctx)
	if err != nil {
		return "", err
	}
	defer c.close()
	items, err := c.search(it)
	if err != nil || len(items) == 0 {
		return "", err
	}
	session, err := c.openSession()
	if err != nil {
		return "", err
	}
	var sec secret
	if err := c.call(c.conn.Object(ssName, items[0]), ssItem+".GetSecret", session).Store(&sec); err != nil {
		return "", c.explain(err)
	}
	return string(sec.Value), nil
}

func (s secretService) set(ctx context.Context, it item, value string) error {
	c, err := connect(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.unlocked(); err != nil {
		return err
	}
	session, err := c.openSession()
	if err != nil {
		return err
	}
	props := map[string]dbus.Variant{
		ssItem + ".Label":      dbus.MakeVariant(fmt.Sprintf("Akiflow refresh token of %s (%s, akiflow-token)", it.account, it.host)),
		ssItem + ".Attributes": dbus.MakeVariant(attributes(it)),
	}
	sec := secret{Session: session, Parameters: []byte{}, Value: []byte(value), ContentType: "text/plain"}
	var item, prompt dbus.ObjectPath
	// replace=true: the item with the same attributes is replaced, as one
	// change, not removed and then made again.
	if err := c.call(c.conn.Object(ssName, defaultCollection), ssCollection+".CreateItem", props, sec, true).Store(&item, &prompt); err != nil {
		return c.explain(err)
	}
	if prompt != noPrompt {
		return errLocked
	}
	return nil
}

func (s secretService) remove(ctx context.Context, it item) error {
	c, err := connect(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	items, err := c.search(it)
	if err != nil {
		return err
	}
	for _, item := range items {
		var prompt dbus.ObjectPath
		if err := c.call(c.conn.Object(ssName, item), ssItem+".Delete").Store(&prompt); err != nil {
			return c.explain(err)
		}
		if prompt != noPrompt {
			return errLocked
		}
	}
	return nil
}

// client is one operation's connection to the session bus.
type client struct {
	ctx  context.Context
	conn *dbus.Conn
}

// connect opens a private connection to the session bus: the address in
// DBUS_SESSION_BUS_ADDRESS, else the systemd user bus at
// $XDG_RUNTIME_DIR/bus. Only unix-socket addresses are used: a unixexec:
// address would start a program, and autolaunch: a bus. The connection
// closes when ctx is done, which bounds its authentication too.
func connect(ctx context.Context) (*client, error) {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" {
		if dir := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(dir) {
			if info, err := os.Stat(filepath.Join(dir, "bus")); err == nil && info.Mode()&os.ModeSocket != 0 {
				addr = "unix:path=" + filepath.Join(dir, "bus")
			}
		}
	}
	if addr == "" {
		return nil, errNoBus
	}
	for _, a := range strings.Split(addr, ";") {
		if !strings.HasPrefix(a, "unix:") {
			return nil, &problem{msg: fmt.Sprintf("the session bus address %q is not a unix socket", a),
				fix: "akiflow-token reaches the Secret Service only through a unix socket; set DBUS_SESSION_BUS_ADDRESS to one"}
		}
	}
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("the session bus: %w", err)
	}
	return &client{ctx: ctx, conn: conn}, nil
}

func (c *client) close() { c.conn.Close() }

// call calls method on obj within the operation's deadline, never letting
// the bus start the service.
func (c *client) call(obj dbus.BusObject, method string, args ...any) *dbus.Call {
	return obj.CallWithContext(c.ctx, method, dbus.FlagNoAutoStart, args...)
}

// search returns this program's items of it, in the default collection:
// an error when the collection is locked (its items cannot be read
// without a prompt).
func (c *client) search(it item) ([]dbus.ObjectPath, error) {
	if err := c.unlocked(); err != nil {
		return nil, err
	}
	var items []dbus.ObjectPath
	if err := c.call(c.conn.Object(ssName, defaultCollection), ssCollection+".SearchItems", attributes(it)).Store(&items); err != nil {
		return nil, c.explain(err)
	}
	return items, nil
}

// unlocked fails when the default collection is locked.
func (c *client) unlocked() error {
	var locked dbus.Variant
	err := c.call(c.conn.Object(ssName, defaultCollection), "org.freedesktop.DBus.Properties.Get", ssCollection, "Locked").Store(&locked)
	if err != nil {
		return c.explain(err)
	}
	if l, ok := locked.Value().(bool); ok && l {
		return errLocked
	}
	return nil
}

// openSession opens a session that passes secrets as they are: the
// connection is a private one, to the user's own bus.
func (c *client) openSession() (dbus.ObjectPath, error) {
	var output dbus.Variant
	var session dbus.ObjectPath
	if err := c.call(c.conn.Object(ssName, ssPath), ssService+".OpenSession", "plain", dbus.MakeVariant("")).Store(&output, &session); err != nil {
		return "", c.explain(err)
	}
	return session, nil
}

// explain turns the bus's errors into ones that say what to do.
func (c *client) explain(err error) error {
	if c.ctx.Err() != nil {
		return c.ctx.Err()
	}
	var de dbus.Error
	if errors.As(err, &de) {
		switch de.Name {
		case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
			return errNoService
		case "org.freedesktop.Secret.Error.NoSuchObject", "org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.UnknownMethod":
			return errNoDefault
		case "org.freedesktop.Secret.Error.IsLocked":
			return errLocked
		}
		return fmt.Errorf("%s", de.Name) // not its body, which a service fills as it likes
	}
	return err
}

var (
	errNoBus = &problem{msg: "there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and $XDG_RUNTIME_DIR/bus is no socket)",
		fix: "the keyring needs a desktop session's bus; without one, log in with --store file"}
	errNoService = &problem{msg: "no Secret Service runs on the session bus (org.freedesktop.secrets)",
		fix: "log in with --store file, or start a Secret Service (KWallet, KeePassXC) or gnome-keyring's: gnome-keyring-daemon --start --components=secrets"}
	errNoDefault = &problem{msg: "the Secret Service has no default collection",
		fix: "log in with --store file, or create one with seahorse or secret-tool"}
	errLocked = &problem{msg: "the keyring is locked",
		fix: "unlock it, then run again; logging in to the desktop session unlocks it, and so does: gnome-keyring-daemon --replace --unlock"}
)
