package endpoint

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"akiflow-token/helper/format"
)

// The proxy forwards every request under the proxy URL to the configured
// API host, to the path below the capability (a host in the request is
// never used), with the Authorization header replaced by a fresh token and
// Akiflow's client headers added. Hop-by-hop headers are dropped both ways
// (httputil.ReverseProxy), bodies stream both ways, and --timeout bounds
// the wait for the response's headers only.
//
// A 401 to a request that carried the current token means the token was
// revoked before its time: one refresh is forced (one at a time, at most
// one per access token: a token that a forced refresh gave and that is
// refused too forces none) and the request sent once more with the new token, if
// its body was small enough to keep (maxReplayBody); a larger body's 401 is
// passed through.

// maxReplayBody is the largest request body kept for a retry after a 401.
const maxReplayBody = 1 << 20

func (e *Endpoint) newProxy() http.Handler {
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   e.cfg.Timeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   e.cfg.Timeout,
		ResponseHeaderTimeout: e.cfg.Timeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
	}
	// HTTP/1.1 only, as the token client: Go's HTTP/2 client sends a
	// request again by itself, body and all, after a PROTOCOL_ERROR reset
	// of its stream, which a server may send after acting on it (a POST
	// that creates a task, an MCP tools/call, done twice).
	transport.Protocols = new(http.Protocols)
	transport.Protocols.SetHTTP1(true)
	return &httputil.ReverseProxy{
		Rewrite:        e.rewrite,
		Transport:      &authorizer{e: e, next: transport},
		ModifyResponse: e.modifyResponse,
		ErrorHandler:   e.proxyError,
		ErrorLog:       e.errorLog,
	}
}

// rewrite points the request at the API: the API's scheme and host, its
// path prefix and the path below the capability, the query as it came.
// What the capability could be read from is dropped: the path it was in,
// Referer, any header that quotes it.
func (e *Endpoint) rewrite(pr *httputil.ProxyRequest) {
	_, rest := splitCapability(pr.In.URL.EscapedPath())
	rest = "/" + strings.TrimLeft(rest, "/")
	api := e.cfg.API
	escaped := api.EscapedPath() + rest
	path, err := url.PathUnescape(escaped)
	if err != nil {
		path = api.Path + rest // the router took it: it unescapes
	}
	pr.Out.URL = &url.URL{Scheme: api.Scheme, Host: api.Host, Path: path, RawPath: escaped, RawQuery: pr.In.URL.RawQuery}
	pr.Out.Host = ""
	h := pr.Out.Header
	// Our own business: the token, and no upgrade to another protocol.
	for _, name := range []string{"Authorization", "Connection", "Upgrade", "Referer", "Origin", "Forwarded"} {
		h.Del(name)
	}
	for name, values := range h {
		for _, v := range values {
			if e.quotesCapability(v) {
				h.Del(name)
				break
			}
		}
	}
	h.Set("Akiflow-Platform", e.cfg.Platform)
	h.Set("Akiflow-Version", e.cfg.AppVersion)
}

// modifyResponse keeps every answer out of caches, and points a redirect
// to the API back through the proxy.
func (e *Endpoint) modifyResponse(resp *http.Response) error {
	resp.Header.Del("Cache-Control") // ServeHTTP said no-store, once
	resp.Header.Del("Expires")
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil
	}
	api := e.cfg.API
	u, err := url.Parse(loc)
	if err != nil || !u.IsAbs() || !strings.EqualFold(u.Scheme, api.Scheme) || !strings.EqualFold(u.Host, api.Host) {
		return nil
	}
	if rest, ok := strings.CutPrefix(u.EscapedPath(), api.EscapedPath()); ok && (rest == "" || rest[0] == '/') {
		target := e.ProxyURL() + rest
		if u.RawQuery != "" {
			target += "?" + u.RawQuery
		}
		resp.Header.Set("Location", target)
	}
	return nil
}

// proxyError answers a request the API did not answer: 503 with JSON when
// no token could be had (login needed), 504 when the API did not send its
// headers within --timeout, 502 otherwise.
func (e *Endpoint) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var te *tokenError
	switch {
	case errors.As(err, &te):
		e.fail(w, te.err)
		return
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		w.WriteHeader(http.StatusBadGateway) // the program left: nobody reads this
		return
	}
	status, kind := http.StatusBadGateway, "unavailable"
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		status, kind = http.StatusGatewayTimeout, "timeout"
	}
	if e.cfg.Verbose {
		e.logf("proxy %s: %v", r.Method, err)
	}
	writeJSON(w, status, failure{Error: kind, Message: "the Akiflow API did not answer: " + format.SafeText(upstreamProblem(err))})
}

// upstreamProblem is what went wrong, without the request's URL (which
// holds the program's query).
func upstreamProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// tokenError is a request that got no token to forward with.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// authorizer sends each request with a fresh token, and once more after a
// 401 that a forced refresh may cure.
type authorizer struct {
	e    *Endpoint
	next http.RoundTripper
}

func (a *authorizer) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	s, err := a.e.tokens.token(ctx)
	if err != nil {
		return nil, &tokenError{err}
	}
	a.e.served()
	body, replayable, err := keepBody(req)
	if err != nil {
		return nil, err
	}
	resp, err := a.next.RoundTrip(authorized(req, s, body))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !replayable {
		return resp, err
	}
	fresh, ok, err := a.e.tokens.renew(ctx, s.AccessToken)
	if errors.Is(err, ErrLoginNeeded) {
		resp.Body.Close()
		return nil, &tokenError{err} // the session is gone: say what to do
	}
	if err != nil || !ok {
		return resp, nil // nothing better to send it with: the 401 stands
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so that the connection is reused
	resp.Body.Close()
	return a.next.RoundTrip(authorized(req, fresh, body))
}

// authorized is req with s's token and client id, and the body kept (nil:
// req's own, which streams).
func authorized(req *http.Request, s format.Credential, body []byte) *http.Request {
	out := req.Clone(req.Context())
	out.Header.Set("Authorization", "Bearer "+s.AccessToken)
	if s.ClientID != "" {
		out.Header.Set("Akiflow-Client-Id", s.ClientID)
	}
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return out
}

// keepBody reads req's body if it is at most maxReplayBody, so that it can
// be sent again: replayable says it was (or there is none). A larger body
// is left to stream, its first part read already put back in front.
func keepBody(req *http.Request) (body []byte, replayable bool, err error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, true, nil
	}
	if req.ContentLength > maxReplayBody {
		return nil, false, nil
	}
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	n, err := io.Copy(&buf, io.LimitReader(req.Body, maxReplayBody+1))
	if err != nil {
		return nil, false, err
	}
	if n > maxReplayBody {
		req.Body = readCloser{io.MultiReader(bytes.NewReader(buf.Bytes()), req.Body), req.Body}
		return nil, false, nil
	}
	req.Body.Close()
	req.ContentLength = int64(buf.Len())
	body = buf.Bytes()
	if body == nil {
		body = []byte{} // kept, and empty: not req's closed body
	}
	return body, true, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
