package helper

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/endpoint"
)

// The person's side of Akiflow's official sign-in (Config.OAuth): a
// browser and a loopback redirect in place of the emailed code. The
// protocol is package akiflow's (oauth.go); what follows the login (the
// record, the lock, the refresh process, the vault, every command) is
// the email-code session's, in a store of its own.

// registrationRecord names the record that keeps akiflow-token's client
// registration with the auth host: without "@", so no account's.
const registrationRecord = "oauth-client"

// registration is that record's content.
type registration struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
}

// redirectPath is the one path the loopback listener answers.
const redirectPath = "/callback"

// registeredRedirect is the redirect URI akiflow-token registers: the
// loopback address with no port, which RFC 8252 (7.3) lets a native app
// use with any port.
const registeredRedirect = "http://127.0.0.1" + redirectPath

// oauthLoginLock is the lock an OAuth login holds while the person signs
// in: one browser sign-in at a time per auth host, whichever account it
// turns out to be.
const oauthLoginLock = "oauth/login"

// loginLockOf is the lock a login of key holds while it waits for the
// person.
func (c *call) loginLockOf(key string) string {
	if c.h.cfg.OAuth {
		return oauthLoginLock
	}
	return loginLock(key)
}

// refreshTokens trades s's refresh token for new tokens, with the
// protocol of its kind of session.
func (c *call) refreshTokens(ctx context.Context, s *Session) (*akiflow.Tokens, error) {
	if !c.h.cfg.OAuth {
		return c.h.newClient().Refresh(ctx, s.RefreshToken, s.ClientID)
	}
	if s.TokenURL == "" || s.OAuthClient == "" {
		return nil, &rejectedError{"the saved session is not an OAuth session"}
	}
	return c.h.newClient().RefreshOAuth(ctx, s.TokenURL, s.OAuthClient, s.RefreshToken, s.Resource)
}

// clientFor is the client id registered with the issuer, registering
// one (and keeping it) when there is none.
func (c *call) clientFor(ctx context.Context, client *akiflow.Client, d *akiflow.Discovery) (string, error) {
	if data, err := c.h.store.Read(registrationRecord); err == nil {
		var r registration
		if json.Unmarshal(data, &r) == nil && r.Issuer == d.Server.Issuer && akiflow.CheckClientID(r.ClientID) == nil {
			return r.ClientID, nil
		}
	}
	id, err := client.Register(ctx, d.Server.RegistrationEndpoint, registeredRedirect)
	if err != nil {
		return "", err
	}
	c.logf("registered akiflow-token with %s", c.h.base.Host)
	err = c.h.replace(registrationRecord, func() ([]byte, error) {
		return json.Marshal(registration{Issuer: d.Server.Issuer, ClientID: id})
	})
	if err != nil {
		c.warnf("akiflow-token registers again at the next login: %v", err)
	}
	return id, nil
}

// forgetRegistration drops the kept registration if it is id's: the
// server no longer knows it, and the next login registers again.
func (c *call) forgetRegistration(id string) {
	data, err := c.h.store.Read(registrationRecord)
	var r registration
	if err != nil || json.Unmarshal(data, &r) != nil || r.ClientID != id {
		return
	}
	if err := c.h.store.Remove(registrationRecord); err != nil {
		c.warnf("%v", err)
	}
}

// preflight checks, before the person is asked anything, that a login of
// key can be saved: its record can be prepared, may be replaced (not
// refused, not a newer akiflow-token's), and the vault that will keep the
// refresh token answers. It returns that vault's name.
func (c *call) preflight(ctx context.Context, key string) (string, error) {
	// Under the account's lock: an open Pending outside it would make a
	// refresh that holds it think another save is under way.
	lock, err := c.lock(ctx, key, c.h.lockWait())
	if err != nil {
		return "", err
	}
	probe, err := c.h.store.Prepare(key)
	if err == nil {
		probe.Discard()
	}
	lock.Close()
	if err != nil {
		return "", err
	}
	before, err := c.readRecord(key, false)
	if err != nil {
		return "", err
	}
	return c.loginVault(key, before)
}

// oauthLogin signs the person in with the browser: discovery, the
// registration, the authorization URL opened (and always printed on the
// terminal), the code that comes back to the loopback listener, and its
// exchange; then the session is saved as an email-code login's is. key
// may be "": the tokens name the account.
func (c *call) oauthLogin(ctx context.Context, key string, tty *terminal) (*Session, error) {
	if key != "" {
		if _, err := c.preflight(ctx, key); err != nil {
			return nil, err
		}
	}
	client := c.h.newClient()
	d, err := client.Discover(ctx, c.h.mcp)
	if err != nil {
		return nil, err
	}
	clientID, err := c.clientFor(ctx, client, d)
	if err != nil {
		return nil, err
	}
	l, err := listenLoopback(c.req.Port, c.logf)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	a := akiflow.Authorization{ClientID: clientID, State: akiflow.NewState(), Verifier: akiflow.NewVerifier(),
		RedirectURI: fmt.Sprintf("http://127.0.0.1:%d%s", l.Addr().(*net.TCPAddr).Port, redirectPath),
		Resource:    d.Resource, Scopes: d.Scopes}
	authURL, err := a.URL(d.Server.AuthorizationEndpoint)
	if err != nil {
		return nil, err
	}
	tty.printf("Sign in to Akiflow in a browser, at this address:\n\n  %s\n", authURL)
	if c.req.Browser != nil {
		if err := c.req.Browser(authURL); err != nil {
			tty.printf("Could not open a browser (%v): open the address above.", err)
		}
	}
	tty.printf("Waiting for the browser to come back to %s (at most %s; Ctrl-C cancels)…", l.Addr(), codeWait)
	code, err := awaitCallback(ctx, l, a.State, codeWait)
	if err != nil {
		return nil, err
	}
	// The code came back: finish, Ctrl-C or not (it is used up once sent).
	ctx = context.WithoutCancel(ctx)
	tokens, err := client.ExchangeCode(ctx, d.Server.TokenEndpoint, a, code)
	var se *akiflow.ServerError
	if errors.As(err, &se) && se.ClientUnknown() {
		c.forgetRegistration(clientID)
		return nil, fmt.Errorf("%w; akiflow-token's registration was forgotten by Akiflow: run the login again, which registers anew", err)
	}
	if err != nil {
		return nil, err
	}
	key, err = c.accountOf(ctx, client, d, tokens, key)
	if err != nil {
		return nil, err
	}
	vault, err := c.preflight(ctx, key)
	if err != nil {
		return nil, err
	}
	return c.saveLogin(ctx, key, vault, tokens, func(s *Session) {
		s.OAuthClient, s.TokenURL, s.Resource = clientID, d.Server.TokenEndpoint, d.Resource
	})
}

// accountOf is the key of the account the tokens are of: the email their
// claims name, else the userinfo endpoint's (when the server has one),
// else the one -e named (key). Claims that name another account than -e
// are an error: the browser signed in as someone else.
func (c *call) accountOf(ctx context.Context, client *akiflow.Client, d *akiflow.Discovery, t *akiflow.Tokens, key string) (string, error) {
	email := t.Email
	if email == "" && d.Server.UserinfoEndpoint != "" {
		var err error
		if email, err = client.Userinfo(ctx, d.Server.UserinfoEndpoint, t.AccessToken); err != nil {
			c.warnf("%v", err)
		}
	}
	switch {
	case email == "" && key == "":
		return "", UsageError("the sign-in worked, but Akiflow did not say which account it is of (no email in its token or userinfo): run it again with -e EMAIL")
	case email == "":
		return key, nil
	case CheckEmail(email) != nil:
		return "", fmt.Errorf("the sign-in names the account %q, which is not an email", oneLine(email))
	case key != "" && accountKey(email) != key:
		return "", fmt.Errorf("the browser signed in to %s, not %s: sign in there as %s, or leave -e out", oneLine(email), c.shown(key), c.shown(key))
	}
	return accountKey(email), nil
}

// listenLoopback listens on 127.0.0.1:port (any free port for 0), for
// the redirect, answering this user's connections only where the system
// says who owns a connecting socket (as the endpoint does): another local
// user could read the authorization URL in the browser's arguments, sign
// in to an account of theirs with it and send its code here first.
func listenLoopback(port int, logf func(format string, args ...any)) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("the port %d for the browser's redirect is taken: pick another with --port, or leave it out for a free one", port)
	case err != nil:
		return nil, fmt.Errorf("could not listen for the browser's redirect: %w", err)
	}
	return endpoint.SameUserOnly(l, logf), nil
}

// DeniedError is the authorization server's refusal, as the browser's
// redirect carried it (access_denied: the person said no).
type DeniedError struct{ Code, Description string }

func (e *DeniedError) Error() string {
	msg := "Akiflow did not grant the sign-in: " + e.Code
	if e.Description != "" {
		msg += " (" + e.Description + ")"
	}
	return msg
}

// awaitCallback serves the redirect on l until the one callback with
// state comes back, and returns its code. Only GET redirectPath is
// answered (else 404); one with another state gets 400, and the wait goes
// on; one with an error ends it. The wait is bounded by wait, and ends at
// once when ctx does (Ctrl-C).
func awaitCallback(ctx context.Context, l net.Listener, state string, wait time.Duration) (string, error) {
	type result struct {
		code string
		err  error
	}
	done := make(chan result, 1)
	var once sync.Once
	deliver := func(r result) bool {
		delivered := false
		once.Do(func() { done <- r; delivered = true })
		return delivered
	}
	page := func(w http.ResponseWriter, status int, text string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		io.WriteString(w, text+"\n")
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.URL.Path != redirectPath {
				page(w, http.StatusNotFound, "not found")
				return
			}
			q := r.URL.Query()
			if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
				page(w, http.StatusBadRequest, "akiflow-token: this is not the sign-in it is waiting for (its state differs); it keeps waiting")
				return
			}
			var res result
			switch {
			case q.Get("error") != "":
				res.err = &DeniedError{Code: oneLine(q.Get("error")), Description: oneLine(q.Get("error_description"))}
			case q.Get("code") == "":
				res.err = errors.New("the browser came back from Akiflow without a code")
			default:
				res.code = q.Get("code")
			}
			if !deliver(res) {
				page(w, http.StatusGone, "akiflow-token: this sign-in is over")
				return
			}
			if res.err != nil {
				page(w, http.StatusOK, "akiflow-token: "+res.err.Error()+". You may close this tab.")
				return
			}
			page(w, http.StatusOK, "akiflow-token: signed in. You may close this tab and go back to the terminal.")
		})}
	go srv.Serve(l)
	defer func() {
		// Let the page that was being answered leave, then close.
		shut, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.code, r.err
	case <-ctx.Done():
		return "", ErrInterrupted
	case <-timer.C:
		return "", fmt.Errorf("the browser did not come back within %s: the login ended; run it again", wait)
	}
}

// quietLog drops the redirect listener's own errors (a browser that
// hangs up): they are no concern of the person's terminal.
var quietLog = log.New(io.Discard, "", 0)
