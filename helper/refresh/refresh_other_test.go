//go:build !unix && !windows

package refresh

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

func TestUnsupported(t *testing.T) {
	if _, err := Start(os.Args[0], nil, nil); !errors.Is(err, errUnsupported) {
		t.Errorf("Start = %v, want errUnsupported", err)
	}
	if _, ok := Request(); ok {
		t.Error("Request() is set")
	}
	ran := false
	if _, err := Serve(time.Second, 1, func(*os.File, io.Writer) (int, Report) { ran = true; return 0, Report{} }); !errors.Is(err, errUnsupported) || ran {
		t.Errorf("Serve = %v (work ran: %v), want errUnsupported", err, ran)
	}
}

func TestFakeWaitTooLong(t *testing.T) { testFakeWaitTooLong(t) }
