package keyring

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Credential Manager keeps at most 2,560 bytes: a larger token is refused
// before any call, saying so.
func TestBlobSize(t *testing.T) {
	if err := checkBlobSize(strings.Repeat("x", maxBlob)); err != nil {
		t.Errorf("%d bytes: %v", maxBlob, err)
	}
	err := checkBlobSize(strings.Repeat("x", maxBlob+1))
	if err == nil || !strings.Contains(err.Error(), "2561 bytes, more than the 2560") {
		t.Errorf("%d bytes: %v", maxBlob+1, err)
	}
}

// fake is a backend whose every call fails with err, after delay.
type fake struct {
	err   error
	delay time.Duration
}

func (fake) name() string { return "the fake keyring" }
func (f fake) get(ctx context.Context, _ item) (string, error) {
	return "", f.wait(ctx)
}
func (f fake) set(ctx context.Context, _ item, _ string) error { return f.wait(ctx) }
func (f fake) remove(ctx context.Context, _ item) error        { return f.wait(ctx) }
func (f fake) wait(ctx context.Context) error {
	select {
	case <-time.After(f.delay):
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A backend's failure is one line naming the backend, what was being done
// and the fix; only a keyring that does not answer in time is a timeout.
func TestErrors(t *testing.T) {
	k := &Keyring{b: fake{err: &problem{msg: "it is locked", fix: "unlock it"}}}
	err := k.Set("h", "/s", "a", "secret")
	var ke *Error
	if !errors.As(err, &ke) || ke.Timeout() || err.Error() != "could not save the refresh token in the fake keyring: it is locked; unlock it" {
		t.Errorf("Set: %v", err)
	}
	defer func(d time.Duration) { Timeout = d }(Timeout)
	Timeout = 50 * time.Millisecond
	// A backend that ignores its deadline (blocked in a system call) is
	// left behind: the caller waits Timeout, not the backend's time.
	k = &Keyring{b: fake{delay: time.Hour}}
	start := time.Now()
	_, err = k.Get("h", "/s", "a")
	if !errors.As(err, &ke) || !ke.Timeout() || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("Get: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Get took %s", d)
	}
}
