// Package helper is akiflow-token's token flow: it prints a valid Akiflow
// access token, from the cache when it can, refreshing it when it must, and
// asking the person for an email code only when there is no other way. It
// also holds the Akiflow protocol client and the output formats. It knows
// nothing of the command line.
package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"akiflow-token/cache"
)

// Config is what the command line decides.
type Config struct {
	BaseURL        string        // the auth host; DefaultBaseURL when empty
	Email          string        // the account; empty for the default one
	MinTTL         time.Duration // the printed token has at least this long left
	ForceRefresh   bool
	Timeout        time.Duration // bound on each exchange
	Output         string        // one of the Format constants
	ExecInfo       string        // KUBERNETES_EXEC_INFO, read for FormatExecCredential
	NonInteractive bool          // never prompt
	Insecure       bool          // skip TLS verification
	Verbose        bool
	Stderr         io.Writer
	Now            func() time.Time // nil for time.Now
}

// Defaults of the Config fields, which the command line shows.
const (
	DefaultMinTTL  = 5 * time.Minute
	DefaultTimeout = 15 * time.Second
)

// Version is akiflow-token's version: its module version when installed
// with go install, else "dev".
func Version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return strings.TrimPrefix(info.Main.Version, "v")
	}
	return "dev"
}

// Helper gets tokens for one auth host. Its sessions live in a
// cache.Store, one record per account (named by email), plus a record
// naming the account that logged in last.
type Helper struct {
	cfg      Config
	base     *url.URL
	execInfo *ExecInfo
	store    *cache.Store
	client   *Client // made on first use: a cache hit needs no HTTP
	warned   map[string]bool
}

// currentRecord names the account that logged in last. It has no "@", so it
// never clashes with an account's record.
const currentRecord = "current"

// New checks cfg and returns a Helper.
func New(cfg Config) (*Helper, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	base, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Email != "" {
		if err := CheckEmail(cfg.Email); err != nil {
			return nil, UsageError("--email: %v", err)
		}
	}
	if cfg.MinTTL < 0 {
		return nil, UsageError("--min-ttl must not be negative")
	}
	if cfg.Timeout <= 0 {
		return nil, UsageError("--timeout must be positive")
	}
	h := &Helper{cfg: cfg, base: base, store: cache.Open(base.Host)}
	if cfg.Output == FormatExecCredential {
		if h.execInfo, err = ParseExecInfo(cfg.ExecInfo); err != nil {
			return nil, UsageError("%v", err)
		}
		h.cfg.NonInteractive = h.cfg.NonInteractive || !h.execInfo.Interactive
	}
	return h, nil
}

// ParseBaseURL accepts https URLs, and plain http only to this machine.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, UsageError("--base-url %q is not a URL such as %s", raw, DefaultBaseURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return nil, UsageError("--base-url %s: plain http is only allowed to this machine (localhost); use https", raw)
	default:
		return nil, UsageError("--base-url %q must start with https://", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckEmail rejects what cannot be an email before any request is sent.
func CheckEmail(email string) error {
	at := strings.LastIndexByte(email, '@')
	switch {
	case len(email) > 254:
		return errors.New("the email is too long")
	case strings.ContainsFunc(email, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' || r == '\\' }):
		return fmt.Errorf("the email %q has spaces or control characters", email)
	case at <= 0 || at == len(email)-1:
		return fmt.Errorf("%q is not an email address", email)
	}
	return nil
}

// Token returns a session whose access token has at least MinTTL left, or
// the freshest token the server gives. Read it top to bottom:
//
//  1. a cached token that is still good is returned: no lock, no network;
//  2. otherwise, under the account's lock, the cache is read again (another
//     process may have refreshed it);
//  3. a refresh token is traded for new tokens, saved before returning;
//  4. only with no session, or a refresh token the server rejected, does the
//     person log in again, if there is a terminal and prompting is allowed;
//  5. a transient failure keeps the session, and returns the cached token
//     with a warning while it has not expired.
func (h *Helper) Token(ctx context.Context) (*Session, error) {
	email, err := h.account()
	if err != nil {
		return nil, err
	}
	if s, ok := h.Cached(); ok && !h.cfg.ForceRefresh {
		h.logf("using the cached token of %s (%s left)", email, h.left(s))
		return s, nil
	}
	cached, err := h.load(email)
	if err != nil {
		return nil, err
	}

	ctx, stop := interruptible(ctx)
	defer stop()
	if !cached.canRefresh() {
		// Only a login can help: without anyone to ask, say so at once
		// rather than wait for the lock.
		tty, err := h.terminal()
		if err != nil {
			return nil, err
		}
		tty.Close()
	}
	if email == "" {
		if email, err = h.askEmail(ctx); err != nil {
			return nil, err
		}
	}
	lock, err := h.lock(ctx, email)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	s, err := h.load(email)
	if err != nil {
		return nil, err
	}
	if s.validFor(h.now(), h.cfg.MinTTL) && (!h.cfg.ForceRefresh || cached == nil || s.AccessToken != cached.AccessToken) {
		h.logf("another akiflow-token refreshed the token meanwhile")
		return s, nil
	}

	if s.canRefresh() {
		h.logf("refreshing the token of %s (%s left, --min-ttl %s)", email, h.left(s), h.cfg.MinTTL)
		fresh, err := h.refreshDetached(ctx, lock, s)
		var se *ServerError
		switch {
		case err == nil:
			return fresh, nil
		case errors.As(err, &se) && se.Rejected():
			h.warnf("Akiflow rejected the saved session (%s); a new login is needed", orDefault(se.Code, fmt.Sprint(se.Status)))
			// The refresh token is dead: forget it, so that the next calls
			// ask for a login at once instead of trying it again.
			s.forget()
			if err := h.store.Write(email, s.marshal()); err != nil {
				h.warnf("%v", err)
			}
		case (ExitCode(err) == ExitUnavailable || errors.Is(err, errCannotSave)) && s.validFor(h.now(), 0):
			h.warnf("%v; using the cached token, which expires in %s", err, h.left(s))
			return s, nil
		default:
			return nil, err
		}
	}
	return h.login(ctx, email, s)
}

// errCannotSave marks a refresh that was not sent because its result could
// not have been saved: sending it would have spent the refresh token.
var errCannotSave = errors.New("not refreshing, since the new session could not be saved")

// Cached returns the selected account's cached session if its access token
// has at least MinTTL left: no lock, no network, no warnings. This is the
// cache hit, the path every call takes most of the time.
func (h *Helper) Cached() (*Session, bool) {
	email, err := h.account()
	if err != nil || email == "" {
		return nil, false
	}
	data, err := h.store.Read(email)
	if err != nil {
		return nil, false
	}
	s, err := ParseSession(data)
	if err != nil || !s.validFor(h.now(), h.cfg.MinTTL) {
		return nil, false
	}
	return s, true
}

// Login runs the interactive login even if a session exists.
func (h *Helper) Login(ctx context.Context) (*Session, error) {
	ctx, stop := interruptible(ctx)
	defer stop()
	email, err := h.account()
	if err != nil {
		return nil, err
	}
	if h.cfg.Email == "" {
		// "login" without --email asks, offering the last account.
		if email, err = h.askEmail(ctx); err != nil {
			return nil, err
		}
	}
	lock, err := h.lock(ctx, email)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	s, err := h.load(email)
	if err != nil {
		return nil, err
	}
	return h.login(ctx, email, s)
}

// refresh trades s's refresh token for new tokens and saves them, under the
// account's lock. The file that will hold them is prepared first, so that a
// refresh whose result could not be saved (and whose rotated token would be
// lost) is never sent. Once sent, a refresh is not abandoned on Ctrl-C: the
// server would spend the old token all the same.
func (h *Helper) refresh(ctx context.Context, s *Session) (*Session, error) {
	pending, err := h.store.Prepare(s.Email)
	if err != nil {
		return nil, fmt.Errorf("%v; %w", err, errCannotSave)
	}
	defer pending.Discard()
	tokens, err := h.httpClient().Refresh(context.WithoutCancel(ctx), s.RefreshToken, s.ClientID)
	if err != nil {
		return nil, err
	}
	next := *s
	next.apply(tokens)
	if err := pending.Commit(next.marshal()); err != nil {
		return nil, err
	}
	h.logf("saved the refreshed session to %s", h.store.Path(s.Email))
	return &next, nil
}

// login asks the person for the emailed code and saves the new session.
// prev, if any, gives the account's client id.
func (h *Helper) login(ctx context.Context, email string, prev *Session) (*Session, error) {
	tty, err := h.terminal()
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	pending, err := h.store.Prepare(email)
	if err != nil {
		return nil, err
	}
	defer pending.Discard()

	c := h.httpClient()
	codeURL, err := c.StartLogin(ctx, email)
	if err != nil {
		return nil, err
	}
	tty.printf("A 6-digit code was sent to %s.", email)
	if err := confirmCode(ctx, tty, c, email, codeURL); err != nil {
		return nil, err
	}
	tokens, err := c.Me(ctx)
	if err != nil {
		return nil, err
	}
	s := &Session{Format: sessionFormat, Email: email, BaseURL: h.base.String(), ClientID: newClientID()}
	if prev != nil && prev.ClientID != "" {
		s.ClientID = prev.ClientID
	}
	s.apply(tokens)
	if err := pending.Commit(s.marshal()); err != nil {
		return nil, err
	}
	if err := h.store.Write(currentRecord, []byte(email+"\n")); err != nil {
		h.warnf("%v", err)
	}
	fmt.Fprintf(h.cfg.Stderr, "logged in as %s\n", email)
	return s, nil
}

// confirmCode asks for the mailed code until Akiflow accepts one: three
// tries, and a new code when the signed code URL has expired.
func confirmCode(ctx context.Context, tty *terminal, c *Client, email, codeURL string) error {
	for tries := 1; ; tries++ {
		code, err := tty.askCode(ctx)
		if err != nil {
			return err
		}
		err = c.SubmitCode(ctx, codeURL, email, code)
		var wrong *WrongCodeError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &wrong) && tries < 3:
			tty.printf("%s Try again.", wrong.Message)
		case errors.Is(err, ErrCodeExpired):
			answer, err := tty.ask(ctx, "The code has expired. Send a new one? [Y/n] ")
			if err != nil {
				return err
			}
			if a := strings.ToLower(answer); a != "" && a != "y" && a != "yes" {
				return errors.New("login cancelled")
			}
			if codeURL, err = c.StartLogin(ctx, email); err != nil {
				return err
			}
			tty.printf("A new code was sent to %s.", email)
			tries = 0
		default:
			return err
		}
	}
}

// terminal opens the terminal to ask on, or says why nobody can be asked.
func (h *Helper) terminal() (*terminal, error) {
	if h.cfg.NonInteractive {
		return nil, loginNeeded("a login is needed but prompting is turned off")
	}
	tty, err := openTerminal()
	if err != nil {
		return nil, loginNeeded("a login is needed but there is no terminal to ask for the code")
	}
	return tty, nil
}

// askEmail asks which account to log in to, offering the last one.
func (h *Helper) askEmail(ctx context.Context) (string, error) {
	tty, err := h.terminal()
	if err != nil {
		return "", err
	}
	defer tty.Close()
	last, _ := h.account()
	for {
		prompt := "Akiflow email: "
		if last != "" {
			prompt = fmt.Sprintf("Akiflow email [%s]: ", last)
		}
		email, err := tty.ask(ctx, prompt)
		if err != nil {
			return "", err
		}
		if email == "" {
			email = last
		}
		if err := CheckEmail(email); err != nil {
			tty.printf("%v.", err)
			continue
		}
		return email, nil
	}
}

// account is the selected account: --email, else the one that logged in
// last, else the only one cached; "" when there is none. It reads one small
// record, not the sessions.
func (h *Helper) account() (string, error) {
	if h.cfg.Email != "" {
		return h.cfg.Email, nil
	}
	data, err := h.store.Read(currentRecord)
	if err == nil {
		if email := strings.TrimSpace(string(data)); CheckEmail(email) == nil {
			return email, nil
		}
	}
	accounts, err := h.accounts()
	if err != nil || len(accounts) != 1 {
		return "", err
	}
	return accounts[0], nil
}

// accounts lists the cached accounts of this auth host.
func (h *Helper) accounts() ([]string, error) {
	names, err := h.store.Names()
	var emails []string
	for _, n := range names {
		if strings.Contains(n, "@") {
			emails = append(emails, n)
		}
	}
	return emails, err
}

// load reads an account's session: nil when there is none. A file that
// cannot be used is "no session", with a warning; a file that is unsafe or
// from a newer akiflow-token is an error, so that it is never overwritten.
func (h *Helper) load(email string) (*Session, error) {
	if email == "" {
		return nil, nil
	}
	data, err := h.store.Read(email)
	var insecure *cache.InsecureError
	switch {
	case errors.Is(err, cache.ErrNotFound):
		return nil, nil
	case errors.As(err, &insecure):
		return nil, err
	case err != nil:
		h.warnf("%v; treating it as no session", err)
		return nil, nil
	}
	s, err := ParseSession(data)
	switch {
	case errors.Is(err, errNewerFormat):
		return nil, fmt.Errorf("%s was %w", h.store.Path(email), err)
	case err != nil:
		h.warnf("ignoring %s: %v", h.store.Path(email), err)
		return nil, nil
	}
	return s, nil
}

// lockWait bounds the wait for another process's refresh or login.
func (h *Helper) lockWait() time.Duration { return max(30*time.Second, 3*h.cfg.Timeout) }

func (h *Helper) lock(ctx context.Context, email string) (*cache.Lock, error) {
	ctx, cancel := context.WithTimeout(ctx, h.lockWait())
	defer cancel()
	lock, err := h.store.Lock(ctx, email)
	switch {
	case errors.Is(err, cache.ErrLockTimeout):
		return nil, fmt.Errorf("another akiflow-token has been refreshing or logging in to %s for over %s; try again", email, h.lockWait())
	case errors.Is(err, context.Canceled):
		return nil, ErrInterrupted
	}
	return lock, err
}

func (h *Helper) httpClient() *Client {
	if h.client == nil {
		cfg := ClientConfig{BaseURL: h.base, Timeout: h.cfg.Timeout, Insecure: h.cfg.Insecure,
			UserAgent: "akiflow-token/" + Version(), Now: h.cfg.Now}
		if h.cfg.Verbose {
			cfg.Logf = h.logf
		}
		h.client = NewClient(cfg)
	}
	return h.client
}

func (h *Helper) now() time.Time { return h.cfg.Now() }

func (h *Helper) left(s *Session) time.Duration {
	if s == nil || s.AccessToken == "" {
		return 0
	}
	return max(0, s.ExpiresAt.Sub(h.now()).Round(time.Second))
}

// logf writes a --verbose line. Callers never pass a token.
func (h *Helper) logf(format string, args ...any) {
	if h.cfg.Verbose {
		fmt.Fprintf(h.cfg.Stderr, "akiflow-token: "+format+"\n", args...)
	}
}

// warnf writes a warning once: the slow path reads the cache twice.
func (h *Helper) warnf(format string, args ...any) {
	msg := fmt.Sprintf("akiflow-token: warning: "+format+"\n", args...)
	if h.warned[msg] {
		return
	}
	if h.warned == nil {
		h.warned = map[string]bool{}
	}
	h.warned[msg] = true
	io.WriteString(h.cfg.Stderr, msg)
}

// interruptible cancels ctx on Ctrl-C or SIGTERM. Only the slow paths set
// it up: a cache hit has no use for it.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}
