package endpoint

import (
	"context"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/windows"
)

// soExclusiveAddrUse is winsock2.h's SO_EXCLUSIVEADDRUSE, ((int)(~SO_REUSEADDR)).
const soExclusiveAddrUse = ^windows.SO_REUSEADDR

// listenTCP listens on addr with SO_EXCLUSIVEADDRUSE, set before the bind:
// without it, another process may bind the same port with SO_REUSEADDR
// (or the wildcard address) and take connections meant for us. With it,
// no other socket binds that port while ours, or a connection it
// accepted, is open.
func listenTCP(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = windows.SetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, soExclusiveAddrUse, 1)
		}); cerr != nil {
			return cerr
		}
		return os.NewSyscallError("setsockopt SO_EXCLUSIVEADDRUSE", err)
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}
