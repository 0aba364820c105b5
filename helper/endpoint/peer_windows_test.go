package endpoint

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// dialAs, in this test binary's environment, makes it a client of these
// tests instead (no Go toolchain is at hand under Wine to build one): it
// connects to the address the variable names, prints its own end's
// address, and holds the connection until its stdin closes.
const dialAs = "AKIFLOW_ENDPOINT_TEST_DIAL"

func init() {
	addr, ok := os.LookupEnv(dialAs)
	if !ok {
		// Under Wine one read of the TCP table takes from 0.2 s to minutes
		// (winedevice.exe looks up the owner of every row, the host's
		// sockets included), which times out the tests of everything
		// else: they run without the check there, and the tests below
		// turn it on.
		if underWine() {
			peersCanBeChecked = false
		}
		return
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(c.LocalAddr())
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// underWine says this runs under Wine, whose ntdll has wine_get_version.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// dialFromChild connects to l from another process (this test binary) and
// returns our end of that connection and the child.
func dialFromChild(t testing.TB, l net.Listener) (net.Conn, *exec.Cmd) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), dialAs+"="+l.Addr().String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		t.Fatalf("the child did not connect: %q, %v", line, err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if got := s.RemoteAddr().String(); got != strings.TrimSpace(line) {
		t.Fatalf("accepted a connection from %s, not the child's (%s)", got, line)
	}
	return s, cmd
}

// The check names our own user as the owner of a connection from another
// process of ours, through the process GetExtendedTcpTable names: over
// IPv4 and, where there is one, IPv6.
func TestPeerOwnerOfAnotherProcessOfOurs(t *testing.T) {
	me, err := ourOwner()
	if err != nil || !strings.HasPrefix(string(me), "S-1-") {
		t.Fatalf("ourOwner = %q, %v", me, err)
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		l, err := listenTCP(addr)
		if err != nil {
			t.Logf("skipping %s: %v", addr, err) // no IPv6 here
			continue
		}
		defer l.Close()
		s, child := dialFromChild(t, l)
		r, ours := s.RemoteAddr().(*net.TCPAddr), s.LocalAddr().(*net.TCPAddr)
		family := uint32(windows.AF_INET)
		if r.IP.To4() == nil {
			family = windows.AF_INET6
		}
		table, err := tcpTable(family)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		pid, ok := findOwnerPID(table, family == windows.AF_INET6, r, ours)
		if ok && pid == 0 && family == windows.AF_INET6 && underWine() {
			// Wine 8 fills no dwOwningPid in its AF_INET6 table (0 in every
			// row, our own listener's too): the check fails closed.
			if who, err := peerOwner(r, ours); err == nil || !strings.Contains(err.Error(), "pid 0") {
				t.Errorf("%s: peerOwner = %v, %v; want an error naming pid 0", addr, who, err)
			}
			t.Logf("%s: Wine's table names no process (pid 0): the connection would be refused", addr)
			continue
		}
		if !ok || pid != uint32(child.Process.Pid) {
			t.Errorf("%s: the table names pid %d (%v) as the connecting socket's owner; the child is %d", addr, pid, ok, child.Process.Pid)
		}
		if who, err := peerOwner(r, ours); err != nil || who != me {
			t.Errorf("%s: peerOwner = %v, %v; want %v", addr, who, err, me)
		}
		// A socket that is not there is no one's: refused.
		if who, err := peerOwner(&net.TCPAddr{IP: r.IP, Port: 1}, ours); err == nil {
			t.Errorf("%s: peerOwner of no socket = %v, want an error", addr, who)
		}
	}
}

// The endpoint answers a request from another process of ours (the check
// lets it through); under Wine, whose IPv6 table names no process, a
// connection over ::1 is refused, unanswered, saying why.
func TestSameUserOnly(t *testing.T) {
	defer func(was bool) { peersCanBeChecked = was }(peersCanBeChecked)
	peersCanBeChecked = true
	r := newRig(t, nil, nil, quiet)
	resp, err := http.Get(r.ep.TokenURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}

	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		l, err := listenTCP(addr)
		if err != nil {
			t.Logf("skipping %s: %v", addr, err) // no IPv6 here
			continue
		}
		defer l.Close()
		var logged strings.Builder
		checked := SameUserOnly(l, func(format string, args ...any) { fmt.Fprintf(&logged, format, args...) })
		s, _ := dialFromChild(t, checked)
		s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err = s.Read(make([]byte, 1))
		switch {
		case addr == "[::1]:0" && underWine():
			if err != errForeignPeer || !strings.Contains(logged.String(), "could not tell whose it is (GetExtendedTcpTable names no process (pid 0)") {
				t.Errorf("%s under Wine: read %v, logged %q; want the connection refused, saying why", addr, err, logged.String())
			}
		case !errors.Is(err, os.ErrDeadlineExceeded):
			t.Errorf("%s: a connection from another process of ours: read %v (logged %q), want a timeout (the child sends nothing)", addr, err, logged.String())
		}
	}
}

// A process that cannot be opened (none has pid 0 to us) has no known
// owner: an error, so the connection is refused.
func TestOwnerOfNoProcess(t *testing.T) {
	if who, err := ownerOfPID(0); err == nil {
		t.Errorf("ownerOfPID(0) = %v, want an error", who)
	}
}

// The endpoint's port is ours alone: a second bind of it fails, whether
// plain, with SO_REUSEADDR (which, without SO_EXCLUSIVEADDRUSE on ours,
// Windows lets another process use to share the port and take connections)
// or on the wildcard address.
func TestListenIsExclusive(t *testing.T) {
	l, err := listenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	for _, addr := range []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("0.0.0.0:%d", port)} {
		for _, reuse := range []bool{false, true} {
			l2, err := bindWith(addr, reuse)
			if err == nil {
				l2.Close()
				t.Errorf("a second bind of %s (SO_REUSEADDR: %v) succeeded", addr, reuse)
				continue
			}
			t.Logf("a second bind of %s (SO_REUSEADDR: %v): %v", addr, reuse, err)
		}
	}

	// Without SO_EXCLUSIVEADDRUSE (net.Listen's default on Windows), a
	// bind with SO_REUSEADDR shares the port: what this guards against.
	// Wine keeps Linux's rules, which refuse it anyway.
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if l2, err := bindWith(plain.Addr().String(), true); err == nil {
		l2.Close()
		t.Logf("without SO_EXCLUSIVEADDRUSE, SO_REUSEADDR shares the port")
	} else {
		t.Logf("without SO_EXCLUSIVEADDRUSE, SO_REUSEADDR was refused too (%v): this system refuses it anyway", err)
	}
}

// bindWith listens on addr, with SO_REUSEADDR if reuse.
func bindWith(addr string, reuse bool) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		if !reuse {
			return nil
		}
		var err error
		c.Control(func(fd uintptr) {
			err = windows.SetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, windows.SO_REUSEADDR, 1)
		})
		return err
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}

// BenchmarkPeerCheck measures the check of one connection's owner with
// many other sockets open: GetExtendedTcpTable reads every TCP socket's
// row, so its cost grows with them; then the process and its token are
// opened. Run under Wine: testdata/wine/test.sh -run '^$' -bench PeerCheck ./helper/endpoint
//
// AKIFLOW_BENCH_SOCKETS=100,2000 measures other numbers of sockets: under
// Wine 8 one table read of 10,000 sockets takes minutes.
func BenchmarkPeerCheck(b *testing.B) {
	sizes := []int{100, 1000, 10000}
	if v := os.Getenv("AKIFLOW_BENCH_SOCKETS"); v != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("AKIFLOW_BENCH_SOCKETS: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		l, conns := openConnections(b, n)
		s, _ := dialFromChild(b, l)
		r, ours := s.RemoteAddr().(*net.TCPAddr), s.LocalAddr().(*net.TCPAddr)
		start := time.Now()
		table, err := tcpTable(windows.AF_INET)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("sockets=%d: one read of the AF_INET table (%d rows) took %v", n, binary.LittleEndian.Uint32(table), time.Since(start))
		b.Run(fmt.Sprintf("GetExtendedTcpTable/sockets=%d", n), func(b *testing.B) {
			for b.Loop() {
				table, err := tcpTable(windows.AF_INET)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := findOwnerPID(table, false, r, ours); !ok {
					b.Fatal("not found")
				}
			}
		})
		b.Run(fmt.Sprintf("check/sockets=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := peerOwner(r, ours); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, c := range conns {
			c.Close()
		}
		l.Close()
	}
}

// openConnections opens n loopback sockets (n/2 connections, both ends).
func openConnections(b *testing.B, n int) (net.Listener, []net.Conn) {
	n /= 2
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	conns := make([]net.Conn, 0, 2*n)
	for i := range n {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			l.Close()
			b.Skipf("could open %d sockets, not %d: %v", 2*i, 2*n, err)
		}
		s, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c, s)
	}
	return l, conns
}

// Checks that wait at once share the table's reads: a flood of N
// connections costs a few reads, not N, each taken after its check began.
func TestTableReadsAreShared(t *testing.T) {
	var reads atomic.Int32
	gate := make(chan struct{})
	r := &tableReads{read: func(uint32) ([]byte, error) {
		n := reads.Add(1)
		if n == 1 {
			<-gate // the first read is slow: the others queue behind it
		}
		return []byte{byte(n)}, nil
	}}
	first := make(chan []byte)
	go func() { t, _ := r.after(time.Now()); first <- t }()
	for reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	got := make([][]byte, 50)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], _ = r.after(time.Now()) }()
	}
	for deadline := time.Now().Add(30 * time.Second); r.waits.Load() < int32(len(got)); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // checks that do not wait read the table each
			close(gate)
			t.Fatalf("%d of %d checks waited for the read under way", r.waits.Load(), len(got))
		}
	}
	close(gate)
	wg.Wait()
	if tb := <-first; tb[0] != 1 {
		t.Errorf("the first check got read %d", tb[0])
	}
	for i, tb := range got {
		if tb[0] < 2 {
			t.Errorf("check %d got read %d, which began before it did", i, tb[0])
		}
	}
	if n := reads.Load(); n > 3 {
		t.Errorf("51 checks at once made %d reads of the table, want at most 3", n)
	}
}
