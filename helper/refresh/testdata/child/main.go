//go:build unix

// Command child is the refresh child of package refresh's tests: run with
// the single argument refresh.Command, it serves the request its parent
// (the test) sent, doing what the request's "do" says. Run by hand, it
// calls Serve all the same, to show that Serve refuses.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"akiflow-token/helper/refresh"
)

// request is what the test asks; the test has its twin.
type request struct {
	Do      string          `json:"do"`
	Dir     string          `json:"dir"`             // where the child writes its files: pid, done
	Bound   time.Duration   `json:"bound,omitempty"` // Serve's bound; a few minutes when 0
	Status  int             `json:"status,omitempty"`
	Message string          `json:"message,omitempty"`
	Timeout bool            `json:"timeout,omitempty"`
	Unsaved json.RawMessage `json:"unsaved,omitempty"`
	Lines   []string        `json:"lines,omitempty"` // longLine stands for a line too long for the request
	Lock    string          `json:"lock,omitempty"`  // the lock file's path
	Marker  string          `json:"marker,omitempty"`
}

// longLine, in request.Lines, is a 200 kB line: longer than the scanner's
// first buffer, and than an environment variable may be.
const longLine = "<long>"

// fd is an open descriptor at the start of main.
type fd struct {
	FD          int    `json:"fd"`
	Target      string `json:"target"` // what it is, for the test's messages
	CloseOnExec bool   `json:"cloexec"`
	Dev         uint64 `json:"dev"`
	Ino         uint64 `json:"ino"`
}

// observations is what an "inspect" child reports (in Report.Unsaved).
type observations struct {
	Args        []string     `json:"args"`
	FDs         []fd         `json:"fds"`      // open at the start of main
	DevNull     map[int]bool `json:"dev_null"` // fd 0, 1, 2 are /dev/null
	PID         int          `json:"pid"`
	SID         int          `json:"sid"`
	PGID        int          `json:"pgid"`
	LockSame    bool         `json:"lock_same"`    // fd 3 is the file at request.Lock
	LockFlocked string       `json:"lock_flocked"` // flock(3, LOCK_EX|LOCK_NB): "" or its error
}

// defaultBound ends a child the test forgot: nothing outlives it long.
const defaultBound = 2 * time.Minute

func main() {
	if len(os.Args) != 2 || os.Args[1] != refresh.Command {
		fmt.Fprintf(os.Stderr, "usage: %s %s\n", os.Args[0], refresh.Command)
		os.Exit(2)
	}
	fds := listFDs() // first, before this process opens anything
	// A copy of the report pipe for the line after Serve: Serve's own
	// *os.File of fd 4 may be closed by its finalizer once Serve returns.
	report, _ := unix.FcntlInt(4, unix.F_DUPFD_CLOEXEC, 10)

	var req request
	if data, ok := refresh.Request(); ok {
		if err := json.Unmarshal(data, &req); err != nil {
			fmt.Fprintf(os.Stderr, "child: bad request: %v\n", err)
			os.Exit(2)
		}
	}
	bound := req.Bound
	if bound == 0 {
		bound = defaultBound
	}
	status, err := refresh.Serve(bound, 4, func(lock *os.File, log io.Writer) (int, refresh.Report) {
		return work(req, fds, lock, log)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "child: %v\n", err)
		os.Exit(64)
	}
	// Heard by the parent only when no report came before (the backstop).
	if report > 0 {
		line, _ := json.Marshal(map[string]string{"log": fmt.Sprintf("Serve returned %d\n", status)})
		syscall.Write(report, append(line, '\n'))
	}
	os.Exit(status)
}

// held keeps the lock's *os.File reachable, as the store's adopted lock
// does: unreachable, its finalizer would close fd 3, and let the lock go,
// while a child hangs.
var held *os.File

func work(req request, fds []fd, lock *os.File, log io.Writer) (int, refresh.Report) {
	held = lock
	if req.Do == "" {
		fmt.Println("work ran")
		return 0, refresh.Report{}
	}
	// The test may signal this process once this file is there: Serve
	// ignores the signals before work runs.
	writeFile(req.Dir, "pid", strconv.Itoa(os.Getpid()))
	switch req.Do {
	case "ok":
		return 0, refresh.Report{}
	case "fail":
		return req.Status, refresh.Report{Message: req.Message, Timeout: req.Timeout}
	case "unsaved":
		return req.Status, refresh.Report{Unsaved: req.Unsaved}
	case "log":
		for _, l := range req.Lines {
			if l == longLine {
				l = strings.Repeat("long ", 40000) + "\n"
			}
			io.WriteString(log, l)
		}
		return req.Status, refresh.Report{Message: req.Message}
	case "noise":
		// Lines that are not the protocol's, which the parent skips.
		syscall.Write(4, []byte("not json\n"))
		syscall.Write(4, []byte("{\"log\": 7}\n"))
		syscall.Write(4, []byte("[\"log\"]\n"))
		io.WriteString(log, "after the noise\n")
		return 0, refresh.Report{Message: "heard"}
	case "exit-early":
		io.WriteString(log, "leaving without a word\n")
		os.Exit(req.Status)
	case "hang":
		io.WriteString(log, "hanging\n")
		select {}
	case "finish-later":
		// Runs on after its parent stopped listening, then leaves a file.
		io.WriteString(log, "waiting\n")
		waitFor(filepath.Join(req.Dir, "release"))
		io.WriteString(log, "to a parent that is gone\n")
		writeFile(req.Dir, "done", "done")
		return req.Status, refresh.Report{Message: "finished alone"}
	case "inspect":
		// Waits for the test to look at it (and signal it) first.
		waitFor(filepath.Join(req.Dir, "release"))
		return req.Status, refresh.Report{Unsaved: inspect(req, fds, lock)}
	}
	return 70, refresh.Report{Message: "unknown request " + strconv.Quote(req.Do)}
}

func inspect(req request, fds []fd, lock *os.File) json.RawMessage {
	o := observations{Args: os.Args, FDs: fds, DevNull: map[int]bool{}, PID: os.Getpid(), PGID: syscall.Getpgrp()}
	if sid, err := unix.Getsid(0); err == nil {
		o.SID = sid
	}
	null, err := os.Stat(os.DevNull)
	for fd, f := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		st, err2 := f.Stat()
		o.DevNull[fd] = err == nil && err2 == nil && os.SameFile(st, null)
	}
	if req.Lock != "" {
		got, err := lock.Stat()
		want, err2 := os.Stat(req.Lock)
		o.LockSame = err == nil && err2 == nil && os.SameFile(got, want)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		o.LockFlocked = err.Error()
	}
	b, _ := json.Marshal(o)
	return b
}

// fdDir lists this process's descriptors.
func fdDir() string {
	if _, err := os.Stat("/proc/self/fd"); err == nil {
		return "/proc/self/fd"
	}
	return "/dev/fd"
}

// listFDs lists the open descriptors, leaving out the one it reads the
// folder with.
func listFDs() []fd {
	dir, err := syscall.Open(fdDir(), syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(dir)
	var fds []fd
	buf := make([]byte, 8192)
	for {
		n, err := syscall.ReadDirent(dir, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names := syscall.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if n, err := strconv.Atoi(name); err == nil && n != dir {
				fds = append(fds, describe(n))
			}
		}
	}
	sort.Slice(fds, func(i, j int) bool { return fds[i].FD < fds[j].FD })
	return fds
}

func describe(n int) fd {
	d := fd{FD: n}
	d.Target, _ = os.Readlink(filepath.Join(fdDir(), strconv.Itoa(n)))
	if flags, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); err == nil {
		d.CloseOnExec = flags&unix.FD_CLOEXEC != 0
	}
	var st syscall.Stat_t
	if syscall.Fstat(n, &st) == nil {
		d.Dev, d.Ino = uint64(st.Dev), uint64(st.Ino)
	}
	return d
}

// writeFile writes name in dir at once: the test never sees it half written.
func writeFile(dir, name, content string) {
	tmp := filepath.Join(dir, "."+name)
	if os.WriteFile(tmp, []byte(content), 0o600) == nil {
		os.Rename(tmp, filepath.Join(dir, name))
	}
}

// waitFor waits until path exists (the backstop ends a forgotten child).
func waitFor(path string) {
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
