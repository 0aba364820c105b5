package endpoint

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// peersCanBeChecked is a variable here only for the tests: under Wine,
// whose table takes from a fraction of a second to minutes to read, the
// tests of everything else turn it off (peer_windows_test.go).
var peersCanBeChecked = true

// owner is who owns a socket here: the string form of a user's SID.
type owner string

func (o owner) String() string { return "SID " + string(o) }

// ourOwner is the user of this process's token.
func ourOwner() (owner, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("the user of this process: %w", err)
	}
	return owner(u.User.Sid.String()), nil
}

// peerOwner is the user of the process that owns the socket that
// connected from remote to our local address: GetExtendedTcpTable names
// the process (the table of every TCP socket of the family, read whole:
// Windows has no lookup of one socket), whose token names its user.
// Whatever cannot be known is an error, and the connection is refused.
// The process is the one that created the socket; a socket handed to
// another process (WSADuplicateSocket) is still its creator's.
func peerOwner(remote, local net.Addr) (owner, error) {
	r, ok := remote.(*net.TCPAddr)
	l, ok2 := local.(*net.TCPAddr)
	if !ok || !ok2 {
		return "", fmt.Errorf("not a TCP connection: %s", remote.Network())
	}
	reads, ipv6 := &tables4, false
	if r.IP.To4() == nil {
		reads, ipv6 = &tables6, true
	}
	table, err := reads.after(time.Now())
	if err != nil {
		return "", err
	}
	pid, ok := findOwnerPID(table, ipv6, r, l)
	switch {
	case !ok:
		return "", errors.New("the connecting socket is not in GetExtendedTcpTable's table")
	case pid == 0:
		// Wine 8 names no process for any IPv6 socket.
		return "", errors.New("GetExtendedTcpTable names no process (pid 0) for the connecting socket")
	}
	return ownerOfPID(pid)
}

// tableReads shares the reads of one family's table between the checks
// that wait at once: each read costs time that grows with the sockets on
// the machine, and a flood of connections, each reading the whole table,
// would cost their number squared. A check takes a read that started
// after it did (its socket is in it): the one under way, if so, else the
// next, which it starts.
type tableReads struct {
	family  uint32
	read    func(family uint32) ([]byte, error) // tcpTable; another in tests
	mu      sync.Mutex
	started time.Time     // of the last read
	done    chan struct{} // closed when it ended; nil before the first
	table   []byte
	err     error
	waits   atomic.Int32 // checks that waited for a read, for the tests
}

var (
	tables4 = tableReads{family: windows.AF_INET, read: tcpTable}
	tables6 = tableReads{family: windows.AF_INET6, read: tcpTable}
)

// after returns a table read that started at since or later.
func (r *tableReads) after(since time.Time) ([]byte, error) {
	for {
		r.mu.Lock()
		done := r.done
		if done != nil && !r.started.Before(since) {
			r.mu.Unlock()
			r.waits.Add(1)
			<-done
			r.mu.Lock()
			table, err := r.table, r.err // this read's, or a later one's
			r.mu.Unlock()
			return table, err
		}
		if done != nil && !closed(done) {
			r.mu.Unlock()
			r.waits.Add(1)
			<-done // too early for this check: the next read is
			continue
		}
		done = make(chan struct{})
		r.done, r.started = done, time.Now()
		r.mu.Unlock()
		table, err := r.read(r.family)
		r.mu.Lock()
		r.table, r.err = table, err
		r.mu.Unlock()
		close(done)
		return table, err
	}
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

var procGetExtendedTcpTable = windows.NewLazySystemDLL("iphlpapi.dll").NewProc("GetExtendedTcpTable")

const tcpTableOwnerPIDAll = 5 // TCP_TABLE_OWNER_PID_ALL

// tableSize is the size of the last table read, plus room: the next read
// most often needs one call.
var tableSize atomic.Uint32

// tcpTable is GetExtendedTcpTable's TCP_TABLE_OWNER_PID_ALL table of
// family (AF_INET or AF_INET6), unsorted.
func tcpTable(family uint32) ([]byte, error) {
	if err := procGetExtendedTcpTable.Find(); err != nil {
		return nil, fmt.Errorf("GetExtendedTcpTable: %w", err)
	}
	size := max(tableSize.Load(), 4<<10)
	for range 8 { // the table may grow between two calls
		buf := make([]byte, size)
		r, _, _ := procGetExtendedTcpTable.Call(uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)),
			0, uintptr(family), tcpTableOwnerPIDAll, 0)
		switch syscall.Errno(r) {
		case 0:
			tableSize.Store(uint32(len(buf)))
			return buf, nil
		case windows.ERROR_INSUFFICIENT_BUFFER:
			size += size / 8 // what it said, and room for the sockets opened meanwhile
		default:
			return nil, fmt.Errorf("GetExtendedTcpTable: %w", syscall.Errno(r))
		}
	}
	return nil, errors.New("GetExtendedTcpTable: the table kept growing")
}

// ownerOfPID is the user of process pid's token. Opening a process of
// another user (PROCESS_QUERY_LIMITED_INFORMATION) or its token may be
// denied: that is an error too.
func ownerOfPID(pid uint32) (owner, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return "", fmt.Errorf("process %d, which owns the connecting socket: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	var t windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &t); err != nil {
		return "", fmt.Errorf("the user of process %d, which owns the connecting socket: %w", pid, err)
	}
	defer t.Close()
	u, err := t.GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("the user of process %d, which owns the connecting socket: %w", pid, err)
	}
	return owner(u.User.Sid.String()), nil
}
