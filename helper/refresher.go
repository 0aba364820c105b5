package helper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"akiflow-token/helper/format"
	"akiflow-token/helper/refresh"
)

// A refresh, once sent, spends the old refresh token even if the process
// that sent it dies before saving the new one. So the refresh-and-save
// step (refreshAndSave) runs in a detached child process that inherits the
// account's lock (package refresh): the lock stays held until the new
// tokens are saved, even if this process is gone.

// refreshRequest is what the child is asked to do: nothing secret.
type refreshRequest struct {
	Version    int           `json:"v"` // refreshProtocol: a child of another version refuses it
	BaseURL    string        `json:"base_url"`
	Email      string        `json:"email"` // the account's key
	Timeout    time.Duration `json:"timeout"`
	Insecure   bool          `json:"insecure,omitempty"`
	Verbose    bool          `json:"verbose,omitempty"`
	AppVersion string        `json:"app_version,omitempty"`
	Platform   string        `json:"platform,omitempty"`
	OAuth      bool          `json:"oauth,omitempty"` // the account's OAuth session, in the OAuth store
}

// refreshProtocol is the version of the request and of the child's exit
// statuses and report: bump it when any of them changes.
const refreshProtocol = 3

// refreshDetached runs refreshAndSave in the child and returns the session
// it saved. A store whose locks cannot pass to another process, or a child
// that cannot be started or refuses its request (another version, during
// an upgrade), is refreshed in this process, saying so.
func (h *Helper) refreshDetached(ctx context.Context, c *call, lock Lock, s *Session) (*Session, error) {
	here := func(why any) (*Session, error) {
		c.noticef("akiflow-token: refreshing in this process: %v", why)
		return c.refreshAndSave(ctx, s)
	}
	f := lock.Handle()
	if f == nil {
		return here("the store's lock cannot pass to another process")
	}
	exe, err := os.Executable()
	if err != nil {
		return here(err)
	}
	r := refreshRequest{Version: refreshProtocol, BaseURL: h.base.String(), Email: s.Email,
		Timeout: h.cfg.Timeout, Insecure: h.cfg.Insecure, Verbose: h.cfg.Verbose,
		AppVersion: h.cfg.AppVersion, Platform: h.cfg.Platform, OAuth: h.cfg.OAuth}
	req, _ := json.Marshal(r)
	child, err := refresh.Start(exe, req, f)
	if err != nil {
		return here(err)
	}
	status, report, err := child.Wait(ctx, h.lockWait(), h.cfg.Stderr)
	switch {
	case ctx.Err() != nil:
		return nil, ErrInterrupted // the child finishes and saves without us
	case errors.Is(err, refresh.ErrNoReport) && status == ExitUsage:
		return here("the refresh process refused its request (another version of akiflow-token)")
	case errors.Is(err, refresh.ErrTooLong):
		return nil, &Error{Code: ExitUnavailable, Err: &timeoutError{fmt.Sprintf("the refresh did not finish within %s", h.lockWait())}}
	case err != nil:
		// Killed, or gone without a word: whether the refresh was sent is
		// unknown, so the session is kept as it is, and a still-good token
		// serves.
		return nil, &Error{Code: ExitUnavailable, Err: err}
	}
	switch status {
	case ExitOK:
	case ExitLoginNeeded:
		return nil, &rejectedError{report.Message}
	default:
		msg := orDefault(report.Message, "the refresh failed")
		if report.Timeout {
			return nil, &Error{Code: status, Err: &timeoutError{msg}}
		}
		return nil, &Error{Code: status, Err: errors.New(msg)}
	}
	fresh, err := c.load(s.Email)
	if report.Unsaved != nil { // the child warned that it could not be saved
		fresh, err = ParseSession(report.Unsaved)
	}
	switch {
	case err != nil:
		return nil, err
	case fresh == nil || fresh.Email != s.Email || !fresh.validFor(c.now(), 0):
		// A refresh process that says it succeeded must have a good token
		// of this account to show for it.
		return nil, &Error{Code: ExitUnavailable, Err: errors.New("the refresh process said it refreshed, but left no good token")}
	}
	return fresh, nil
}

// RefreshChild is the detached refresh process (refresh.Command): it
// adopts the lock its parent handed down, refreshes the account's session
// in store and saves it, and returns its exit status: ExitOK, or
// ExitLoginNeeded when Akiflow rejected the refresh token (then forgotten),
// or the failure's. open opens the store of an auth host, vault the Vault
// of a name (nil when it knows none).
func RefreshChild(open func(host string) Store, vault func(name string) Vault) int {
	data, ok := refresh.Request()
	var r refreshRequest
	if !ok || json.Unmarshal(data, &r) != nil || r.Version != refreshProtocol || r.Email == "" {
		fmt.Fprintf(os.Stderr, "akiflow-token: %s is run by akiflow-token itself\n", refresh.Command)
		return ExitUsage
	}
	cfg := Config{BaseURL: r.BaseURL, Timeout: r.Timeout, Insecure: r.Insecure, Verbose: r.Verbose,
		AppVersion: r.AppVersion, Platform: r.Platform, OAuth: r.OAuth}
	cfg.Vault = vault
	probe, err := New(cfg, func(string) Store { return nil })
	if err != nil {
		fmt.Fprintf(os.Stderr, "akiflow-token: %s: %v\n", refresh.Command, err)
		return ExitUsage
	}
	// Its requests are bounded by the timeout, the save is not: twice the
	// parent's wait leaves them ample room.
	// A failure is reported on the pipe, and on stderr for a person who
	// runs the child by hand (the parent gives it /dev/null).
	fail := func(err error) (int, refresh.Report) {
		fmt.Fprintf(os.Stderr, "akiflow-token: %s\n", format.SafeText(err.Error()))
		return max(ExitCode(err), ExitFailure), refresh.Report{Message: err.Error(), Timeout: IsTimeout(err)}
	}
	status, err := refresh.Serve(2*probe.lockWait(), ExitUnavailable, func(f *os.File, log io.Writer) (int, refresh.Report) {
		cfg.Stderr = log
		records := open(probe.group)
		h, err := New(cfg, func(string) Store { return records })
		if err != nil {
			return fail(err)
		}
		c := h.newCall(Request{Account: r.Email})
		lock, err := records.Adopt(accountKey(r.Email), f)
		if err != nil {
			return fail(err)
		}
		defer lock.Close()
		s, err := c.load(accountKey(r.Email))
		if err == nil && !s.canRefresh() {
			err = errors.New("there is no session to refresh")
		}
		if err != nil {
			return fail(err)
		}
		fresh, err := c.refreshAndSave(context.Background(), s)
		if err != nil {
			return fail(err)
		}
		var report refresh.Report
		if c.unsaved {
			report.Unsaved = fresh.marshal()
		}
		return ExitOK, report
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "akiflow-token: %v\n", err)
		return ExitUsage
	}
	return status
}
