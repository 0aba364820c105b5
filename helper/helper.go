// Package helper is akiflow-token's token flow: it returns a valid Akiflow
// access token, from the store when it can, refreshing it when it must, and
// asking the person for an email code only when there is no other way. It
// also logs in, logs out and reports on the accounts, returning data that
// its callers print.
//
// It knows nothing of the command line, of the formats callers read
// (package helper/format), of where records are kept (a Store is handed
// in), of HTTP (package helper/akiflow speaks the protocol) or of processes
// (package helper/refresh runs the detached refresh).
package helper

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/format"
)

// Config is what stays the same for a Helper's life: the auth host and how
// to talk to it.
type Config struct {
	BaseURL    string        // the auth host; DefaultBaseURL when empty
	Timeout    time.Duration // bound on each exchange
	Insecure   bool          // skip TLS verification
	Verbose    bool          // explain each decision on Stderr (never a token)
	AppVersion string        // Akiflow-Version; akiflow.AppVersion when empty
	Platform   string        // Akiflow-Platform; akiflow.Platform when empty
	Stderr     io.Writer     // warnings and --verbose lines; os.Stderr when nil
	Now        func() time.Time
	// Vault returns the Vault of a name ("keyring") that records may
	// name; nil (or a nil Vault) when this build keeps refresh tokens in
	// no vault of that name.
	Vault func(name string) Vault
	// NewStore is where the refresh token of a new session goes: "" (the
	// record) or a Vault's name. A login of an account that has a session
	// keeps that session's, unless Request.Store says otherwise.
	NewStore string
	// OAuth makes the Helper's sessions those of Akiflow's official
	// sign-in (OAuth 2.1 with PKCE, oauthlogin.go), kept apart from the
	// email-code sessions in a store of their own (oauthGroup).
	OAuth bool
	// MCPURL is the protected resource whose metadata name the OAuth
	// authorization server; akiflow.DefaultMCPURL when empty.
	MCPURL string
	// CommandFlags are the global flags, as shell words, that a command a
	// message suggests repeats: those given on the command line that say
	// where the session is (--base-url ...), which the environment of the
	// shell it is pasted into does not.
	CommandFlags []string
}

// Request is what one call asks for.
type Request struct {
	Account string        // the account's email, in any case; "" for the default one
	MinTTL  time.Duration // the token returned has at least this long left (or half its lifetime)
	Force   bool          // refresh even if the cached token is good
	// Stale is an access token the API refused before its expiry (revoked
	// early): it is replaced even with time left, and returned only as a
	// last resort while it has not expired, as any cached token is, when
	// no other can be had (Akiflow failing, or busy with another process).
	Stale string
	// Prompt opens the terminal to ask the person on, when a login is
	// needed; nil when nobody may be asked, for the reason NoPrompt gives
	// ("--non-interactive", "kubectl's interactive: false").
	Prompt   Prompter
	NoPrompt string
	// Store is where a login puts the refresh token: "file" (the record),
	// a Vault's name, or "" for the account's current one (else
	// Config.NewStore).
	Store string
	// Browser opens a URL in the person's browser, for an OAuth login;
	// nil prints the URL only (--no-browser).
	Browser func(url string) error
	// Port is the loopback port an OAuth login's redirect comes back to;
	// 0 for any free one.
	Port int
}

// Defaults, which the command line shows.
const (
	DefaultBaseURL = akiflow.DefaultBaseURL
	DefaultMinTTL  = 5 * time.Minute
	DefaultTimeout = 15 * time.Second
)

// MaxTimeout bounds Config.Timeout: a refresh may take five of them.
const MaxTimeout = 10 * time.Minute

// Helper gets tokens for one auth host. Its sessions live in a Store, one
// record per account (named by its key), plus a record naming the account
// that logged in last. A Helper never changes once made, and its methods
// are safe for concurrent use: calls for one account take turns through the
// store's lock, which also orders them with other processes.
type Helper struct {
	cfg   Config
	base  *url.URL
	store Store
	// group names the store, and the account's entries in a vault: the
	// auth host, with oauthGroup for OAuth sessions.
	group string
	mcp   *url.URL // OAuth: the protected resource

	newClient func() *akiflow.Client // made on first use: a cache hit needs no HTTP
	// refresher trades a refresh token for new tokens and saves them; in
	// production a detached process (refreshDetached).
	refresher refresher
}

// FieldError is a Config or Request value that cannot be used. Field names
// it as the command line does ("base-url", "email", "min-ttl"), so that
// the caller can say where the value came from (Named).
type FieldError struct {
	Field  string
	format string // with the name first
	args   []any
}

func fieldError(field, format string, args ...any) *FieldError {
	return &FieldError{field, format, args}
}

func (e *FieldError) Error() string { return e.Named("--" + e.Field) }

// Named is the message with the value's source called name
// ("AKIFLOW_BASE_URL").
func (e *FieldError) Named(name string) string {
	return fmt.Sprintf(e.format, append([]any{name}, e.args...)...)
}

// ExitCode makes a FieldError a usage error.
func (e *FieldError) ExitCode() int { return ExitUsage }

// New checks cfg and returns a Helper that keeps its sessions in the
// store open returns for the auth host.
func New(cfg Config, open func(host string) Store) (*Helper, error) {
	cfg.BaseURL = orDefault(cfg.BaseURL, DefaultBaseURL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	cfg.Stderr = safeWriter{cfg.Stderr}
	base, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fieldError("base-url", "%s %q: %v", oneLine(cfg.BaseURL), err)
	}
	if cfg.Timeout <= 0 || cfg.Timeout > MaxTimeout {
		return nil, fieldError("timeout", "%s must be positive and at most %s, such as 15s", MaxTimeout)
	}
	cfg.AppVersion = orDefault(cfg.AppVersion, akiflow.AppVersion)
	cfg.Platform = orDefault(cfg.Platform, akiflow.Platform)
	for _, c := range []struct{ field, value, example string }{
		{"app-version", cfg.AppVersion, akiflow.AppVersion},
		{"platform", cfg.Platform, akiflow.Platform},
	} {
		if !format.ValidHeaderWord(c.value) {
			return nil, fieldError(c.field, "%s %q: use letters, digits, dots and hyphens, such as %s", oneLine(c.value), c.example)
		}
	}
	h := &Helper{cfg: cfg, base: base, group: base.Host}
	if cfg.OAuth {
		h.group += oauthGroup
		cfg.MCPURL = orDefault(cfg.MCPURL, akiflow.DefaultMCPURL)
		if h.mcp, err = akiflow.CheckEndpoint(cfg.MCPURL); err != nil || h.mcp.RawQuery != "" {
			return nil, fieldError("mcp-url", "%s %q: not an https URL such as %s", oneLine(cfg.MCPURL), akiflow.DefaultMCPURL)
		}
		h.cfg.MCPURL = cfg.MCPURL
	}
	h.store = open(h.group)
	h.newClient = sync.OnceValue(func() *akiflow.Client {
		ccfg := akiflow.ClientConfig{BaseURL: base, Timeout: cfg.Timeout, Insecure: cfg.Insecure,
			UserAgent: "akiflow-token/" + Version(), Now: cfg.Now,
			AppVersion: cfg.AppVersion, Platform: cfg.Platform, MaxReply: maxReply}
		if cfg.Verbose {
			ccfg.Logf = func(format string, args ...any) { logLine(cfg.Stderr, format, args...) }
		}
		return akiflow.NewClient(ccfg)
	})
	h.refresher = h.refreshDetached
	return h, nil
}

// Host is the auth host, which names its store.
func (h *Helper) Host() string { return h.base.Host }

// oauthGroup ends the name of an auth host's store of OAuth sessions: the
// same accounts may have email-code sessions beside them, and neither
// kind is ever used for the other.
const oauthGroup = "#oauth"

// BaseURL is the auth host's URL, as it was checked.
func (h *Helper) BaseURL() *url.URL { u := *h.base; return &u }

// checkRequest refuses what a request cannot ask.
func checkRequest(req Request) error {
	if req.Account != "" {
		if err := CheckEmail(req.Account); err != nil {
			return fieldError("email", "%s: %v", err)
		}
	}
	if req.MinTTL < 0 {
		return fieldError("min-ttl", "%s must not be negative (0 refreshes only expired tokens)")
	}
	return nil
}

// ParseBaseURL accepts https URLs, and plain http only to this machine.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 512 || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("not a URL such as %s", DefaultBaseURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(strings.ToLower(u.Hostname())):
	case u.Scheme == "http":
		return nil, errors.New("plain http is only allowed to this machine (localhost); use https")
	default:
		return nil, errors.New("must start with https://")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	// One auth host, one folder: the host in lower case, without the
	// scheme's default port.
	u.Host = strings.ToLower(u.Host)
	if u.Scheme == "https" {
		u.Host = strings.TrimSuffix(u.Host, ":443")
	} else {
		u.Host = strings.TrimSuffix(u.Host, ":80")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// call is one call's state: its request, and the warnings it gave (each
// is given once, though the slow path reads the cache twice).
type call struct {
	h      *Helper
	req    Request
	warned map[string]bool
	// unsaved is set when a refresh the server answered could not be
	// saved: the session it returned lives only in this process.
	unsaved bool
}

func (h *Helper) newCall(req Request) *call { return &call{h: h, req: req} }

func (c *call) now() time.Time { return c.h.cfg.Now() }

func (c *call) left(s *Session) time.Duration {
	if s == nil || s.AccessToken == "" {
		return 0
	}
	return max(0, s.ExpiresAt.Sub(c.now()).Round(time.Second))
}

// logf writes a --verbose line. Callers never pass a token.
func (c *call) logf(format string, args ...any) {
	if c.h.cfg.Verbose {
		logLine(c.h.cfg.Stderr, format, args...)
	}
}

func logLine(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "akiflow-token: "+format+"\n", args...)
}

// warnf writes a warning, once per call.
func (c *call) warnf(format string, args ...any) {
	msg := fmt.Sprintf("akiflow-token: warning: "+format+"\n", args...)
	if c.warned[msg] {
		return
	}
	if c.warned == nil {
		c.warned = map[string]bool{}
	}
	c.warned[msg] = true
	io.WriteString(c.h.cfg.Stderr, msg)
}

// noticef writes a line the person should see, verbose or not.
func (c *call) noticef(format string, args ...any) {
	fmt.Fprintf(c.h.cfg.Stderr, format+"\n", args...)
}
