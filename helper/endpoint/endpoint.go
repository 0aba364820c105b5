// Package endpoint is akiflow-token's local credential endpoint, for
// programs that run longer than a token lives (exec --serve, serve). It
// serves two URLs on loopback:
//
//   - the token URL, whose GET answers a token with at least the effective
//     --min-ttl left, as -o json prints it (?format=raw: the bare token);
//   - the proxy URL, a base URL under which every request is forwarded to
//     the Akiflow API with a fresh token and Akiflow's client headers: the
//     program never handles a token.
//
// Tokens come from a Source: in akiflow-token, the token flow, through the
// same cache, lock and refresh as every other call (tokens.go holds what
// the endpoint adds: one call at a time, its outcome shared). Loopback is shared
// with every local user, and a program may show a URL in its argv, so each
// URL carries its own random capability, compared in constant time; a
// request without one gets a bare 404. Connections from another user's
// sockets are refused where the system says who owns them (Linux and
// Windows: peer.go), and requests that a browser would send (an Origin
// header, a Host other than the listen address: DNS rebinding) are
// refused too. Nothing logged holds a capability or a token.
package endpoint

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/format"
)

// Source gives the endpoint its tokens. Cached may run beside the others,
// from any goroutine; Token and Renew run one at a time. A Source never
// prompts: a login that is needed is an error that matches ErrLoginNeeded.
type Source interface {
	// Cached returns a token with at least the effective --min-ttl left,
	// without lock or network; false when there is none.
	Cached() (format.Credential, bool)
	// Token returns a token with at least the effective --min-ttl left,
	// refreshing it if need be, or, while Akiflow fails, one that is
	// still good.
	Token(ctx context.Context) (format.Credential, error)
	// Renew returns a token other than stale, one the API refused before
	// its expiry: the cached one if it is another, else a refreshed one;
	// stale itself (with a warning) when the refresh fails and stale has
	// not expired.
	Renew(ctx context.Context, stale string) (format.Credential, error)
}

// The errors of a Source that the endpoint answers apart (errors.Is); any
// other is a failure (500).
var (
	ErrLoginNeeded = errors.New("a login is needed")                       // 503, naming the command
	ErrUnavailable = errors.New("unavailable: Akiflow is failing")         // 502
	ErrTimeout     = errors.New("timeout: Akiflow did not answer in time") // 504
	ErrInterrupted = errors.New("interrupted")                             // 503
)

// Config is what the command line decides for an endpoint.
type Config struct {
	// Source gives the tokens.
	Source Source
	// Email names the account in messages; "" when the Source serves the
	// default account.
	Email string
	// LoginCommand is the command that gives the Source a session, for
	// the answer that says a login is needed; "" for akiflow-token login
	// (-e Email).
	LoginCommand string
	// API is the proxy's upstream, as ParseAPIURL returned it.
	API *url.URL
	// Timeout bounds the wait for the API's response headers (not the
	// bodies, which stream) and each connection's setup.
	Timeout time.Duration
	// AppVersion and Platform are the Akiflow-Version and Akiflow-Platform
	// the proxy sends.
	AppVersion, Platform string
	// Stderr gets warnings; Verbose adds a line per request (method, path
	// below the capability, status, time: never a query, token or
	// capability).
	Stderr  io.Writer
	Verbose bool
}

// Endpoint is a running endpoint.
type Endpoint struct {
	cfg      Config
	addr     string // host:port, as the URLs and Host headers name it
	listener *net.TCPListener
	tokenCap string // the token URL's capability
	proxyCap string // the proxy URL's capability
	tokens   *source
	proxy    http.Handler
	srv      *http.Server
	errorLog *log.Logger // the server's and the proxy's: discarded unless Verbose
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // of Serve, once done is closed

	mu          sync.Mutex
	loginWarned atomic.Bool // the last answer was "login needed", and stderr said so

	// rendered is the token URL's last JSON answer, served again to
	// requests that would get the same bytes: the same session, the same
	// whole seconds left. A burst renders once a second, not once each.
	rendered atomic.Pointer[renderedJSON]
}

type renderedJSON struct {
	s         format.Credential
	expiresIn int64
	body      []byte
}

// capabilityBytes is the randomness of each capability: 256 bits.
const capabilityBytes = 32

// Start listens on listen (checked by ParseListen) and serves until Close
// or Shutdown.
func Start(cfg Config, listen string) (*Endpoint, error) {
	if cfg.Source == nil || cfg.API == nil || cfg.Timeout <= 0 {
		return nil, errors.New("endpoint: incomplete Config")
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	cfg.AppVersion = orDefault(cfg.AppVersion, akiflow.AppVersion)
	cfg.Platform = orDefault(cfg.Platform, akiflow.Platform)
	addr, err := ParseListen(listen)
	if err != nil {
		return nil, err
	}
	l, err := listenTCP(addr)
	if err != nil {
		return nil, fmt.Errorf("could not listen on %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Endpoint{
		cfg:      cfg,
		addr:     l.Addr().String(),
		listener: l.(*net.TCPListener),
		tokenCap: newCapability(),
		proxyCap: newCapability(),
		tokens:   &source{src: cfg.Source, ctx: ctx},
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	e.errorLog = log.New(io.Discard, "", 0)
	if cfg.Verbose {
		e.errorLog = log.New(safeWriter{cfg.Stderr}, "akiflow-token: endpoint: ", 0)
	}
	e.proxy = e.newProxy()
	e.srv = &http.Server{
		Handler:                      e,
		DisableGeneralOptionsHandler: true, // OPTIONS * is ours to refuse (404), as any other request without a capability
		ReadHeaderTimeout:            30 * time.Second,
		IdleTimeout:                  2 * time.Minute,
		ErrorLog:                     e.errorLog,
		BaseContext:                  func(net.Listener) context.Context { return ctx },
	}
	go func() {
		err := e.srv.Serve(SameUserOnly(l, e.logf))
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		e.err = err
		close(e.done)
	}()
	return e, nil
}

// TokenURL is the URL whose GET answers a token as -o json prints it.
func (e *Endpoint) TokenURL() string { return "http://" + e.addr + "/" + e.tokenCap }

// ProxyURL is the base URL of the API proxy: ProxyURL()+"/v5/tasks" is
// the API's /v5/tasks.
func (e *Endpoint) ProxyURL() string { return "http://" + e.addr + "/" + e.proxyCap }

// Addr is the address the endpoint listens on.
func (e *Endpoint) Addr() string { return e.addr }

// ListenerFile is a duplicate of the listening socket. A command that
// inherits it keeps the port bound for as long as it lives, after this
// process is gone: no other user can take the endpoint's place at the
// URLs the command holds.
// Windows cannot make one (Go's TCPListener.File is not supported there):
// there the command dies with this process instead (package run).
func (e *Endpoint) ListenerFile() (*os.File, error) { return e.listener.File() }

// Done is closed when the endpoint has stopped serving; Err says why.
func (e *Endpoint) Done() <-chan struct{} { return e.done }

// Err is why the endpoint stopped: nil after Close or Shutdown.
func (e *Endpoint) Err() error {
	select {
	case <-e.done:
		return e.err
	default:
		return nil
	}
}

// Close stops the endpoint at once: the listener and every connection.
func (e *Endpoint) Close() error {
	e.cancel()
	err := e.srv.Close()
	<-e.done
	return err
}

// Shutdown stops accepting, lets the requests under way finish until ctx
// is done, then closes.
func (e *Endpoint) Shutdown(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	e.cancel()
	if err != nil {
		e.srv.Close()
	}
	<-e.done
	return err
}

func newCapability() string {
	b := make([]byte, capabilityBytes)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on the systems we run on
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ServeHTTP routes by the capability in the first path segment; a request
// without one of ours gets a bare 404, whatever else it holds.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set("Cache-Control", "no-store")
	first, rest := splitCapability(r.URL.EscapedPath())
	rec := &statusRecorder{ResponseWriter: w}
	var what, path string
	switch {
	case capabilityIs(first, e.tokenCap):
		what = "token URL"
		if !e.browserish(rec, r) {
			e.serveToken(rec, r, rest)
		}
	case capabilityIs(first, e.proxyCap):
		what, path = "proxy", rest
		switch {
		case e.browserish(rec, r):
		case !apiMethods[r.Method]:
			// TRACE would echo the token back, CONNECT would tunnel past
			// the proxy: only what an API call is goes through.
			rec.Header().Set("Allow", allowedMethods)
			http.Error(rec, "the proxy forwards API calls: "+allowedMethods, http.StatusMethodNotAllowed)
		case e.quotesCapability(rest) || e.quotesCapability(r.URL.RawQuery) || e.headersQuoteCapability(r.Header):
			// Forwarded, it would reach the API and its logs.
			http.Error(rec, "the request quotes the endpoint's capability: it is not forwarded", http.StatusBadRequest)
		default:
			e.proxy.ServeHTTP(rec, r)
		}
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	e.logRequest(r, what, path, rec.status, start)
}

// splitCapability splits "/CAP/rest" into "CAP" and "/rest".
func splitCapability(path string) (first, rest string) {
	path, ok := strings.CutPrefix(path, "/")
	if !ok {
		return "", ""
	}
	if i := strings.IndexByte(path, '/'); i >= 0 {
		return path[:i], path[i:]
	}
	return path, ""
}

// capabilityIs compares in constant time: how much of a guess is right
// takes no measurable time.
func capabilityIs(got, want string) bool {
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// apiMethods are the methods the proxy forwards.
var apiMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// quotesCapability says s holds one of the capabilities, as it is or
// percent-decoded any number of times (each decoding shortens s, so this
// ends): a client may encode what it quotes, and a server may decode it
// as often.
func (e *Endpoint) quotesCapability(s string) bool {
	for {
		if strings.Contains(s, e.tokenCap) || strings.Contains(s, e.proxyCap) {
			return true
		}
		decoded, err := url.PathUnescape(strings.ReplaceAll(s, "+", " "))
		if err != nil {
			decoded = lenientUnescape(s)
		}
		if decoded == s {
			return false
		}
		s = decoded
	}
}

// lenientUnescape decodes every well-formed %XX of s and keeps the rest,
// as a lenient server would.
func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(v))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// headersQuoteCapability says a header's value quotes a capability.
func (e *Endpoint) headersQuoteCapability(h http.Header) bool {
	for _, values := range h {
		for _, v := range values {
			if e.quotesCapability(v) {
				return true
			}
		}
	}
	return false
}

// withoutCapabilities is s with any capability it quotes replaced, for a
// log line.
func (e *Endpoint) withoutCapabilities(s string) string {
	if e.quotesCapability(s) {
		return "(a path that quotes a capability)"
	}
	return s
}

// browserish refuses, with 403, what a browser sends and a program does
// not: an Origin header (a page's fetch), a Host other than the listen
// address (a DNS rebinding attack names its own host).
func (e *Endpoint) browserish(w http.ResponseWriter, r *http.Request) bool {
	_, origin := r.Header["Origin"]
	if !origin && strings.EqualFold(r.Host, e.addr) {
		return false
	}
	http.Error(w, "forbidden: requests from browsers are refused", http.StatusForbidden)
	return true
}

func (e *Endpoint) serveToken(w http.ResponseWriter, r *http.Request, rest string) {
	if rest != "" && rest != "/" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the token URL answers GET", http.StatusMethodNotAllowed)
		return
	}
	var as string
	if r.URL.RawQuery != "" { // the common request has none: no map to build
		as = r.URL.Query().Get("format")
	}
	if as != "" && as != "json" && as != "raw" {
		http.Error(w, "format is json (the default) or raw", http.StatusBadRequest)
		return
	}
	s, err := e.tokens.token(r.Context())
	if err != nil {
		e.fail(w, err)
		return
	}
	e.served()
	var body []byte
	if as == "raw" {
		if err := akiflow.CheckAccessToken(s.AccessToken); err != nil {
			e.fail(w, fmt.Errorf("refusing to serve the access token: %v", err))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		body = []byte(s.AccessToken)
	} else {
		if body, err = e.renderJSON(s, time.Now()); err != nil {
			e.fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(body)
}

// renderJSON is format.Write's JSON of s at now, from e.rendered when that
// holds the same bytes.
func (e *Endpoint) renderJSON(s format.Credential, now time.Time) ([]byte, error) {
	expiresIn := format.ExpiresIn(s, now)
	if r := e.rendered.Load(); r != nil && r.s == s && r.expiresIn == expiresIn {
		return r.body, nil
	}
	var body bytes.Buffer
	if err := format.Write(&body, format.JSON, s, now); err != nil {
		return nil, err
	}
	e.rendered.Store(&renderedJSON{s, expiresIn, body.Bytes()})
	return body.Bytes(), nil
}

// failure is the JSON of an answer without a token.
type failure struct {
	Error   string `json:"error"`   // login_needed, unavailable, timeout, interrupted, failed
	Message string `json:"message"` // for a person; never a token
	Command string `json:"command,omitempty"`
}

// fail answers a request that got no token: 503 when a login is needed
// (naming the command that logs in), 502 when Akiflow fails, 504 when it
// does not answer in time, 500 for anything else.
func (e *Endpoint) fail(w http.ResponseWriter, err error) {
	f := failure{Error: "failed", Message: format.SafeText(err.Error())}
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrLoginNeeded):
		status, f.Error = http.StatusServiceUnavailable, "login_needed"
		f.Command = e.cfg.LoginCommand
		if f.Command == "" {
			f.Command = "akiflow-token login"
			if e.cfg.Email != "" {
				f.Command += " -e " + format.ShellWord(e.cfg.Email)
			}
		}
		f.Message = fmt.Sprintf("a login is needed (this endpoint takes the new session as soon as it is saved); in a terminal, run: %s", f.Command)
		e.warnLogin(f.Message)
	case errors.Is(err, ErrTimeout):
		status, f.Error = http.StatusGatewayTimeout, "timeout"
	case errors.Is(err, ErrUnavailable):
		status, f.Error = http.StatusBadGateway, "unavailable"
	case errors.Is(err, ErrInterrupted):
		status, f.Error = http.StatusServiceUnavailable, "interrupted"
	}
	writeJSON(w, status, f)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v) // plain structs: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// warnLogin says once on stderr, until a token is served again, that a
// login is needed.
func (e *Endpoint) warnLogin(msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.loginWarned.Load() {
		e.loginWarned.Store(true)
		fmt.Fprintf(e.cfg.Stderr, "akiflow-token: warning: the endpoint answers 503 until then: %s\n", msg) // msg last: it ends with a command
	}
}

// served notes that a token was served: the next "login needed" is said
// again.
func (e *Endpoint) served() {
	if !e.loginWarned.Load() {
		return // the path of nearly every request: no lock
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.loginWarned.Load() {
		e.loginWarned.Store(false)
		fmt.Fprintln(e.cfg.Stderr, "akiflow-token: the endpoint has a session again")
	}
}

func (e *Endpoint) logf(format string, args ...any) {
	fmt.Fprintf(safeWriter{e.cfg.Stderr}, "akiflow-token: endpoint: "+format+"\n", args...)
}

// logRequest is --verbose's line for a request: the path below the
// capability, never the query (which the program may fill with anything).
func (e *Endpoint) logRequest(r *http.Request, what, path string, status int, start time.Time) {
	if !e.cfg.Verbose {
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	e.logf("%s %s %s: %d (%s)", what, r.Method, e.withoutCapabilities(path), status, time.Since(start).Round(time.Microsecond))
}

// statusRecorder notes the status of an answer, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController flush a streamed answer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// safeWriter keeps control characters out of stderr.
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(s.w, format.SafeText(string(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
