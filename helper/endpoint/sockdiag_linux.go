package endpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// diagUID asks the kernel, with one NETLINK_SOCK_DIAG request, who owns
// the TCP socket from src to dst: an exact lookup in the kernel's socket
// hash, whose cost does not grow with the number of sockets on the machine
// (reading /proc/net/tcp does). See sock_diag(7).
func diagUID(src, dst *net.TCPAddr) (int, error) {
	family, size := uint8(unix.AF_INET), 4
	if src.IP.To4() == nil {
		family, size = unix.AF_INET6, 16
	}
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(s)
	tv := unix.NsecToTimeval(int64(time.Second))
	unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	// struct nlmsghdr, then struct inet_diag_req_v2 (linux/inet_diag.h).
	const reqLen = unix.SizeofNlMsghdr + 56
	req := make([]byte, reqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], reqLen)
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // sequence
	r := req[unix.SizeofNlMsghdr:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 0xffffffff) // every state
	id := r[8:]                     // struct inet_diag_sockid
	binary.BigEndian.PutUint16(id[0:], uint16(src.Port))
	binary.BigEndian.PutUint16(id[2:], uint16(dst.Port))
	copy(id[4:4+size], ipBytes(src.IP, size))
	copy(id[20:20+size], ipBytes(dst.IP, size))
	ne.PutUint32(id[40:], 0xffffffff) // INET_DIAG_NOCOOKIE
	ne.PutUint32(id[44:], 0xffffffff)
	if err := unix.Sendto(s, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return -1, fmt.Errorf("sock_diag: %w", err)
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(s, buf, 0)
	if err != nil {
		return -1, fmt.Errorf("sock_diag: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return -1, fmt.Errorf("sock_diag: %w", err)
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if errno := int32(ne.Uint32(m.Data)); errno != 0 {
					return -1, fmt.Errorf("sock_diag: %w", syscall.Errno(-errno))
				}
			}
		case unix.SOCK_DIAG_BY_FAMILY:
			// struct inet_diag_msg: idiag_uid at offset 64.
			if len(m.Data) >= 68 {
				return int(ne.Uint32(m.Data[64:])), nil
			}
		}
	}
	return -1, errors.New("sock_diag: no answer for the socket")
}

// ipBytes is ip in size bytes (4 for IPv4, 16 for IPv6), network order.
func ipBytes(ip net.IP, size int) []byte {
	if size == 4 {
		return ip.To4()
	}
	return ip.To16()
}
