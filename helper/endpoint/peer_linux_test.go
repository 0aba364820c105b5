package endpoint

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"testing"
)

// procHex writes ip as /proc/net/tcp does: 32-bit words in this machine's
// byte order, in hex.
func procHex(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	s := ""
	for i := 0; i < len(ip); i += 4 {
		s += fmt.Sprintf("%08X", binary.NativeEndian.Uint32(ip[i:i+4]))
	}
	return s
}

func TestFindUID(t *testing.T) {
	peer := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 41000}
	ours := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}
	other := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 41001}
	row := func(local, remote *net.TCPAddr, uid int) string {
		return fmt.Sprintf("   1: %s:%04X %s:%04X 01 00000000:00000000 00:00000000 00000000 %5d        0 12345 1 0000000000000000 20 4 30 10 -1\n",
			procHex(local.IP), local.Port, procHex(remote.IP), remote.Port, uid)
	}
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	table := header + row(ours, peer, 1000) + row(other, ours, 2000) + row(peer, ours, 1001)
	if uid, ok := findUID([]byte(table), peer, ours); !ok || uid != 1001 {
		t.Errorf("IPv4: %d, %v; want 1001 (the peer's row, not ours)", uid, ok)
	}
	if _, ok := findUID([]byte(header+row(ours, peer, 1000)), peer, ours); ok {
		t.Errorf("found a uid without the peer's row")
	}

	// IPv6, and a v4-mapped address in tcp6.
	peer6 := &net.TCPAddr{IP: net.ParseIP("::1"), Port: 41000}
	ours6 := &net.TCPAddr{IP: net.ParseIP("::1"), Port: 8080}
	if uid, ok := findUID([]byte(header+row(peer6, ours6, 7)), peer6, ours6); !ok || uid != 7 {
		t.Errorf("IPv6: %d, %v", uid, ok)
	}
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1").To16(), Port: 41000}
	oursMapped := &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1").To16(), Port: 8080}
	line := fmt.Sprintf("   1: %s:%04X %s:%04X 01 0:0 0:0 0 9 0 1\n", procHex16(mapped.IP), mapped.Port, procHex16(oursMapped.IP), oursMapped.Port)
	if uid, ok := findUID([]byte(header+line), peer, ours); !ok || uid != 9 {
		t.Errorf("v4-mapped: %d, %v", uid, ok)
	}
	for _, bad := range []string{"", "garbage\n", "1: zz:zz 0100007F:1F90 01 0 0 0 5\n", "1: 0100007F:A028 0100007F:1F90 01 0 0 0 x\n"} {
		if _, ok := findUID([]byte(header+bad), peer, ours); ok {
			t.Errorf("a uid from %q", bad)
		}
	}
}

func procHex16(ip net.IP) string {
	s := ""
	for i := 0; i < 16; i += 4 {
		s += fmt.Sprintf("%08X", binary.NativeEndian.Uint32(ip[i:i+4]))
	}
	return s
}

// The real table names our own connection as ours.
func TestPeerUIDOfOurOwnConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	uid, err := peerUID(s.RemoteAddr(), s.LocalAddr())
	if err != nil || uid != os.Getuid() {
		t.Errorf("peerUID = %d, %v; want %d", uid, err, os.Getuid())
	}
}
