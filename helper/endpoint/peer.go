package endpoint

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// SameUserOnly makes l's connections from sockets that belong to another
// user close before anything is read from them, where the system says who
// owns the connecting socket (peerOwner, in the platform's file: a uid on
// Linux, a SID on Windows): loopback is shared with every local user.
// Elsewhere the capabilities are the only protection. The check runs in the connection's own goroutine, at its
// first read, never in the accept loop: another user's flood of
// connections cannot hold up ours.
func SameUserOnly(l net.Listener, logf func(format string, args ...any)) net.Listener {
	if !peersCanBeChecked {
		return l
	}
	me, err := ourOwner()
	return &peerListener{Listener: l, me: me, meErr: err, logf: logf}
}

type peerListener struct {
	net.Listener
	me      owner // this process's user
	meErr   error // why it is not known: every connection is refused
	logf    func(format string, args ...any)
	refused atomic.Int64
}

func (l *peerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &checkedConn{Conn: c, l: l}, nil
}

// checkedConn is a connection whose owner is checked at its first read.
type checkedConn struct {
	net.Conn
	l    *peerListener
	once sync.Once
	err  error // the refusal, for every read
}

func (c *checkedConn) Read(b []byte) (int, error) {
	c.once.Do(c.check)
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(b)
}

func (c *checkedConn) check() {
	who, err := peerOwner(c.RemoteAddr(), c.LocalAddr())
	if err == nil && c.l.meErr != nil {
		err = c.l.meErr
	}
	if err == nil && who == c.l.me {
		return
	}
	c.err = errForeignPeer
	c.Conn.Close()
	// Said for the first refusals only: another user could fill stderr.
	if n := c.l.refused.Add(1); n <= 3 {
		if err != nil {
			c.l.logf("refused a connection: could not tell whose it is (%v)", err)
		} else {
			c.l.logf("refused a connection from a socket of another user (%v)", who)
		}
	}
}

// errForeignPeer is a connection from another user's socket.
var errForeignPeer = errors.New("a connection from another user's socket")
