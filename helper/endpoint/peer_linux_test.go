package endpoint

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"syscall"
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

// sock_diag names the owner of our own connection, over IPv4 and IPv6,
// as /proc/net/tcp does.
func TestDiagUIDAgreesWithProc(t *testing.T) {
	for _, network := range []string{"127.0.0.1:0", "[::1]:0"} {
		l, err := net.Listen("tcp", network)
		if err != nil {
			t.Logf("skipping %s: %v", network, err) // no IPv6 here
			continue
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
		r, ours := s.RemoteAddr().(*net.TCPAddr), s.LocalAddr().(*net.TCPAddr)
		diag, err := diagUID(r, ours)
		if err != nil || diag != os.Getuid() {
			t.Errorf("%s: diagUID = %d, %v; want %d", network, diag, err, os.Getuid())
		}
		proc, err := procUID(r, ours)
		if err != nil || proc != diag {
			t.Errorf("%s: procUID = %d, %v; diagUID %d", network, proc, err, diag)
		}
		// A socket that does not exist is no one's.
		if uid, err := diagUID(&net.TCPAddr{IP: r.IP, Port: 1}, ours); err == nil {
			t.Errorf("%s: diagUID of no socket = %d, want an error", network, uid)
		}
	}
}

// BenchmarkPeerCheck measures the check of one connection's owner with
// many other sockets open: sock_diag's cost stays flat, /proc/net/tcp's
// grows with them. Run: go test -run '^$' -bench PeerCheck ./helper/endpoint
func BenchmarkPeerCheck(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		l, conns := openConnections(b, n)
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		r, ours := s.RemoteAddr().(*net.TCPAddr), s.LocalAddr().(*net.TCPAddr)
		b.Run(fmt.Sprintf("sock_diag/sockets=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := diagUID(r, ours); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("proc/sockets=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := procUID(r, ours); err != nil {
					b.Fatal(err)
				}
			}
		})
		c.Close()
		s.Close()
		for _, c := range conns {
			c.Close()
		}
		l.Close()
	}
}

// openConnections opens n loopback sockets (n/2 connections, both ends),
// raising the limit on open files as far as allowed.
func openConnections(b *testing.B, n int) (net.Listener, []net.Conn) {
	n /= 2
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	if uint64(2*n+100) > rl.Cur {
		b.Skipf("%d connections need %d descriptors; the limit is %d", n, 2*n+100, rl.Cur)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	conns := make([]net.Conn, 0, 2*n)
	for range n {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c, s)
	}
	return l, conns
}
