package akiflow

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The exchanges, paths and headers of the protocol (see doc.go).
const (
	DefaultBaseURL = "https://web.akiflow.com"

	// AppVersion is the web app version we claim (Akiflow-Version); the
	// server does not check it strictly. Bump it here.
	AppVersion = "2.69.3"
	// Platform is the Akiflow-Platform we claim.
	Platform      = "web"
	oauthClientID = "10" // the web app's OAuth client

	pathCSRF    = "/csrf-cookie"
	pathLogin   = "/auth/login"
	pathMe      = "/user/me"
	pathRefresh = "/oauth/refreshToken"

	xsrfCookie = "XSRF-TOKEN"

	// maxReplySize bounds every reply we read: they are a few kilobytes, but
	// a refresh reply too large to read would lose the refresh token it
	// rotated, so the bound is generous.
	maxReplySize = 4 << 20
)

// Tokens is what a login or a refresh yields.
type Tokens struct {
	AccessToken  string
	RefreshToken string // empty when the server did not rotate it
	ExpiresAt    time.Time
	Lifetime     time.Duration // how long the access token was issued for
	Email        string        // OAuth: the email the ID or access token names, if any
}

// Client speaks Akiflow's auth protocol to one auth host. It keeps the
// session and XSRF cookies between calls, as a browser would.
type Client struct {
	logf      func(format string, args ...any)
	base      *url.URL
	http      *http.Client
	timeout   time.Duration
	userAgent string
	now       func() time.Time

	appVersion, platform string // Akiflow-Version, Akiflow-Platform
	maxReply             int
}

// ClientConfig configures NewClient.
type ClientConfig struct {
	AppVersion string // Akiflow-Version; AppVersion when empty
	Platform   string // Akiflow-Platform; Platform when empty
	BaseURL    *url.URL
	Timeout    time.Duration // bound on each exchange
	Insecure   bool          // skip TLS verification
	UserAgent  string
	Logf       func(format string, args ...any) // one line per exchange; may be nil
	Now        func() time.Time
	// MaxReply bounds a refresh's reply (maxReplySize when 0): whoever
	// keeps the tokens says how much it can keep, so that a reply is
	// either refused whole or kept whole, never taken and then lost.
	MaxReply int
}

// NewClient returns a client for cfg.BaseURL.
func NewClient(cfg ClientConfig) *Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// HTTP/1.1 only: Go's HTTP/2 client sends a request again, body and
	// all, when the server resets its stream or the connection goes away,
	// and a refresh sent twice spends the rotated token (doc.go, Retries).
	transport.Protocols = new(http.Protocols)
	transport.Protocols.SetHTTP1(true)
	transport.ForceAttemptHTTP2 = false
	if cfg.Insecure {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	var rt http.RoundTripper = transport
	if cfg.Logf != nil {
		rt = &loggingTransport{next: transport, logf: cfg.Logf}
	}
	jar, _ := cookiejar.New(nil) // never fails without options
	c := &Client{base: cfg.BaseURL, timeout: cfg.Timeout, userAgent: cfg.UserAgent, now: cfg.Now, logf: cfg.Logf,
		appVersion: orDefault(cfg.AppVersion, AppVersion), platform: orDefault(cfg.Platform, Platform),
		maxReply: cfg.MaxReply}
	if c.maxReply <= 0 || c.maxReply > maxReplySize {
		c.maxReply = maxReplySize
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.http = &http.Client{Transport: rt, Jar: jar, CheckRedirect: c.checkRedirect}
	return c
}

// checkRedirect follows redirects only on the auth host: Go re-sends a POST
// body and our headers on 307/308, which could carry a code elsewhere.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if !c.sameHost(req.URL) {
		return fmt.Errorf("refusing to follow a redirect to %s", req.URL.Redacted())
	}
	if len(via) >= 10 {
		return errors.New("too many redirects")
	}
	return nil
}

func (c *Client) sameHost(u *url.URL) bool {
	return u.Scheme == c.base.Scheme && strings.EqualFold(u.Host, c.base.Host)
}

// Refresh trades a refresh token for new tokens. clientID is the account's
// Akiflow-Client-Id. The server rotates the refresh token: once a refresh
// has reached it, the old one is spent. So a refresh is tried again only
// when the server cannot have used it: a failure before the refresh was
// sent, a refused connection, or a 429 or 503 (which say "not now"), with
// backoff and Retry-After honoured, all within the --timeout budget.
func (c *Client) Refresh(ctx context.Context, refreshToken, clientID string) (*Tokens, error) {
	return c.retrying(ctx, func(ctx context.Context) (*Tokens, bool, error) {
		return c.refreshOnce(ctx, refreshToken, clientID)
	})
}

// retrying runs a refresh (once), and again as retryWait allows, within
// RefreshBound and the --timeout budget.
func (c *Client) retrying(ctx context.Context, once func(ctx context.Context) (tokens *Tokens, sent bool, err error)) (*Tokens, error) {
	ctx, cancel := withDeadline(ctx, RefreshBound(c.timeout))
	defer cancel()
	deadline := c.now().Add(c.timeout)
	for attempt := 1; ; attempt++ {
		tokens, sent, err := once(ctx)
		wait, again := retryWait(err, sent, attempt)
		if !again {
			return tokens, err
		}
		if c.now().Add(wait).After(deadline) {
			var se *ServerError
			if errors.As(err, &se) && se.RetryAfter == wait {
				return nil, fmt.Errorf("%w (Akiflow asks to wait %s, over the --timeout budget)", err, wait)
			}
			return nil, err // another try would not fit in the budget
		}
		if c.logf != nil {
			c.logf("retrying the refresh in %s", wait)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", "refresh", context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}

// RefreshBound is the longest a Refresh takes with the given timeout per
// exchange: a retry starts only within the first timeout, and one attempt
// is at most four exchanges (csrf and refresh, twice after a 419), each
// with its grace.
func RefreshBound(timeout time.Duration) time.Duration { return 5*timeout + 5*readGrace }

// maxAttempts bounds the tries of a refresh.
const maxAttempts = 3

// retryWait says whether, and after how long, a failed refresh may be
// tried again. sent says the refresh request itself went out.
func retryWait(err error, sent bool, attempt int) (time.Duration, bool) {
	if err == nil || attempt >= maxAttempts || !IsTransient(err) {
		return 0, false
	}
	backoff := time.Duration(100<<attempt) * time.Millisecond // 200ms, 400ms
	var se *ServerError
	switch {
	case errors.As(err, &se) && (se.Status == http.StatusTooManyRequests || se.Status == http.StatusServiceUnavailable):
		return max(backoff, se.RetryAfter), true
	case !sent, errors.Is(err, syscall.ECONNREFUSED):
		return backoff, true
	}
	return 0, false
}

// refreshOnce is one refresh: a fresh csrf-cookie, then the refresh, once
// more after a 419 (a stale XSRF value, which the server rejected unused).
func (c *Client) refreshOnce(ctx context.Context, refreshToken, clientID string) (tokens *Tokens, sent bool, err error) {
	body := map[string]string{"client_id": oauthClientID, "refresh_token": refreshToken}
	header := http.Header{"Akiflow-Client-Id": {clientID}}
	for try := 1; ; try++ {
		if err := c.csrf(ctx, "refresh"); err != nil {
			return nil, false, err
		}
		sent := c.now()
		var reply tokenReply
		err := c.do(ctx, "refresh", http.MethodPost, c.resolve(pathRefresh), body, header, &reply)
		if staleXSRF(err) && try == 1 {
			continue
		}
		if err != nil {
			return nil, true, err
		}
		tokens, err := reply.tokens("refresh", sent)
		return tokens, true, err
	}
}

// StartLogin asks Akiflow to email a one-time code to email. It returns the
// signed URL to post the code to, checked to be on the auth host.
func (c *Client) StartLogin(ctx context.Context, email string) (string, error) {
	if err := c.csrf(ctx, "login"); err != nil {
		return "", err
	}
	var reply struct {
		Success  bool   `json:"success"`
		Message  string `json:"message"`
		Redirect string `json:"redirect"`
	}
	body := map[string]any{"email": email, "remember": true}
	if err := c.do(ctx, "login", http.MethodPost, c.resolve(pathLogin), body, nil, &reply); err != nil {
		return "", err
	}
	if !reply.Success {
		return "", fmt.Errorf("login refused by Akiflow: %s", orDefault(oneLine(reply.Message), "no reason given"))
	}
	u, err := c.base.Parse(reply.Redirect)
	if err != nil || reply.Redirect == "" {
		return "", &ServerError{Op: "login", Status: http.StatusOK, Message: "the reply has no valid code URL"}
	}
	if !c.sameHost(u) {
		return "", fmt.Errorf("refusing to send the code to %s://%s: it is not the auth host %s", u.Scheme, u.Host, c.base.Host)
	}
	return u.String(), nil
}

// ErrCodeExpired is SubmitCode's error when the signed code URL has
// expired: a new code must be sent.
var ErrCodeExpired = errors.New("the code has expired")

// WrongCodeError is SubmitCode's error for a code Akiflow did not accept.
type WrongCodeError struct{ Message string }

func (e *WrongCodeError) Error() string { return "wrong code: " + e.Message }

// SubmitCode posts the code to the URL StartLogin returned. It returns a
// *WrongCodeError or ErrCodeExpired when the person should be asked again.
func (c *Client) SubmitCode(ctx context.Context, codeURL, email, code string) error {
	u, err := url.Parse(codeURL)
	if err != nil || !c.sameHost(u) {
		return errors.New("refusing to send the code outside the auth host")
	}
	var reply struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
	}
	err = c.do(ctx, "code", http.MethodPost, codeURL, map[string]string{"email": email, "code": code}, nil, &reply)
	var se *ServerError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusForbidden:
		return ErrCodeExpired
	case errors.As(err, &se) && (se.Status == http.StatusUnprocessableEntity || se.Status == http.StatusUnauthorized):
		return &WrongCodeError{orDefault(se.Message, "The code was not accepted.")}
	case err != nil:
		return err
	case !reply.Success:
		return &WrongCodeError{orDefault(oneLine(reply.Message), "The code was not accepted.")}
	}
	return nil
}

// Me fetches the logged-in user's tokens, after SubmitCode.
func (c *Client) Me(ctx context.Context) (*Tokens, error) {
	sent := c.now()
	var reply meReply
	if err := c.do(ctx, "login", http.MethodGet, c.resolve(pathMe), nil, nil, &reply); err != nil {
		return nil, err
	}
	var data tokenReply
	if DecodeReply(reply.Data, &data) != nil {
		return nil, &ServerError{Op: "login", Status: http.StatusOK, Message: "the user reply has no data"}
	}
	data.date = reply.date
	t, err := data.tokens("login", sent)
	if err == nil && t.RefreshToken == "" {
		// The session would die with this access token, and a login
		// replaces the account's session: a broken reply, refused whole,
		// leaves the one saved as it was.
		return nil, &ServerError{Op: "login", Status: http.StatusOK, Message: "the user reply has no refresh token"}
	}
	return t, err
}

// csrf fetches a fresh session and XSRF cookie.
func (c *Client) csrf(ctx context.Context, op string) error {
	if err := c.do(ctx, op, http.MethodGet, c.resolve(pathCSRF), nil, nil, nil); err != nil {
		return err
	}
	if _, ok := c.xsrf(); !ok {
		return &ServerError{Op: op, Status: http.StatusOK, Message: "the server set no XSRF-TOKEN cookie"}
	}
	return nil
}

// xsrf is the current XSRF value: read afresh from the jar every time, since
// the server rotates it at login and at code verification.
func (c *Client) xsrf() (string, bool) {
	for _, ck := range c.http.Jar.Cookies(c.base) {
		if ck.Name == xsrfCookie {
			return ParseXSRF(ck.Value)
		}
	}
	return "", false
}

// ParseXSRF decodes the XSRF-TOKEN cookie value: Laravel URL-encodes it, and
// the header wants it decoded. A "+" stays a "+".
func ParseXSRF(cookie string) (string, bool) {
	v, err := url.PathUnescape(cookie)
	if err != nil || v == "" || strings.ContainsAny(v, "\r\n\x00") {
		return "", false
	}
	return v, true
}

func (c *Client) resolve(path string) string { return c.base.JoinPath(path).String() }

// endpointOf names the endpoint of u for ServerError: one of the fixed
// paths, or "" (the signed code URL, whose path names the email).
func endpointOf(base, u *url.URL) string {
	for _, p := range []string{pathCSRF, pathLogin, pathMe, pathRefresh} {
		if strings.TrimPrefix(u.Path, "/") == strings.TrimPrefix(base.JoinPath(p).Path, "/") {
			return p
		}
	}
	return ""
}

// do runs one exchange: JSON in, JSON out, bounded in time and size.
// A reply outside 2xx is a *ServerError; a network failure is transient.
func (c *Client) do(ctx context.Context, op, method, rawURL string, in any, header http.Header, out any) error {
	ctx, cancel := withDeadline(ctx, c.timeout)
	defer cancel()
	if pastDeadline(ctx) {
		// Stopped and resumed past the deadline: sent now, the request
		// could be answered after the grace, and its answer lost.
		return c.networkError(ctx, op, hostOf(rawURL, c.base), context.DeadlineExceeded)
	}
	var body io.Reader
	contentType := "application/json"
	switch in := in.(type) {
	case nil:
	case url.Values: // an OAuth request (RFC 6749): a form
		body, contentType = strings.NewReader(in.Encode()), "application/x-www-form-urlencoded"
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return fmt.Errorf("could not build the %s request: %w", op, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Akiflow-Platform", c.platform)
	req.Header.Set("Akiflow-Version", c.appVersion)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	if in != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if method != http.MethodGet {
		if v, ok := c.xsrf(); ok {
			req.Header.Set("X-Xsrf-Token", v)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.networkError(ctx, op, req.URL.Host, err)
	}
	defer resp.Body.Close()
	limit := maxReplySize
	if op == "refresh" {
		limit = c.maxReply // its tokens are kept: no more than can be
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return c.networkError(ctx, op, req.URL.Host, err)
	}
	if len(data) > limit {
		return &ServerError{Op: op, Status: resp.StatusCode, Message: fmt.Sprintf("the reply is larger than the %d bytes that can be kept", limit)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The URL that answered, after redirects; the server's words never
		// hold what we sent it (a refresh token, a code), even echoed.
		secrets := secretsOf(in, header)
		e := newServerError(op, answeredBy(c.base, resp.Request.URL, resp.Request != req, in), resp, []byte(redactSecrets(string(data), secrets)))
		e.Code, e.Message = redactSecrets(e.Code, secrets), redactSecrets(e.Message, secrets)
		return e
	}
	if out == nil {
		return nil
	}
	if err := DecodeReply(data, out); err != nil {
		return &ServerError{Op: op, Status: resp.StatusCode, Message: err.Error()}
	}
	if d, ok := out.(interface{ setServerDate(time.Time) }); ok {
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			d.setServerDate(t)
		}
	}
	return nil
}

// secretsOf are the secrets a request sends, which a reply's words must
// never carry into a message even echoed: the refresh token, the code and
// the verifier of its body, and the bearer token of its header.
func secretsOf(in any, header http.Header) []string {
	var secrets []string
	var get func(string) string
	switch in := in.(type) {
	case map[string]string:
		get = func(key string) string { return in[key] }
	case url.Values:
		get = in.Get
	}
	if get != nil {
		for _, key := range []string{"refresh_token", "code", "code_verifier", "token"} {
			secrets = append(secrets, get(key))
		}
	}
	if bearer, ok := strings.CutPrefix(header.Get("Authorization"), "Bearer "); ok {
		secrets = append(secrets, bearer)
	}
	return secrets
}

// redactSecrets is text with each secret replaced: the whole secret, and a
// run of text starting with its first 12 characters (an echo the server
// cut short). It is applied to a reply as it came and to the words decoded
// from it (JSON may write a secret's "/" as "\/" or any letter as \u00XX).
func redactSecrets(text string, secrets []string) string {
	for _, secret := range secrets {
		if len(secret) < 6 {
			continue
		}
		text = strings.ReplaceAll(text, secret, "<redacted>")
		head := secret[:min(12, len(secret))]
		for {
			i := strings.Index(text, head)
			if i < 0 {
				break
			}
			j := i + len(head)
			for j < len(text) && !strings.ContainsRune(" \t\r\n\"',;<>", rune(text[j])) {
				j++
			}
			text = text[:i] + "<redacted>" + text[j:]
		}
	}
	return text
}

// DecodeReply parses a JSON reply into out; anything else (an HTML
// maintenance page, a truncated body) is a one-line error. A UTF-8
// byte-order mark before the object, and anything after it, are ignored: a
// reply that arrived whole is read.
func DecodeReply(data []byte, out any) error {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(data), []byte("\xef\xbb\xbf")))
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("the reply is not JSON")
	}
	if err := json.NewDecoder(bytes.NewReader(trimmed)).Decode(out); err != nil {
		return errors.New("the reply is not valid JSON of the expected shape")
	}
	return nil
}

// hostOf is the host rawURL names, for messages; base's if none.
func hostOf(rawURL string, base *url.URL) string {
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		return u.Host
	}
	return base.Host
}

// networkError is err of an exchange with host, which got no reply.
func (c *Client) networkError(ctx context.Context, op, host string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the URL, which may hold the signed code URL
	}
	var ne net.Error
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		err = timeoutError(c.timeout)
	case errors.Is(context.Cause(ctx), context.Canceled):
		return fmt.Errorf("%s: %w", op, context.Canceled)
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &hostname), errors.As(err, &verify):
		return &CertificateError{Host: host, Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		err = timeoutError(c.timeout)
	}
	return &NetworkError{Op: op, Host: host, Err: err}
}

// tokenReply is the token part of the refresh and /user/me replies. Its
// fields are read one by one, and a field of an unexpected type is only
// that field's problem: a reply that rotated the refresh token must not
// lose it because its expiry is a string.
type tokenReply struct {
	AccessToken  lenient   `json:"access_token"`
	RefreshToken lenient   `json:"refresh_token"`
	ExpiresIn    lenient   `json:"expires_in"`
	date         time.Time // the reply's Date header: the server's clock
}

func (r *tokenReply) setServerDate(t time.Time) { r.date = t }

// meReply is user/me's reply: the tokens in its data, and its Date.
type meReply struct {
	Data json.RawMessage `json:"data"`
	date time.Time
}

func (r *meReply) setServerDate(t time.Time) { r.date = t }

// lenient is a JSON value kept as it came, for a field read on its own.
type lenient struct{ raw json.RawMessage }

// UnmarshalJSON keeps the value; of a key given twice, a string value
// wins over anything else (a "refresh_token": null after the real one
// must not lose it).
func (l *lenient) UnmarshalJSON(b []byte) error {
	if len(l.raw) > 0 && l.raw[0] == '"' && (len(b) == 0 || b[0] != '"') {
		return nil
	}
	l.raw = append(json.RawMessage(nil), b...)
	return nil
}

// text is the value if it is a JSON string, else "".
func (l lenient) text() string {
	var s string
	if json.Unmarshal(l.raw, &s) != nil {
		return ""
	}
	return s
}

// seconds is the value if it is a number, or a string holding one.
func (l lenient) seconds() (float64, bool) {
	var n json.Number
	if json.Unmarshal(l.raw, &n) != nil {
		var s string
		if json.Unmarshal(l.raw, &s) != nil {
			return 0, false
		}
		n = json.Number(s)
	}
	f, err := n.Float64()
	return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

// MaxTokenSize bounds the access token a reply may carry (a JWT is about
// a kilobyte): it is printed into what shells, curl, git and kubectl read.
// A refresh token is bounded only by the reply's size: whoever stores it
// must make room for it, since once it arrived, the old one is spent.
const MaxTokenSize = 8 << 10

// CheckAccessToken accepts what may be printed as an access token:
// printable ASCII without spaces (a JWT or an opaque token), within
// MaxTokenSize. Anything else could inject lines into what git, curl or a
// shell reads.
func CheckAccessToken(token string) error {
	switch {
	case token == "":
		return errors.New("it is empty")
	case len(token) > MaxTokenSize:
		return fmt.Errorf("it is longer than %d bytes", MaxTokenSize)
	}
	for i := 0; i < len(token); i++ { // bytes: this runs on every cache hit
		if c := token[i]; c <= ' ' || c > '~' {
			return errors.New("it has spaces, control or non-ASCII characters")
		}
	}
	return nil
}

// tokens checks the reply and computes the expiry, counted from the time
// the request was sent. A reply whose access token is unusable may still
// carry a new refresh token (the old one is spent by then): it is returned
// with the error, alone. Any non-empty string is a refresh token.
func (r *tokenReply) tokens(op string, sent time.Time) (*Tokens, error) {
	return r.tokensWithin(op, sent, maxLifetime)
}

// tokensWithin is tokens, with longest the most a lifetime can be.
func (r *tokenReply) tokensWithin(op string, sent time.Time, longest time.Duration) (*Tokens, error) {
	access, refresh := r.AccessToken.text(), r.RefreshToken.text()
	if err := CheckAccessToken(access); err != nil {
		var partial *Tokens
		if refresh != "" {
			partial = &Tokens{RefreshToken: refresh}
		}
		return partial, &ServerError{Op: op, Status: http.StatusOK, Message: "the reply's access token is not usable: " + err.Error()}
	}
	t := &Tokens{AccessToken: access, RefreshToken: refresh, Lifetime: r.lifetime(access, sent, longest)}
	t.ExpiresAt = sent.Add(t.Lifetime)
	return t, nil
}

// Bounds of what can be an access token's lifetime: a value outside them
// (expires_in in milliseconds, an exp in the year 2319) is no lifetime at
// all.
const (
	minLifetime = time.Second
	maxLifetime = 24 * time.Hour
	// UnknownLifetime is the lifetime of an access token whose reply says
	// nothing usable of it: short, so that it is refreshed soon after.
	UnknownLifetime = time.Minute
)

// lifetime is the earliest of what the reply says (expires_in) and what
// the JWT says (exp - iat; exp, counted from sent, without iat), never
// later than the real expiry whatever the clocks say; UnknownLifetime
// when none of them can be a lifetime.
func (r *tokenReply) lifetime(access string, sent time.Time, longest time.Duration) time.Duration {
	var known []time.Duration
	if secs, ok := r.ExpiresIn.seconds(); ok && secs < longest.Seconds()+1 {
		known = append(known, time.Duration(secs*float64(time.Second)))
	}
	deadOnArrival := false
	if jwtLife, exp, isJWT := jwtLifetime(access); isJWT {
		if jwtLife != 0 {
			known = append(known, jwtLife)
		}
		known = append(known, exp.Sub(sent))
		// Expired by the server's own clock (its reply's Date: no skew of
		// ours counts), or by ours when the reply has no Date: dead on
		// arrival, whatever expires_in says. It is kept a minute at most
		// (not refreshed at every call, should our clock be the wrong one).
		if !r.date.IsZero() {
			deadOnArrival = exp.Sub(r.date) < minLifetime
		} else {
			deadOnArrival = exp.Sub(sent) < minLifetime
		}
	}
	lifetime := time.Duration(0)
	for _, d := range known {
		if d >= minLifetime && d <= longest && (lifetime == 0 || d < lifetime) {
			lifetime = d
		}
	}
	if lifetime == 0 || deadOnArrival {
		return min(max(lifetime, UnknownLifetime), UnknownLifetime)
	}
	return lifetime
}

func newServerError(op, endpoint string, resp *http.Response, data []byte) *ServerError {
	e := &ServerError{Op: op, Endpoint: endpoint, Status: resp.StatusCode}
	var body struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		Message          string `json:"message"`
	}
	switch {
	case DecodeReply(data, &body) == nil:
		e.Code = oneLine(body.Error)
		e.Message = oneLine(orDefault(body.Message, body.ErrorDescription))
	case resp.StatusCode == http.StatusForbidden:
		// Akiflow answers in JSON; a page is a firewall or proxy in front
		// of it (Cloudflare says "error code: 1010" to clients it dislikes).
		e.Message = "a firewall or proxy in front of Akiflow refused this client, not Akiflow itself"
		if code := firewallCode(data); code != "" {
			e.Message += " (error code: " + code + ")"
		}
	case resp.StatusCode >= 500:
		e.Message = "the server is failing"
	default:
		e.Message = "the reply is not Akiflow's JSON (a proxy in between?)"
	}
	e.RetryAfter = retryAfter(resp.Header)
	return e
}

// retryAfter is how long a reply's Retry-After asks to wait (RFC 9110,
// 10.2.3): seconds, or a date, counted from the reply's own Date when it
// has one (the server's clock against itself: ours may be off); 0 when
// there is none or it cannot be read. A week at most, which is "too long"
// already, so that nothing overflows.
func retryAfter(h http.Header) time.Duration {
	const week = 7 * 24 * time.Hour
	v := h.Get("Retry-After")
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(min(secs, int(week/time.Second))) * time.Second
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	now := time.Now()
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	return min(max(at.Sub(now), 0), week)
}

// firewallCode finds the number of Cloudflare's "error code: NNNN" in a
// page; "" if there is none.
func firewallCode(page []byte) string {
	_, rest, ok := bytes.Cut(page, []byte("error code: "))
	n := 0
	for ok && n < len(rest) && n < 6 && '0' <= rest[n] && rest[n] <= '9' {
		n++
	}
	return string(rest[:n])
}

// oneLine keeps server text to one short line. (What reaches a terminal is
// also stripped of every other control by package helper.)
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// loggingTransport writes one line per exchange for --verbose: method,
// path, status and duration. Never the query (a signed URL), headers or
// bodies (tokens).
type loggingTransport struct {
	next http.RoundTripper
	logf func(format string, args ...any)
}

func (t *loggingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	took := time.Since(start).Round(time.Millisecond)
	path := req.URL.EscapedPath()
	if strings.HasPrefix(path, "/auth/email/") {
		path = "/auth/email/…" // the signed code URL names the email
	}
	if err != nil {
		t.logf("%s %s: no reply (%s)", req.Method, path, took)
	} else {
		t.logf("%s %s: %d (%s)", req.Method, path, resp.StatusCode, took)
	}
	return resp, err
}
