//go:build !linux && !windows

package endpoint

import (
	"errors"
	"net"
)

// No other system (macOS, the BSDs) lists the owners of TCP sockets for an
// unprivileged process in a way worth parsing at every connection: the
// capabilities alone protect the endpoint there.
const peersCanBeChecked = false

type owner int

func ourOwner() (owner, error) { return -1, errors.New("not supported on this system") }

func peerOwner(remote, local net.Addr) (owner, error) {
	return -1, errors.New("not supported on this system")
}
