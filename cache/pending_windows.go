package cache

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	unsafeptr "unsafe" // named so: the tests have a function unsafe

	"golang.org/x/sys/windows"
)

// renameio has no Windows support: this is its PendingFile as the store
// uses it, with Windows' own atomic replacement (MoveFileEx).

// pendingFile is the temporary file that replaces a record.
type pendingFile struct {
	*os.File
	path string // the record's
	done bool   // put in place, or removed
}

// newPendingFile makes the temporary file that will replace the record at
// path, in the folder partial: "." + the record's file name + digits, as
// renameio names them, the user's and private (openFile).
func newPendingFile(path, partial string) (*pendingFile, error) {
	prefix := filepath.Join(partial, "."+filepath.Base(path))
	for {
		f, err := openFile(prefix+strconv.FormatInt(rand.Int64(), 10), os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &pendingFile{File: f, path: path}, nil
	}
}

// CloseAtomicallyReplace flushes the file to disk, closes it and moves it
// over the record (replaceFile).
func (p *pendingFile) CloseAtomicallyReplace() error {
	if err := p.Sync(); err != nil {
		return err
	}
	if err := p.Close(); err != nil {
		return err
	}
	if err := replaceFile(p.Name(), p.path); err != nil {
		return err
	}
	p.done = true
	return nil
}

// Cleanup closes and removes the temporary file, unless it was put in
// place.
func (p *pendingFile) Cleanup() {
	if p.done {
		return
	}
	p.Close() // a second Close (after a failed replace) is an error, ignored
	os.Remove(p.Name())
	p.done = true
}

// openFile opens path as openRegular does: sharing read, write and delete
// (so that a record can be replaced or removed while a reader has it open:
// Go's os.Open does not share delete, golang/go#32088), never following a
// reparse point (FILE_FLAG_OPEN_REPARSE_POINT opens the point itself,
// which is then refused as a symbolic link), and only a file on disk. A
// file it creates is the user's, with a private DACL (privateSecurity);
// perm is Unix's, and ignored. The handle is not inherited.
func openFile(path string, flag int, _ os.FileMode) (*os.File, error) {
	access := uint32(windows.GENERIC_READ)
	switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
	case os.O_WRONLY:
		access = windows.GENERIC_WRITE | windows.READ_CONTROL
	case os.O_RDWR:
		access |= windows.GENERIC_WRITE
	}
	disposition := uint32(windows.OPEN_EXISTING)
	var sa *windows.SecurityAttributes
	if flag&os.O_CREATE != 0 {
		disposition = windows.OPEN_ALWAYS
		if flag&os.O_EXCL != 0 {
			disposition = windows.CREATE_NEW
		}
		var err error
		if sa, err = privateSecurity(false); err != nil {
			return nil, err
		}
	}
	p, err := windows.UTF16PtrFromString(longPath(path))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := windows.CreateFile(p, access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, sa, disposition,
		windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		windows.CloseHandle(h)
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 {
		windows.CloseHandle(h)
		return nil, &notRegularError{path, true}
	}
	if typ, err := windows.GetFileType(h); err != nil || typ != windows.FILE_TYPE_DISK || info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0 {
		windows.CloseHandle(h)
		return nil, &notRegularError{path, false}
	}
	return os.NewFile(uintptr(h), path), nil
}

// replaceFile moves the file from over the file to, atomically, and
// through to the disk before it returns. First with POSIX semantics
// (posixRename): the record's name then points at the new file at once,
// even while our readers have the old one open (openFile shares delete).
// Where that is not implemented (before Windows 10 1607, FAT, Wine 8), by
// MoveFileEx(MOVEFILE_REPLACE_EXISTING|MOVEFILE_WRITE_THROUGH: Windows
// cannot flush a folder), which Windows refuses while another handle has
// the record open without sharing delete (an antivirus, an indexer, a
// backup), answering Access denied or a sharing violation: that is tried
// again for up to replacePatience, as Go's own cmd/go does
// (internal/robustio). Wine 8 refuses to replace a file that any handle
// holds open, whatever its sharing (server/fd.c), and is tried again so
// too.
func replaceFile(from, to string) error {
	if posixRename(from, to) == nil {
		return nil
	}
	f, err := windows.UTF16PtrFromString(longPath(from))
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(longPath(to))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(replacePatience)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		err = windows.MoveFileEx(f, t, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH)
		if err == nil {
			return nil
		}
		if !errors.Is(err, windows.ERROR_ACCESS_DENIED) && !errors.Is(err, windows.ERROR_SHARING_VIOLATION) || time.Now().After(deadline) {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
		}
		time.Sleep(pause)
	}
}

// posixRename renames from over to with FILE_RENAME_POSIX_SEMANTICS and
// flushes the file (its new name with it, on NTFS's journal). Any error
// sends replaceFile to MoveFileEx, as Go's os.Root does: the error does
// not tell an unsupported call from a refusal.
func posixRename(from, to string) error {
	p, err := windows.UTF16PtrFromString(longPath(from))
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(p, windows.DELETE|windows.SYNCHRONIZE|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	// An NT path, since NtSetInformationFile takes no Win32 one.
	nt := longPath(to)
	if rest, ok := strings.CutPrefix(nt, `\\?\`); ok {
		nt = `\??\` + rest
	} else if rest, ok := strings.CutPrefix(nt, `\\`); ok {
		nt = `\??\UNC\` + rest
	} else {
		nt = `\??\` + nt
	}
	name, err := windows.UTF16FromString(nt)
	if err != nil {
		return err
	}
	// FILE_RENAME_INFORMATION_EX: Flags, RootDirectory, FileNameLength,
	// then the name (without its NUL).
	type renameInfo struct {
		Flags          uint32
		RootDirectory  windows.Handle
		FileNameLength uint32
		FileName       [1]uint16
	}
	head := int(unsafeptr.Offsetof(renameInfo{}.FileName))
	buf := make([]uint64, (head+2*len(name)+7)/8) // aligned for the handle
	info := (*renameInfo)(unsafeptr.Pointer(&buf[0]))
	info.Flags = windows.FILE_RENAME_REPLACE_IF_EXISTS | windows.FILE_RENAME_POSIX_SEMANTICS
	info.FileNameLength = uint32(2 * (len(name) - 1))
	copy(unsafeptr.Slice(&info.FileName[0], len(name)), name)
	const fileRenameInformationEx = 65
	var iosb windows.IO_STATUS_BLOCK
	if err := windows.NtSetInformationFile(h, &iosb, (*byte)(unsafeptr.Pointer(&buf[0])), uint32(8*len(buf)), fileRenameInformationEx); err != nil {
		return err
	}
	windows.FlushFileBuffers(h) // the rename is done: a failure here is the disk's, as syncDir's
	return nil
}

// replacePatience bounds how long replaceFile tries again a replacement
// that another handle of the record stops (cmd/go's robustio waits 2 s).
const replacePatience = 2 * time.Second
