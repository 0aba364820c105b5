// Package helper is akiflow-token's token flow: it prints a valid Akiflow
// access token, from the store when it can, refreshing it when it must, and
// asking the person for an email code only when there is no other way. It
// also answers git's and kubectl's credential protocols and writes the
// output formats. It knows nothing of the command line, of where records
// are kept (a Store is handed in) or of HTTP (package akiflow speaks the
// protocol).
package helper

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"akiflow-token/helper/akiflow"
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
	NonInteractive bool          // never prompt for an implicit login
	// NonInteractiveWhy names what turned prompting off, for messages:
	// "--non-interactive", "AKIFLOW_NON_INTERACTIVE", "GIT_TERMINAL_PROMPT=0".
	NonInteractiveWhy string
	Insecure          bool // skip TLS verification
	Verbose           bool
	AppVersion        string // Akiflow-Version; akiflow.AppVersion when empty
	Platform          string // Akiflow-Platform; akiflow.Platform when empty
	// Source names where a flag's value came from, for messages: "--email"
	// or "AKIFLOW_EMAIL". Nil: the flag.
	Source func(flag string) string
	Stderr io.Writer
	Now    func() time.Time // nil for time.Now
}

// name is how messages call the value of flag.
func (cfg *Config) name(flag string) string {
	if cfg.Source != nil {
		return cfg.Source(flag)
	}
	return "--" + flag
}

// AuthHost checks the auth host's URL and returns its host, which names
// its store.
func (cfg *Config) AuthHost() (string, error) {
	base, err := cfg.baseURL()
	if err != nil {
		return "", err
	}
	return base.Host, nil
}

func (cfg *Config) baseURL() (*url.URL, error) {
	raw := orDefault(cfg.BaseURL, DefaultBaseURL)
	base, err := ParseBaseURL(raw)
	if err != nil {
		return nil, UsageError("%s %q: %v", cfg.name("base-url"), raw, err)
	}
	return base, nil
}

// maxTimeout bounds --timeout: a refresh may take five of them.
const maxTimeout = 10 * time.Minute

// Defaults of the Config fields, which the command line shows.
const (
	DefaultBaseURL = akiflow.DefaultBaseURL
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

// Helper gets tokens for one auth host. Its sessions live in a Store, one
// record per account (named by email), plus a record naming the account
// that logged in last.
//
// A Helper serves one command. Its methods are not safe for concurrent use,
// but for Cached, which only reads and may run beside the others (the
// endpoint of exec --serve serves cache hits while one Token or Renew runs
// at a time). Processes (and Helpers) coordinate through the store's
// per-account locks.
type Helper struct {
	cfg      Config
	base     *url.URL
	execInfo *ExecInfo
	store    Store
	client   *akiflow.Client // made on first use: a cache hit needs no HTTP
	warned   map[string]bool
	// stale is, during Renew, the access token the API refused: any other
	// good token will do, and this one is replaced even with time left.
	stale string

	// Seams for the unit tests of the flow.
	refresh      refresher                 // the detached process; in tests, in process
	openTerminal func() (*terminal, error) // the controlling terminal
}

// New checks cfg and returns a Helper that keeps its sessions in store.
func New(cfg Config, store Store) (*Helper, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	cfg.Stderr = safeWriter{cfg.Stderr}
	base, err := cfg.baseURL()
	if err != nil {
		return nil, err
	}
	if cfg.Email != "" {
		if err := CheckEmail(cfg.Email); err != nil {
			return nil, UsageError("%s: %v", cfg.name("email"), err)
		}
	}
	if cfg.MinTTL < 0 {
		return nil, UsageError("%s must not be negative (0 refreshes only expired tokens)", cfg.name("min-ttl"))
	}
	if cfg.Timeout <= 0 || cfg.Timeout > maxTimeout {
		return nil, UsageError("%s must be positive and at most %s, such as 15s", cfg.name("timeout"), maxTimeout)
	}
	cfg.AppVersion = orDefault(cfg.AppVersion, akiflow.AppVersion)
	cfg.Platform = orDefault(cfg.Platform, akiflow.Platform)
	for _, c := range []struct{ flag, value, example string }{
		{"app-version", cfg.AppVersion, akiflow.AppVersion},
		{"platform", cfg.Platform, akiflow.Platform},
	} {
		if !validHeaderWord(c.value) {
			return nil, UsageError("%s %q: use letters, digits, dots and hyphens, such as %s", cfg.name(c.flag), oneLine(c.value), c.example)
		}
	}
	h := &Helper{cfg: cfg, base: base, store: store, openTerminal: openTerminal}
	h.refresh = h.refreshDetached
	if cfg.Output == FormatExecCredential {
		if h.execInfo, err = ParseExecInfo(cfg.ExecInfo); err != nil {
			return nil, UsageError("%v", err)
		}
		if !h.execInfo.Interactive && !h.cfg.NonInteractive {
			h.cfg.NonInteractive, h.cfg.NonInteractiveWhy = true, "kubectl's interactive: false"
		}
	}
	return h, nil
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

// validHeaderWord accepts what may go in Akiflow-Version and
// Akiflow-Platform, and so in -o curl's lines: a short word of letters,
// digits, dots and hyphens.
func validHeaderWord(s string) bool {
	return s != "" && len(s) <= 32 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '.' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	})
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
	case strings.ContainsFunc(email, func(r rune) bool { return r <= ' ' || unsafeRune(r) }):
		return fmt.Errorf("the email %q has spaces, control or invisible characters", email)
	case strings.ContainsAny(email, "/\\"):
		return fmt.Errorf("the email %q has a slash", email)
	case !isValidUTF8(email):
		return errors.New("the email is not valid UTF-8")
	case email != "" && (email[0] == '=' || email[0] == '-'):
		return fmt.Errorf("%q starts with %q: give the address alone, as -e you@example.com", email, email[:1])
	case at <= 0 || at == len(email)-1:
		return fmt.Errorf("%q is not an email address", email)
	}
	return nil
}

func (h *Helper) httpClient() *akiflow.Client {
	if h.client == nil {
		cfg := akiflow.ClientConfig{BaseURL: h.base, Timeout: h.cfg.Timeout, Insecure: h.cfg.Insecure,
			UserAgent: "akiflow-token/" + Version(), Now: h.cfg.Now,
			AppVersion: h.cfg.AppVersion, Platform: h.cfg.Platform}
		if h.cfg.Verbose {
			cfg.Logf = h.logf
		}
		h.client = akiflow.NewClient(cfg)
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
