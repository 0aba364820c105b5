package helper

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"akiflow-token/helper/akiflow"
)

// A refresh, once sent, spends the old refresh token even if the process
// that sent it dies before saving the new one (Ctrl-C, a caller's timeout,
// SIGKILL). So in production the refresh-and-save step runs in a detached
// child process that inherits the account's lock (refreshDetached, in the
// platform's file): the lock stays held until the new tokens are saved, even
// if the parent is gone. This file holds what both sides share: the request
// the child gets in its argv and the messages it sends back on a pipe.

// RefreshCommand is the first argument of the child; main dispatches it
// before parsing any command line, since its arguments are ours.
const RefreshCommand = "__refresh"

// RefreshRequest is what the child is asked to do, as its one argument
// after RefreshCommand: JSON, with nothing secret in it.
type RefreshRequest struct {
	Version  int           `json:"v"` // refreshProtocol: a child of another version refuses it
	BaseURL  string        `json:"base_url"`
	Email    string        `json:"email"`
	Timeout  time.Duration `json:"timeout"`
	Insecure bool          `json:"insecure,omitempty"`
	Verbose  bool          `json:"verbose,omitempty"`
	// The client headers the caller was told to claim.
	AppVersion string `json:"app_version,omitempty"`
	Platform   string `json:"platform,omitempty"`
}

// refreshProtocol is the version of the request and of the messages on the
// pipe: bump it when either changes.
const refreshProtocol = 1

// ParseRefreshRequest reads the child's arguments into the Config of its
// Helper.
func ParseRefreshRequest(args []string) (Config, error) {
	var r RefreshRequest
	if len(args) != 1 || json.Unmarshal([]byte(args[0]), &r) != nil || r.Version != refreshProtocol || r.Email == "" {
		return Config{}, UsageError("%s is run by akiflow-token itself", RefreshCommand)
	}
	return Config{BaseURL: r.BaseURL, Email: r.Email, Timeout: r.Timeout, Insecure: r.Insecure, Verbose: r.Verbose,
		AppVersion: r.AppVersion, Platform: r.Platform}, nil
}

func (h *Helper) refreshRequest(s *Session) string {
	data, _ := json.Marshal(RefreshRequest{Version: refreshProtocol, BaseURL: h.base.String(), Email: s.Email,
		Timeout: h.cfg.Timeout, Insecure: h.cfg.Insecure, Verbose: h.cfg.Verbose,
		AppVersion: h.cfg.AppVersion, Platform: h.cfg.Platform})
	return string(data)
}

// childMessage is one line on the result pipe: a --verbose line, or the
// outcome.
type childMessage struct {
	Log    string     `json:"log,omitempty"`
	Done   bool       `json:"done,omitempty"`
	Failed *wireError `json:"failed,omitempty"`
	// Unsaved is a refreshed session the child could not save: the
	// server has rotated the refresh token, and this access token is all
	// that is left of it. It travels on our own pipe, never to a log.
	Unsaved *Session `json:"unsaved,omitempty"`
}

// wireError carries a refresh's error across the pipe as the values it
// held, so that the parent decides on the same types as an in-process
// refresh, and says the same words.
type wireError struct {
	Message string               `json:"message"`
	Server  *akiflow.ServerError `json:"server,omitempty"`  // the server's reply
	Network *wireNetwork         `json:"network,omitempty"` // no reply
	NotSent bool                 `json:"not_sent,omitempty"`
	Code    int                  `json:"code,omitempty"` // the exit status, for any other error
}

type wireNetwork struct{ Op, Host, Message string }

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Message: err.Error(), Code: ExitCode(err)}
	var ns *notSentError
	var se *akiflow.ServerError
	var ne *akiflow.NetworkError
	if errors.As(err, &ns) {
		w.NotSent, err = true, ns.err
	}
	switch {
	case errors.As(err, &se):
		w.Server = se
	case errors.As(err, &ne):
		w.Network = &wireNetwork{ne.Op, ne.Host, ne.Err.Error()}
	}
	return w
}

func (w *wireError) err() error {
	var cause error
	switch {
	case w.Server != nil:
		cause = w.Server
	case w.Network != nil:
		cause = &akiflow.NetworkError{Op: w.Network.Op, Host: w.Network.Host, Err: errors.New(w.Network.Message)}
	case w.Code == ExitOK:
		cause = &Error{Code: ExitFailure, Err: errors.New(w.Message)} // a failure never exits 0
	default:
		cause = &Error{Code: w.Code, Err: errors.New(w.Message)}
	}
	if w.NotSent {
		cause = &notSentError{cause}
	}
	return &childError{w.Message, cause}
}

// childError is the child's error: its words, and the values they came from.
type childError struct {
	message string
	cause   error
}

func (e *childError) Error() string { return e.message }
func (e *childError) Unwrap() error { return e.cause }

// readChild reads the child's messages from r, forwarding its log lines to
// the Helper's stderr, until its outcome: nil, or the session it refreshed
// and could not save.
func (h *Helper) readChild(ctx context.Context, r io.Reader) (*Session, error) {
	type outcome struct {
		unsaved *Session
		err     error
	}
	done := make(chan outcome, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 4096), maxChildLine)
		for {
			var m childMessage
			if !sc.Scan() {
				done <- outcome{err: errChildVanished}
				return
			}
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue // not ours: the outcome is what counts
			}
			if m.Log != "" {
				io.WriteString(h.cfg.Stderr, m.Log)
			}
			if m.Done {
				var err error
				if m.Failed != nil {
					err = m.Failed.err()
				}
				done <- outcome{m.Unsaved, err}
				return
			}
		}
	}()
	select {
	case <-ctx.Done():
		return nil, ErrInterrupted // the child finishes and saves without us
	case <-time.After(h.lockWait()): // its own requests are bounded: this is a backstop
		return nil, withCode(ExitUnavailable, "the refresh did not finish within %s", h.lockWait())
	case o := <-done:
		return o.unsaved, o.err
	}
}

// maxChildLine bounds a line from the child: its log lines and outcome are
// a few kilobytes.
const maxChildLine = 1 << 20

// errChildVanished is a refresh process that ended without an outcome
// (killed, or a binary of another version during an upgrade): whether the
// refresh was sent is unknown, so the session is kept as it is, and a
// still-good token serves.
var errChildVanished = withCode(ExitUnavailable, "the refresh process ended without saying how it went")

// serveRefresh is the child's work once it holds the lock: refresh the
// account's session, save it, and report on out.
func (h *Helper) serveRefresh(lock io.Closer, out io.Writer) error {
	enc := json.NewEncoder(out)
	h.cfg.Stderr = logPipe{enc}
	s, err := h.load(h.cfg.Email)
	if err == nil && !s.canRefresh() {
		err = errors.New("there is no session to refresh")
	}
	var fresh *Session
	if err == nil {
		fresh, err = h.refreshHere(context.Background(), lock, s)
	}
	m := childMessage{Done: true, Failed: toWire(err)}
	if fresh != nil {
		if saved, _ := h.load(s.Email); saved == nil || saved.AccessToken != fresh.AccessToken {
			m.Unsaved = fresh
		}
	}
	enc.Encode(m) // the parent may be gone: nothing to do about it
	return err
}

// afterChild reads what the child saved.
func (h *Helper) afterChild(email string) (*Session, error) {
	fresh, err := h.load(email)
	if err == nil && fresh == nil {
		err = errors.New("the refreshed session was not saved")
	}
	return fresh, err
}

// logPipe forwards --verbose lines to the parent.
type logPipe struct{ enc *json.Encoder }

func (p logPipe) Write(b []byte) (int, error) {
	p.enc.Encode(childMessage{Log: string(b)})
	return len(b), nil
}
