package cache

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Windows' locks are LockFileEx's byte-range locks on the record's lock
// file (never on the record: a locked file cannot be renamed over). They
// belong to an open file and a process together: a child that inherits the
// handle does not hold its parent's lock, and the parent's lets go when the
// parent closes its last handle of the file or exits. So that a lock still
// passes to a child (store.Lock's Handle, Adopt) and is held by it until
// it exits, whatever becomes of the parent, the lock file has three kinds
// of byte, none of them data (the file stays empty):
//
//   - heldByte: whoever holds the lock through Lock holds it;
//   - gateByte: held for a moment by every Lock, to take heldByte; and for
//     its whole life by a child that adopted the lock, which keeps every
//     Lock out after its parent has let go of heldByte;
//   - markerBase + a process id: held with heldByte by that process, so
//     that a child can tell that its parent holds the lock, rather than
//     some other process.
const (
	heldByte   = 0
	gateByte   = 1
	markerBase = 1 << 32
)

// gatePatience is how long Adopt waits for a Lock that holds the gate for
// a moment: longer means another child adopted it.
const gatePatience = time.Second

// lockByte takes the exclusive lock of the byte at off in f without
// waiting: false and no error when another open file, or another process,
// holds it (on Windows, so does the same open file: locks do not nest).
func lockByte(f *os.File, off uint64) (bool, error) {
	ol := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION), errors.Is(err, windows.ERROR_IO_PENDING):
		return false, nil
	}
	return false, err
}

// holdFile takes a lock of f without waiting (a Pending's temporary file,
// never a lock file): false and no error when another open file holds it.
// Its byte lies far past the data, which another handle writes: Windows'
// locks keep other handles from the bytes they cover.
func holdFile(f *os.File) (bool, error) { return lockByte(f, pendingByte) }

// pendingByte is the byte of a temporary file that holdFile locks.
const pendingByte = 1 << 40

// unlockByte lets go of the byte at off, which this process must hold
// through f itself: else an error.
func unlockByte(f *os.File, off uint64) error {
	ol := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}

// marker is the byte that says process pid holds the lock.
func marker(pid int) uint64 { return markerBase + uint64(uint32(pid)) }

// tryLock takes the lock of f without waiting: false and no error when
// someone holds it. Through the gate, then heldByte and this process's
// marker; the gate is let go at once.
func tryLock(f *os.File) (bool, error) {
	got, err := lockByte(f, gateByte)
	if !got {
		return false, err
	}
	defer unlockByte(f, gateByte)
	if got, err := lockByte(f, heldByte); !got {
		return false, err
	}
	// Nobody else can hold it: heldByte was ours to take. A failure here
	// only keeps a child from telling that we hold the lock.
	lockByte(f, marker(os.Getpid()))
	return true, nil
}

// adoptLock takes over the lock of f, a handle of the lock file handed down
// by a parent process (store.Lock's Handle), as flock's does on Unix:
//
//   - f is the very open file through which this process holds the lock
//     (its marker is f's to let go of): it is ours at once;
//   - nobody holds it: it is taken;
//   - the parent (os.Getppid) holds it, as its marker shows: the gate is
//     kept, so that nobody else takes it once the parent lets go, until
//     this process closes f or exits;
//   - anyone else holds it: refused.
//
// Unlike flock, a parent that holds the lock through another open file of
// it than the one handed down is not told apart from one that handed its
// own down.
func adoptLock(f *os.File) (bool, error) {
	own := marker(os.Getpid())
	if unlockByte(f, own) == nil {
		// Ours through f: take the marker back at once (heldByte keeps
		// everyone else out meanwhile).
		lockByte(f, own)
		return true, nil
	}
	deadline := time.Now().Add(gatePatience)
	for {
		got, err := lockByte(f, gateByte)
		if err != nil {
			return false, err
		}
		if got {
			break
		}
		if time.Now().After(deadline) {
			return false, nil // another child has adopted it
		}
		time.Sleep(time.Millisecond)
	}
	if got, err := lockByte(f, heldByte); got || err != nil {
		if err != nil {
			unlockByte(f, gateByte)
		}
		return got, err
	}
	parent := marker(os.Getppid())
	if got, err := lockByte(f, parent); got || err != nil {
		// The parent does not hold it: someone else does.
		if got {
			unlockByte(f, parent)
		}
		unlockByte(f, gateByte)
		return false, err
	}
	return true, nil
}

// removed says f's file is marked for deletion: its name goes when its
// last handle closes, and a rename of it fails meanwhile.
func removed(f *os.File) bool {
	var info struct {
		AllocationSize, EndOfFile int64
		NumberOfLinks             uint32
		DeletePending, Directory  bool
	}
	err := windows.GetFileInformationByHandleEx(windows.Handle(f.Fd()), windows.FileStandardInfo, (*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
	return err == nil && (info.DeletePending || info.NumberOfLinks == 0)
}
