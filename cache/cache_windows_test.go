package cache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/adrg/xdg"
	"golang.org/x/sys/windows"
)

// The Windows tests that what Unix shows through modes, flock and rename
// cannot: sharing delete, LockFileEx across processes, a lock handed to a
// child, reparse points, the DACLs made, the cache folder, long paths and
// device names.

// childVar asks this test binary to be a child process of these tests:
// "lock" (take the lock of a@b.c, say "held", wait for the file named by
// releaseVar), "handdown" (take it, hand it to an "adopt" child, say what
// that said, and exit), "try" (try the lock for a moment: exit 0 if had, 3 if
// not), or "adopt" (adopt the handle named by handleVar: say "adopted" and
// wait as "lock" does, or say "refused: …" and exit 4). The cache home is
// XDG_CACHE_HOME, as the parent's.
const (
	childVar   = "CACHE_TEST_CHILD"
	releaseVar = "CACHE_TEST_RELEASE"
	handleVar  = "CACHE_TEST_HANDLE"

	grandchildReleaseVar = "CACHE_TEST_GRANDCHILD_RELEASE" // a "handdown" child's child's releaseVar
)

func testChild() {
	what := os.Getenv(childVar)
	if what == "" {
		return
	}
	xdg.Reload()
	s := Open("h", testRecordSize)
	wait := func() {
		for {
			if _, err := os.Stat(os.Getenv(releaseVar)); err == nil {
				os.Exit(0) // the lock goes with the process
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	switch what {
	case "lock":
		if _, err := s.Lock(context.Background(), "a@b.c"); err != nil {
			fmt.Println("failed:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		wait()
	case "try":
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		l, err := s.Lock(ctx, "a@b.c")
		switch {
		case err == nil:
			l.Close()
			os.Exit(0)
		case errors.Is(err, ErrLockTimeout):
			os.Exit(3)
		}
		fmt.Println("failed:", err)
		os.Exit(1)
	case "handdown":
		// Take the lock, hand it to a grandchild that adopts it (with our
		// release file), say what it said, and exit: the lock's taker is
		// gone, as a killed caller of the refresh child would be.
		l, err := s.Lock(context.Background(), "a@b.c")
		if err != nil {
			fmt.Println("failed:", err)
			os.Exit(1)
		}
		self := windows.CurrentProcess()
		var h windows.Handle
		if err := windows.DuplicateHandle(self, windows.Handle(l.Handle().Fd()), self, &h, 0, true, windows.DUPLICATE_SAME_ACCESS); err != nil {
			fmt.Println("failed:", err)
			os.Exit(1)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childVar+"=adopt", fmt.Sprintf("%s=%d", handleVar, h), releaseVar+"="+os.Getenv(grandchildReleaseVar))
		cmd.SysProcAttr = &syscall.SysProcAttr{AdditionalInheritedHandles: []syscall.Handle{syscall.Handle(h)}}
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			fmt.Println("failed:", err)
			os.Exit(1)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		fmt.Print(line)
		os.Exit(0)
	case "adopt":
		h, _ := strconv.ParseUint(os.Getenv(handleVar), 10, 64)
		if _, err := s.Adopt("a@b.c", os.NewFile(uintptr(h), "lock")); err != nil {
			fmt.Println("refused:", err)
			os.Exit(4)
		}
		fmt.Println("adopted")
		wait()
	}
	os.Exit(70)
}

// child is a child process of these tests, started by startChild.
type child struct {
	cmd     *exec.Cmd
	out     *bufio.Reader
	release string
}

// startChild starts this binary as a child doing what, with the lock
// handle h (0: none) among what it inherits.
func startChild(t *testing.T, what string, h windows.Handle) *child {
	t.Helper()
	c := &child{release: filepath.Join(t.TempDir(), "release")}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childVar+"="+what, releaseVar+"="+c.release, fmt.Sprintf("%s=%d", handleVar, h))
	if h != 0 {
		c.cmd.SysProcAttr = &syscall.SysProcAttr{AdditionalInheritedHandles: []syscall.Handle{syscall.Handle(h)}}
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = os.Stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.out = bufio.NewReader(out)
	t.Cleanup(func() {
		os.WriteFile(c.release, nil, 0o600)
		c.cmd.Wait()
	})
	return c
}

// says reads the child's next line.
func (c *child) says(t *testing.T) string {
	t.Helper()
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("the child said nothing: %v", err)
	}
	return strings.TrimSpace(line)
}

// end lets the child go and returns its exit status.
func (c *child) end(t *testing.T) int {
	t.Helper()
	os.WriteFile(c.release, nil, 0o600)
	c.cmd.Wait()
	return c.cmd.ProcessState.ExitCode()
}

// try runs a "try" child: whether it had the lock.
func try(t *testing.T) bool {
	t.Helper()
	switch code := startChild(t, "try", 0).end(t); code {
	case 0:
		return true
	case 3:
		return false
	default:
		t.Fatalf("the trying child exited %d", code)
		return false
	}
}

func TestLockFileExAgainstAChildProcess(t *testing.T) {
	useTempCache(t)
	s := Open("h", testRecordSize)
	l, err := s.Lock(context.Background(), "a@b.c")
	if err != nil {
		t.Fatal(err)
	}
	if try(t) {
		t.Error("a child took the lock this process holds")
	}
	l.Close()
	if !try(t) {
		t.Error("a child could not take the lock once it was closed")
	}

	// And the other way: a child holds it.
	c := startChild(t, "lock", 0)
	if got := c.says(t); got != "held" {
		t.Fatalf("the child: %s", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if l, err := s.Lock(ctx, "a@b.c"); !errors.Is(err, ErrLockTimeout) {
		if err == nil {
			l.Close()
		}
		t.Errorf("Lock while a child holds it: %v, want ErrLockTimeout", err)
	}
	c.end(t)
	l, err = s.Lock(context.Background(), "a@b.c")
	if err != nil {
		t.Fatalf("Lock once the child exited: %v", err)
	}
	l.Close()
}

// handDown starts a child doing what with an inheritable duplicate of f's
// handle, which it then closes here, as helper/refresh's Start does: else
// this process would hold the lock through it.
func handDown(t *testing.T, what string, f *os.File) *child {
	t.Helper()
	self := windows.CurrentProcess()
	var h windows.Handle
	if err := windows.DuplicateHandle(self, windows.Handle(f.Fd()), self, &h, 0, true, windows.DUPLICATE_SAME_ACCESS); err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(h)
	return startChild(t, what, h)
}

// A lock handed down to a child is held by the child, once adopted, until
// it exits, whatever the parent does with its own; as the refresh child
// holds the account's lock.
func TestAdoptInAChildProcess(t *testing.T) {
	useTempCache(t)
	s := Open("h", testRecordSize)
	l, err := s.Lock(context.Background(), "a@b.c")
	if err != nil {
		t.Fatal(err)
	}
	c := handDown(t, "adopt", l.Handle())
	if got := c.says(t); got != "adopted" {
		t.Fatalf("the child: %s", got)
	}
	l.Close()
	if try(t) {
		t.Error("the lock was free while the child that adopted it lives")
	}
	if l, err := Open("h", testRecordSize).Lock(context.Background(), "x@b.c"); err != nil {
		t.Errorf("another record's lock: %v", err)
	} else {
		l.Close()
	}
	if code := c.end(t); code != 0 {
		t.Errorf("the child exited %d", code)
	}
	if !try(t) {
		t.Error("the lock was not free once the child exited")
	}
}

// The process that took the lock and handed it down exits: the child that
// adopted it holds it on, until it exits too.
func TestAdoptedLockOutlivesItsTaker(t *testing.T) {
	useTempCache(t)
	release := filepath.Join(t.TempDir(), "release")
	t.Setenv(grandchildReleaseVar, release)
	t.Cleanup(func() { os.WriteFile(release, nil, 0o600) })
	taker := startChild(t, "handdown", 0)
	if got := taker.says(t); got != "adopted" {
		t.Fatalf("the grandchild: %s", got)
	}
	if code := taker.end(t); code != 0 {
		t.Fatalf("the taker exited %d", code)
	}
	if try(t) {
		t.Error("the lock was free once its taker exited, while the child that adopted it lives")
	}
	os.WriteFile(release, nil, 0o600)
	for deadline := time.Now().Add(30 * time.Second); !try(t); {
		if time.Now().After(deadline) {
			t.Fatal("the lock was not free 30 s after the adopting child was let go")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A handle of the lock file whose lock another process (not the parent)
// holds is refused.
func TestAdoptRefusesALockHeldByAnother(t *testing.T) {
	useTempCache(t)
	s := Open("h", testRecordSize)
	holder := startChild(t, "lock", 0)
	if got := holder.says(t); got != "held" {
		t.Fatalf("the holder: %s", got)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir(), "a@b.c.lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := handDown(t, "adopt", f)
	if got := c.says(t); !strings.HasPrefix(got, "refused: ") {
		t.Errorf("the child adopted a lock that another process holds: %s", got)
	}
	c.end(t)
	holder.end(t)
}

// What Read opens shares delete: a record can be removed, and replaced,
// while a reader has it open (golang/go#32088: os.Open would stop both).
func TestReplaceOverARecordHeldOpen(t *testing.T) {
	useTempCache(t)
	s := Open("h", testRecordSize)
	if err := s.Write("a@b.c", []byte("old")); err != nil {
		t.Fatal(err)
	}
	reader, _, err := openRegular(s.Path("a@b.c"), os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	if underWine() {
		// Wine 8 refuses to replace or rename a file that any handle holds
		// open (server/fd.c), whatever its sharing; it does let one be
		// removed when every handle shares delete, and a replacement waits
		// for the reader (replaceFile).
		if err := s.Remove("a@b.c"); err != nil {
			t.Errorf("Remove while a reader has the record open: %v", err)
		}
		reader.Close()
		if err := s.Write("a@b.c", []byte("old")); err != nil {
			t.Fatal(err)
		}
		reader, _, err = openRegular(s.Path("a@b.c"), os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Write("a@b.c", []byte("new")) }()
		time.Sleep(50 * time.Millisecond)
		reader.Close()
		if err := <-done; err != nil {
			t.Errorf("Write while a reader had the record open for 50 ms: %v", err)
		}
		if got, err := s.Read("a@b.c"); err != nil || string(got) != "new" {
			t.Errorf("Read = %q, %v; want new", got, err)
		}
		t.Skip("Wine 8 replaces no file held open: only real Windows shows a replacement while the reader holds it")
	}

	if err := s.Write("a@b.c", []byte("new")); err != nil {
		t.Fatalf("Write while a reader has the record open: %v", err)
	}
	if got, err := s.Read("a@b.c"); err != nil || string(got) != "new" {
		t.Errorf("Read = %q, %v; want new", got, err)
	}
	if got, err := readAtMost(reader, 3, testRecordSize); err != nil || string(got) != "old" {
		t.Errorf("the reader read %q, %v; want the old record it opened", got, err)
	}
	if err := s.Remove("a@b.c"); err != nil {
		t.Errorf("Remove while a reader has the record open: %v", err)
	}
}

// Reparse points (symbolic links, junctions) are opened as themselves and
// refused, never followed.
func TestOpenRefusesReparsePoints(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("secret"), 0o600)
	link := filepath.Join(dir, "link")
	if err := makeSymlink(target, link); err != nil {
		t.Skip(err)
	}
	_, _, err := openRegular(link, os.O_RDONLY, 0)
	var nr *notRegularError
	if !errors.As(err, &nr) || !nr.symlink {
		t.Errorf("openRegular of a symbolic link: %v; want it refused as one", err)
	}
	_, _, err = openRegular(link, os.O_RDWR|os.O_CREATE, 0)
	if !errors.As(err, &nr) || !nr.symlink {
		t.Errorf("openRegular of a symbolic link, to create: %v; want it refused as one", err)
	}
}

// Files and folders the store makes are the user's, and grant nobody else
// anything: the rule itself, not Wine's leniency.
func TestCreatedFilesArePrivate(t *testing.T) {
	useTempCache(t)
	s := Open("h", testRecordSize)
	if err := s.Write("a@b.c", []byte("x")); err != nil {
		t.Fatal(err)
	}
	l, err := s.Lock(context.Background(), "a@b.c")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	p, err := s.Prepare("x@b.c")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Discard()
	user, err := userSID()
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{s.Path("a@b.c"), filepath.Join(s.Dir(), "a@b.c.lock"), s.Dir(), filepath.Dir(s.Dir()), filepath.Join(s.Dir(), partialDir)}
	for _, info := range tempFiles(t, s) {
		paths = append(paths, filepath.Join(s.Dir(), partialDir, info.Name()))
	}
	for _, path := range paths {
		facts, err := readSecurity(nil, path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if j := judgeSecurity(user, facts, false); j.Problem != "" {
			t.Errorf("%s (owner %s, %+v): %s", path, facts.Owner, facts.DACL, j.Problem)
		}
	}
}

func TestCacheHomeOnWindows(t *testing.T) {
	for _, tc := range []struct {
		cacheHome string
		want      string // the cache home; "" for ErrNoCacheHome, "xdg" for xdg.CacheHome
	}{
		{"unset", "xdg"},
		{"", "xdg"},
		{`relative\cache`, "xdg"},
		{`C:\abs\cache`, `C:\abs\cache`},
		{"C:\\abs\\line\nbreak", ""},
	} {
		t.Run(tc.cacheHome, func(t *testing.T) {
			setenv(t, "HOME", "unset") // not needed on Windows
			setenv(t, "XDG_CACHE_HOME", tc.cacheHome)
			xdg.Reload()
			t.Cleanup(xdg.Reload)
			home, err := cacheHome()
			want := tc.want
			if want == "xdg" {
				want = xdg.CacheHome
				if !filepath.IsAbs(want) || !strings.HasSuffix(want, `\cache`) {
					t.Fatalf("xdg.CacheHome = %q: not %%LocalAppData%%\\cache", want)
				}
			}
			switch {
			case want == "" && !errors.Is(err, ErrNoCacheHome):
				t.Errorf("cacheHome = %q, %v; want ErrNoCacheHome", home, err)
			case want != "" && (err != nil || home != want):
				t.Errorf("cacheHome = %q, %v; want %q", home, err, want)
			}
		})
	}
}

// A path longer than MAX_PATH (260) is used as any other.
func TestLongPaths(t *testing.T) {
	root := useTempCache(t)
	deep := filepath.Join(root, strings.Repeat("d", 120), strings.Repeat("e", 120))
	t.Setenv("XDG_CACHE_HOME", deep)
	s := Open("h", testRecordSize)
	name := strings.Repeat("n", 100) + "@b.c"
	if len(s.Path(name)) <= 260 {
		t.Fatalf("the path is %d long: not past MAX_PATH", len(s.Path(name)))
	}
	if err := s.Write(name, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(name); err != nil || string(got) != "x" {
		t.Errorf("Read = %q, %v", got, err)
	}
	l, err := s.Lock(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := s.Recover(name, func([]byte) bool { return true }); err != nil {
		t.Error(err)
	}
	if names, err := s.List(); err != nil || len(names) != 1 || names[0] != name {
		t.Errorf("List = %q, %v", names, err)
	}
}

// Names Windows would take for a device are records as any other.
func TestDeviceNames(t *testing.T) {
	useTempCache(t)
	s := Open("con", testRecordSize)
	names := []string{"con", "nul.x@y.z", "COM1", "aux"}
	for _, name := range names {
		if err := s.Write(name, []byte(name)); err != nil {
			t.Errorf("Write(%q): %v", name, err)
		}
	}
	for _, name := range names {
		if got, err := s.Read(name); err != nil || string(got) != name {
			t.Errorf("Read(%q) = %q, %v", name, got, err)
		}
	}
	if got, err := s.List(); err != nil || len(got) != len(names) {
		t.Errorf("List = %q, %v; want %q", got, err, names)
	}
	if filepath.Base(s.Dir()) != "%63on" {
		t.Errorf("the store's folder is %s", s.Dir())
	}
}

func TestLongPath(t *testing.T) {
	long := `C:\` + strings.Repeat(`a\`, 130) + "f"
	for _, tc := range []struct{ path, want string }{
		{`C:\short`, `C:\short`},
		{long, `\\?\` + long},
		{`\\?\` + long, `\\?\` + long},
		{`\\server\share\` + long[3:], `\\?\UNC\server\share\` + long[3:]},
		{strings.Repeat(`a\`, 130), strings.Repeat(`a\`, 130)}, // relative: left alone
	} {
		if got := longPath(tc.path); got != tc.want {
			t.Errorf("longPath(%.40q…) = %.50q…, want %.50q…", tc.path, got, tc.want)
		}
	}
}

// A folder where a lock file should be is refused with the command that
// removes a folder (del would empty it and leave it).
func TestLockFolderNamesRmdir(t *testing.T) {
	s := newFolder(t)
	if err := os.Mkdir(filepath.Join(s.Dir(), "a@b.c.lock"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := s.Lock(context.Background(), "a@b.c")
	if err == nil || !strings.Contains(err.Error(), "cmd /c rmdir ") {
		t.Errorf("Lock over a folder: %v; want the fix cmd /c rmdir", err)
	}
}
