//go:build !windows

package endpoint

import "net"

// listenTCP listens on addr; listen_windows.go says what Windows adds.
func listenTCP(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
