//go:build unix

package refresh

import (
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
)

func TestOpenDescriptors(t *testing.T) {
	fd, err := syscall.Open(filepath.Join(t.TempDir(), "f"), syscall.O_RDWR|syscall.O_CREAT, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	listed, ok := listDescriptors()
	if !ok && runtime.GOOS == "linux" {
		t.Errorf("listDescriptors of %s is not complete", fdDir)
	}
	if ok && !slices.Contains(listed, fd) {
		t.Errorf("listDescriptors = %v, want it to hold fd %d", listed, fd)
	}
	fds := openDescriptors()
	if !slices.Contains(fds, fd) {
		t.Errorf("openDescriptors = %v, want it to hold fd %d", fds, fd)
	}
	if slices.ContainsFunc(fds, func(fd int) bool { return fd < 3 }) {
		t.Errorf("openDescriptors = %v, want 3 and up", fds)
	}
	// The folder's own descriptor, closed once listed, is left out.
	if next, err := syscall.Dup(0); err == nil {
		syscall.Close(next)
		if ok && slices.Contains(listed, next) && next != fd {
			t.Errorf("listDescriptors = %v holds fd %d, closed since", listed, next)
		}
	}
}

func TestMarkCloseOnExecRestores(t *testing.T) {
	dir := t.TempDir()
	plain, err := syscall.Open(filepath.Join(dir, "plain"), syscall.O_RDWR|syscall.O_CREAT, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(plain)
	closing, err := syscall.Open(filepath.Join(dir, "closing"), syscall.O_RDWR|syscall.O_CREAT|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(closing)

	marked := markCloseOnExec()
	if !slices.Contains(marked, plain) || slices.Contains(marked, closing) {
		t.Errorf("markCloseOnExec = %v, want fd %d and not fd %d", marked, plain, closing)
	}
	if inheritable(t, plain) || inheritable(t, closing) {
		t.Error("a descriptor is inheritable after markCloseOnExec")
	}
	restoreInheritable(marked)
	if !inheritable(t, plain) || inheritable(t, closing) {
		t.Errorf("after restoreInheritable: fd %d inheritable %v (want true), fd %d %v (want false)",
			plain, inheritable(t, plain), closing, inheritable(t, closing))
	}
}
