package endpoint

import (
	"encoding/binary"
	"net"
	"testing"
)

// tcpRow is a MIB_TCPROW_OWNER_PID, or with IPv6 addresses a
// MIB_TCP6ROW_OWNER_PID, as GetExtendedTcpTable lays it out; the bytes it
// leaves undefined are filled with junk.
func tcpRow(local, remote *net.TCPAddr, pid uint32) []byte {
	return tcpRowIn(5, local, remote, pid) // MIB_TCP_STATE_ESTAB
}

// tcpRowIn is tcpRow of a socket in state (MIB_TCP_STATE_*).
func tcpRowIn(state uint32, local, remote *net.TCPAddr, pid uint32) []byte {
	port := func(b []byte, p int) {
		binary.BigEndian.PutUint16(b, uint16(p))
		b[2], b[3] = 0xA5, 0x5A // undefined
	}
	le := binary.LittleEndian
	if local.IP.To4() != nil {
		r := make([]byte, tcpRowSize)
		le.PutUint32(r[0:], state)
		copy(r[4:8], local.IP.To4())
		port(r[8:], local.Port)
		copy(r[12:16], remote.IP.To4())
		port(r[16:], remote.Port)
		le.PutUint32(r[20:], pid)
		return r
	}
	r := make([]byte, tcp6RowSize)
	copy(r[0:16], local.IP.To16())
	port(r[20:], local.Port)
	copy(r[24:40], remote.IP.To16())
	port(r[44:], remote.Port)
	le.PutUint32(r[48:], state)
	le.PutUint32(r[52:], pid)
	return r
}

func tcpTableOf(rows ...[]byte) []byte {
	t := binary.LittleEndian.AppendUint32(nil, uint32(len(rows)))
	for _, r := range rows {
		t = append(t, r...)
	}
	return t
}

// The row of the socket that connected to us is the one whose local end is
// the peer and whose remote end is ours: not our own end of the
// connection, which names the same two addresses the other way round.
func TestFindOwnerPID(t *testing.T) {
	t.Parallel()
	addr := func(ip string, port int) *net.TCPAddr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	peer, ours, other := addr("127.0.0.1", 41000), addr("127.0.0.1", 8080), addr("127.0.0.1", 41001)
	listening := addr("0.0.0.0", 0)
	table := tcpTableOf(
		tcpRow(ours, listening, 10),
		tcpRow(ours, peer, 11),                     // our end
		tcpRow(other, ours, 12),                    // another client
		tcpRow(addr("127.0.0.2", 41000), ours, 13), // the peer's port on another address
		tcpRowIn(11, peer, ours, 0),                // a closed socket of the same ports, in TIME_WAIT
		tcpRow(peer, ours, 14),                     // the peer
	)
	if pid, ok := findOwnerPID(table, false, peer, ours); !ok || pid != 14 {
		t.Errorf("IPv4: pid %d, %v; want 14 (the peer's row)", pid, ok)
	}
	if pid, ok := findOwnerPID(table, false, addr("127.0.0.1", 41002), ours); ok {
		t.Errorf("a socket that is not in the table: pid %d", pid)
	}

	peer6, ours6 := addr("::1", 41000), addr("::1", 8080)
	table6 := tcpTableOf(tcpRow(ours6, peer6, 21), tcpRow(peer6, ours6, 22))
	if pid, ok := findOwnerPID(table6, true, peer6, ours6); !ok || pid != 22 {
		t.Errorf("IPv6: pid %d, %v; want 22", pid, ok)
	}
	// A table read with the other family's layout finds nothing.
	if pid, ok := findOwnerPID(table6, false, peer6, ours6); ok {
		t.Errorf("an IPv6 table read as IPv4: pid %d", pid)
	}

	// Truncated or empty tables find nothing, and do not panic.
	for _, bad := range [][]byte{nil, {1, 0}, table[:len(table)-1], tcpTableOf(), append(tcpTableOf(), 0xff)} {
		if pid, ok := findOwnerPID(bad, false, peer, ours); ok {
			t.Errorf("a pid (%d) from the bad table %x", pid, bad)
		}
	}
	huge := binary.LittleEndian.AppendUint32(nil, 0xffffffff)
	if _, ok := findOwnerPID(append(huge, tcpRow(peer, ours, 1)...), false, peer, ours); ok {
		t.Error("a pid from a table whose count is larger than its rows")
	}
}
