package endpoint

import (
	"net"
	"os"
	"sync/atomic"
)

// sameUserOnly makes l close, at once, connections from sockets that
// belong to another user, where the system says who owns the connecting
// socket (peerUID, in the platform's file): loopback is shared with every
// local user. Elsewhere the capabilities are the only protection.
func sameUserOnly(l net.Listener, logf func(format string, args ...any)) net.Listener {
	if !peersCanBeChecked {
		return l
	}
	return &peerListener{Listener: l, uid: os.Getuid(), logf: logf}
}

type peerListener struct {
	net.Listener
	uid     int
	logf    func(format string, args ...any)
	refused atomic.Int64
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := peerUID(c.RemoteAddr(), c.LocalAddr())
		if err == nil && uid == l.uid {
			return c, nil
		}
		c.Close()
		// Said for the first refusals only: another user could fill stderr.
		if n := l.refused.Add(1); n <= 3 {
			if err != nil {
				l.logf("refused a connection: could not tell whose it is (%v)", err)
			} else {
				l.logf("refused a connection from a socket of another user (uid %d)", uid)
			}
		}
	}
}
