// Package keyring keeps refresh tokens in the operating system's keyring:
// the Secret Service over D-Bus on Linux and the BSDs, the login keychain
// on macOS, Credential Manager on Windows. It is the helper.Vault that
// `login --store keyring` chooses; the access token, needed at every call,
// stays in the cache file, so that a cache hit never waits for a keyring.
//
// Every call is bounded (Timeout), never starts a bus, a daemon or a
// prompt, and fails with an *Error that names the backend and the fix.
package keyring

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Name is what a record says of a refresh token kept here.
const Name = "keyring"

// Timeout bounds each operation: a keyring that waits for a person to
// unlock it, or a service that never answers, fails instead.
var Timeout = 3 * time.Second

// service names this program's items, with the auth host and the
// account.
const service = "akiflow-token"

// Keyring is the OS keyring, as a helper.Vault.
type Keyring struct{ b backend }

// Open returns the platform's keyring. Nothing is contacted until a method
// needs it.
func Open() *Keyring { return &Keyring{b: platform()} }

// item names one refresh token: an account of an auth host, kept by one
// cache store (its folder), so that two cache folders of one user never
// share a token.
type item struct{ host, store, account string }

// backend is one platform's keyring; get returns "" when there is no item.
type backend interface {
	name() string // for messages: "the Secret Service", "the login keychain", ...
	get(ctx context.Context, it item) (string, error)
	set(ctx context.Context, it item, secret string) error
	remove(ctx context.Context, it item) error
}

// Name is Name.
func (k *Keyring) Name() string { return Name }

// Get returns the refresh token of the account of store (a cache folder)
// on host; "" when the keyring has none.
func (k *Keyring) Get(host, store, account string) (string, error) {
	it := item{host, store, account}
	return k.do("read the refresh token from", func(ctx context.Context) (string, error) { return k.b.get(ctx, it) })
}

// Set replaces the refresh token of the account of store on host.
func (k *Keyring) Set(host, store, account, token string) error {
	it := item{host, store, account}
	_, err := k.do("save the refresh token in", func(ctx context.Context) (string, error) { return "", k.b.set(ctx, it, token) })
	return err
}

// Delete forgets the refresh token of the account of store on host; none
// is no error.
func (k *Keyring) Delete(host, store, account string) error {
	it := item{host, store, account}
	_, err := k.do("remove the refresh token from", func(ctx context.Context) (string, error) { return "", k.b.remove(ctx, it) })
	return err
}

// do runs op within Timeout, and makes its failure an *Error. An op that
// overruns is left behind (a backend that blocks in a system call cannot
// be interrupted), and its late result ignored.
func (k *Keyring) do(what string, op func(ctx context.Context) (string, error)) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	type result struct {
		value string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		v, err := op(ctx)
		done <- result{v, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	if r.err == nil {
		return r.value, nil
	}
	e := &Error{Backend: k.b.name(), What: what, Err: r.err}
	if errors.Is(r.err, context.DeadlineExceeded) {
		e.Err, e.slow = fmt.Errorf("no answer within %s", Timeout), true
	}
	return "", e
}

// Error is a keyring's failure: one line that names the backend, what was
// being done and, where known, the fix.
type Error struct {
	Backend string // "the Secret Service"
	What    string // "read the refresh token from"
	Err     error
	slow    bool
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("could not %s %s: %v", e.What, e.Backend, e.Err)
	var f fixer
	if errors.As(e.Err, &f) {
		msg += "; " + f.Fix()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Timeout says the keyring did not answer in time: it may answer later
// (exit status 4), where other failures need a person (1).
func (e *Error) Timeout() bool { return e.slow }

// Transient is Timeout, for callers that ask whether trying later may help.
func (e *Error) Transient() bool { return e.slow }

// Is makes a keyring that did not answer in time a deadline exceeded.
func (e *Error) Is(target error) bool { return e.slow && target == context.DeadlineExceeded }

// fixer is a backend's error that knows what mends it.
type fixer interface{ Fix() string }

// problem is a backend's error with its fix.
type problem struct{ msg, fix string }

func (p *problem) Error() string { return p.msg }
func (p *problem) Fix() string   { return p.fix }
