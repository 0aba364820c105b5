package refresh

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// The tests of this file run Wait on a child of this process's own making:
// a pipe whose write end the test holds and an exit status it sends when
// it likes. Those with real processes are in refresh_unix_test.go.

// fakeChild is a Child whose report pipe and exit the test controls.
func fakeChild(t *testing.T) (*Child, *os.File, chan<- int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	exited := make(chan int, 1)
	return &Child{report: r, exited: exited}, w, exited
}

// send writes lines as the child's Serve does.
func send(t *testing.T, w io.Writer, lines ...line) {
	t.Helper()
	enc := json.NewEncoder(w)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFakeWaitStatusOfTheReport(t *testing.T) {
	c, w, _ := fakeChild(t)
	var log strings.Builder
	rep := reporter{json.NewEncoder(w)}
	io.WriteString(rep, "first\n")
	io.WriteString(rep, "second\n")
	send(t, w, line{Report: &Report{Status: 7, Message: "it failed", Timeout: true, Unsaved: json.RawMessage(`{"a":1}`)}})
	// The report says the status: Wait needs no exit to know it.
	status, r, err := c.Wait(context.Background(), time.Hour, &log)
	if err != nil || status != 7 || r.Message != "it failed" || !r.Timeout || string(r.Unsaved) != `{"a":1}` {
		t.Errorf("Wait = %d, %+v, %v; want 7, the report", status, r, err)
	}
	if log.String() != "first\nsecond\n" {
		t.Errorf("log = %q", log.String())
	}
}

func TestFakeWaitNoReport(t *testing.T) {
	defer func(d time.Duration) { exitWait = d }(exitWait)
	exitWait = 50 * time.Millisecond // for "status unknown"
	t.Run("exited", func(t *testing.T) {
		t.Parallel()
		c, w, exited := fakeChild(t)
		send(t, w, line{Log: "bye\n"}, line{})
		w.Close()
		exited <- 2
		var log strings.Builder
		status, _, err := c.Wait(context.Background(), time.Hour, &log)
		if !errors.Is(err, ErrNoReport) || status != 2 || log.String() != "bye\n" {
			t.Errorf("Wait = %d, %v, log %q; want 2, ErrNoReport, bye", status, err, log.String())
		}
	})
	t.Run("status unknown", func(t *testing.T) {
		c, w, _ := fakeChild(t)
		w.Close()
		status, _, err := c.Wait(context.Background(), time.Hour, io.Discard)
		if !errors.Is(err, ErrNoReport) || status != -1 {
			t.Errorf("Wait = %d, %v; want -1, ErrNoReport", status, err)
		}
	})
}

func TestFakeWaitSkipsForeignLines(t *testing.T) {
	c, w, exited := fakeChild(t)
	io.WriteString(w, "garbage\n{\"log\":3}\n{}\n{\"report\":null}\n")
	send(t, w, line{Log: "mine\n"}, line{Report: &Report{}})
	exited <- 0
	var log strings.Builder
	if status, _, err := c.Wait(context.Background(), time.Hour, &log); err != nil || status != 0 || log.String() != "mine\n" {
		t.Errorf("Wait = %d, %v, log %q; want 0, mine", status, err, log.String())
	}
}

// checkClosed checks that Wait closed its end of the pipe: the child,
// writing on, gets an error rather than blocking on a full pipe.
func checkClosed(t *testing.T, w *os.File) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := w.Write([]byte(strings.Repeat("x", 4096))); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the pipe's read end is still open after Wait returned")
		}
	}
}

func TestFakeWaitCancelled(t *testing.T) {
	c, w, _ := fakeChild(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	status, r, err := c.Wait(ctx, time.Hour, io.Discard)
	if !errors.Is(err, context.Canceled) || status != -1 || r.Message != "" {
		t.Errorf("Wait = %d, %+v, %v; want -1, context.Canceled", status, r, err)
	}
	checkClosed(t, w)
}

// testFakeWaitTooLong is run by TestAfterTheBounds (unix): it takes
// lateGrace.
func testFakeWaitTooLong(t *testing.T) {
	c, w, _ := fakeChild(t)
	status, r, err := c.Wait(context.Background(), time.Millisecond, io.Discard)
	if !errors.Is(err, ErrTooLong) || status != -1 || r.Message != "" {
		t.Errorf("Wait = %d, %+v, %v; want -1, ErrTooLong", status, r, err)
	}
	checkClosed(t, w)
}

func TestReporterWritesOneLinePerWrite(t *testing.T) {
	var b strings.Builder
	rep := reporter{json.NewEncoder(&b)}
	in := "two\nlines and \"quotes\"\n"
	if n, err := rep.Write([]byte(in)); n != len(in) || err != nil {
		t.Errorf("Write = %d, %v; want %d, nil", n, err, len(in))
	}
	var l line
	if !strings.HasSuffix(b.String(), "\n") || strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("reporter wrote %q, want one line", b.String())
	}
	if err := json.Unmarshal([]byte(b.String()), &l); err != nil || l.Log != in || l.Report != nil {
		t.Errorf("reporter wrote %q (%+v, %v)", b.String(), l, err)
	}
	// A parent gone: the write is lost, not an error for the child.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	if n, err := (reporter{json.NewEncoder(w)}).Write([]byte(in)); n != len(in) || err != nil {
		t.Errorf("Write to a closed pipe = %d, %v; want %d, nil", n, err, len(in))
	}
}
