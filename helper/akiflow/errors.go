package akiflow

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ServerError is a reply that did not give what was asked for. Its message
// is the server's own words, cut to one line, never a token.
type ServerError struct {
	Op         string // "refresh", "login", "code"
	Endpoint   string // the path that answered, such as /oauth/refreshToken; "" for the signed code URL
	Status     int
	Code       string // the OAuth error, such as invalid_grant
	Message    string
	RetryAfter time.Duration
}

func (e *ServerError) Error() string {
	msg := fmt.Sprintf("Akiflow %s failed", e.Op)
	if e.Status < 200 || e.Status > 299 {
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Transient says the server may answer differently later.
func (e *ServerError) Transient() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout ||
		e.Status >= 200 && e.Status <= 299 // a success that did not give what was asked: a broken reply
}

// Rejected says Akiflow refused the refresh token itself: only then is a
// new login needed. That is what Laravel Passport answers for a revoked,
// expired or already-used refresh token, from the refresh endpoint:
// invalid_grant (HTTP 400 in current versions, 401 too), or
// invalid_request with HTTP 401 (older versions). Any other reply (another
// OAuth error such as invalid_client or temporarily_unavailable, a
// framework's {"error": "Unauthorized"}, a failed csrf step, a proxy's or
// firewall's page, a 404) says nothing of the refresh token, which stays as
// good as it was.
func (e *ServerError) Rejected() bool {
	if e.Endpoint == EndpointToken {
		// An OAuth token endpoint (RFC 6749, 5.2): invalid_grant alone
		// says the grant (the refresh token, the code) is dead.
		return (e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized) && e.Code == "invalid_grant"
	}
	if e.Endpoint != pathRefresh {
		return false
	}
	switch e.Status {
	case http.StatusBadRequest:
		return e.Code == "invalid_grant"
	case http.StatusUnauthorized:
		return e.Code == "invalid_grant" || e.Code == "invalid_request"
	}
	return false
}

// ClientUnknown says an OAuth token endpoint no longer knows the client
// that asked (invalid_client): its registration is gone, and so is every
// session issued to it.
func (e *ServerError) ClientUnknown() bool {
	// A 5xx that says so is a failing server, not an answer.
	return e.Endpoint == EndpointToken && e.Code == "invalid_client" &&
		(e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized)
}

func staleXSRF(err error) bool {
	var se *ServerError
	return errors.As(err, &se) && se.Status == 419
}

// NetworkError is an exchange that got no reply: a refused or broken
// connection, a timeout, a TLS failure.
type NetworkError struct {
	Op   string // "refresh", "login", "code"
	Host string
	Err  error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("could not reach Akiflow at %s (%s): %v", e.Host, e.Op, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// Transient says the same request may work later.
func (e *NetworkError) Transient() bool { return true }

// IsTransient says err is a failure that may pass: a *NetworkError, or a
// *ServerError whose status says "not now".
func IsTransient(err error) bool {
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}

// CertificateError is a TLS certificate this machine does not trust for the
// auth host: it will not pass by itself, so it is not transient.
type CertificateError struct {
	Host string
	Err  error
}

func (e *CertificateError) Error() string {
	var hostname x509.HostnameError
	if errors.As(e.Err, &hostname) {
		return fmt.Sprintf("the TLS certificate of %s is for another host (%v): check --base-url", e.Host, e.Err)
	}
	return fmt.Sprintf("could not verify the TLS certificate of %s (%v): if a proxy or your company signs it, "+
		"add its CA to the system's trust store or point SSL_CERT_FILE at it (--insecure turns the check off, which lets anyone read your tokens)",
		e.Host, e.Err)
}

func (e *CertificateError) Unwrap() error { return e.Err }

// timeoutError is an exchange that got no answer within the timeout; it
// matches context.DeadlineExceeded.
type timeoutError time.Duration

func (e timeoutError) Error() string        { return fmt.Sprintf("no answer within %s", time.Duration(e)) }
func (e timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }
