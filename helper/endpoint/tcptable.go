package endpoint

import (
	"encoding/binary"
	"net"
)

// The tables that Windows' GetExtendedTcpTable (iphlpapi) fills with
// TCP_TABLE_OWNER_PID_ALL: a DWORD count, then that many rows, for AF_INET
//
//	MIB_TCPROW_OWNER_PID:  dwState, dwLocalAddr, dwLocalPort, dwRemoteAddr, dwRemotePort, dwOwningPid
//
// and for AF_INET6
//
//	MIB_TCP6ROW_OWNER_PID: ucLocalAddr[16], dwLocalScopeId, dwLocalPort,
//	                       ucRemoteAddr[16], dwRemoteScopeId, dwRemotePort, dwState, dwOwningPid
//
// Addresses lie in network order; a port is in network order in the first
// two bytes of its DWORD (the other two are undefined); DWORDs are
// little-endian, as on every Windows Go builds for. Pure logic, tested on
// every system; only peer_windows.go uses it.
const (
	tcpRowSize  = 24
	tcp6RowSize = 56
	// tcpStateEstablished is MIB_TCP_STATE_ESTAB.
	tcpStateEstablished = 5
)

// findOwnerPID finds in table (ipv6: an AF_INET6 table) the established
// socket whose local end is peer and whose remote end is ours: the socket
// that connected to us (a closed one of the same ports, in TIME_WAIT with
// no process, is not it). It returns the pid of the process that owns it;
// false when no row matches, or the table is shorter than its count says.
func findOwnerPID(table []byte, ipv6 bool, peer, ours *net.TCPAddr) (uint32, bool) {
	if len(table) < 4 {
		return 0, false
	}
	n := uint64(binary.LittleEndian.Uint32(table))
	size := tcpRowSize
	if ipv6 {
		size = tcp6RowSize
	}
	rows := table[4:]
	if n*uint64(size) > uint64(len(rows)) {
		return 0, false
	}
	for i := range int(n) {
		r := rows[i*size : (i+1)*size]
		var local, remote net.IP
		var localPort, remotePort int
		var pid, state uint32
		if ipv6 {
			local, localPort = r[0:16], tablePort(r[20:])
			remote, remotePort = r[24:40], tablePort(r[44:])
			state, pid = binary.LittleEndian.Uint32(r[48:]), binary.LittleEndian.Uint32(r[52:])
		} else {
			state = binary.LittleEndian.Uint32(r[0:])
			local, localPort = r[4:8], tablePort(r[8:])
			remote, remotePort = r[12:16], tablePort(r[16:])
			pid = binary.LittleEndian.Uint32(r[20:])
		}
		if state == tcpStateEstablished && localPort == peer.Port && remotePort == ours.Port && local.Equal(peer.IP) && remote.Equal(ours.IP) {
			return pid, true
		}
	}
	return 0, false
}

// tablePort reads a port from the first two bytes of a row's DWORD.
func tablePort(b []byte) int { return int(binary.BigEndian.Uint16(b)) }
