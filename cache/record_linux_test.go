package cache

import (
	"os"
	"syscall"
	"testing"
)

func TestADeviceIsABadRecord(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: only root can make a device")
	}
	s := newFolder(t)
	// /dev/zero: a read of it would never end.
	if err := syscall.Mknod(s.Path("a@b.c"), syscall.S_IFCHR|0o600, 1<<8|5); err != nil {
		t.Skip(err)
	}
	promptly(t, "Read", func() {
		_, err := s.Read("a@b.c")
		checkBadRecord(t, err, s.Path("a@b.c")+" is not a regular file")
	})
}
