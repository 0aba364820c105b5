package endpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
)

const peersCanBeChecked = true

// owner is who owns a socket here: a uid.
type owner int

func (o owner) String() string { return fmt.Sprintf("uid %d", int(o)) }

func ourOwner() (owner, error) { return owner(os.Getuid()), nil }

func peerOwner(remote, local net.Addr) (owner, error) {
	uid, err := peerUID(remote, local)
	return owner(uid), err
}

// peerUID is the owner of the socket that connected from remote to our
// local address: the kernel says, through sock_diag (diagUID); where that
// is refused (a sandbox without netlink), the row of /proc/net/tcp (or
// tcp6) whose local address is the peer's and whose remote address is
// ours, which costs a read of every socket's row. Both are this network
// namespace's, where loopback peers live.
func peerUID(remote, local net.Addr) (int, error) {
	r, ok := remote.(*net.TCPAddr)
	l, ok2 := local.(*net.TCPAddr)
	if !ok || !ok2 {
		return -1, fmt.Errorf("not a TCP connection: %s", remote.Network())
	}
	if uid, err := diagUID(r, l); err == nil {
		return uid, nil
	}
	return procUID(r, l)
}

// procUID finds the owner of the socket from r to l in /proc/net/tcp*.
func procUID(r, l *net.TCPAddr) (int, error) {
	var firstErr error
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if uid, ok := findUID(data, r, l); ok {
			return uid, nil
		}
	}
	if firstErr != nil {
		return -1, firstErr
	}
	return -1, errors.New("the connecting socket is not in /proc/net/tcp")
}

// findUID finds the uid of the socket from peer to ours in a table of
// /proc/net/tcp's format:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid ...
//	 0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000 ...
func findUID(table []byte, peer, ours *net.TCPAddr) (int, bool) {
	for len(table) > 0 {
		var line []byte
		line, table, _ = bytes.Cut(table, []byte("\n"))
		f := bytes.Fields(line)
		if len(f) < 8 {
			continue
		}
		local, ok := parseProcAddr(f[1])
		if !ok || !sameAddr(local, peer) {
			continue
		}
		remote, ok := parseProcAddr(f[2])
		if !ok || !sameAddr(remote, ours) {
			continue
		}
		uid, err := strconv.Atoi(string(f[7]))
		if err != nil {
			return -1, false
		}
		return uid, true
	}
	return -1, false
}

func sameAddr(a, b *net.TCPAddr) bool { return a.Port == b.Port && a.IP.Equal(b.IP) }

// parseProcAddr reads "0100007F:1F90": the address as the kernel's 32-bit
// words, each printed in hex in this machine's byte order; the port in
// plain hex.
func parseProcAddr(field []byte) (*net.TCPAddr, bool) {
	ipHex, portHex, ok := bytes.Cut(field, []byte(":"))
	if !ok || len(ipHex) != 8 && len(ipHex) != 32 {
		return nil, false
	}
	port, err := strconv.ParseUint(string(portHex), 16, 16)
	if err != nil {
		return nil, false
	}
	ip := make(net.IP, len(ipHex)/2)
	for i := 0; i < len(ip); i += 4 {
		var word [4]byte
		if _, err := hex.Decode(word[:], ipHex[2*i:2*i+8]); err != nil {
			return nil, false
		}
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(word[:]))
	}
	return &net.TCPAddr{IP: ip, Port: int(port)}, true
}
