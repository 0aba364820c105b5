package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"akiflow-token/cache"
	"akiflow-token/helper"
	"akiflow-token/helper/endpoint"
	"akiflow-token/helper/format"
	"akiflow-token/helper/run"
)

// The commands of the local endpoint (package helper/endpoint), for programs
// that run longer than a token lives: exec --serve runs a command with the
// endpoint alive for exactly the command's life; serve runs the endpoint in
// the foreground, for a service manager.

// The variables that hand the endpoint's URLs to a program.
const (
	envTokenURL = "AKIFLOW_TOKEN_URL"
	envProxyURL = "AKIFLOW_PROXY_URL"
)

// apiFlag is the proxy's upstream, for exec --serve and serve.
type apiFlag struct {
	APIURL string `name:"api-url" env:"AKIFLOW_API_URL" default:"${default_api_url}" help:"The Akiflow API that the endpoint's proxy forwards to: https on akiflow.com or a subdomain (plain http only to this machine)."`
}

// parse checks the API URL; a bad one is a usage error that names where it
// came from.
func (a apiFlag) parse() (*url.URL, error) {
	u, err := endpoint.ParseAPIURL(a.APIURL)
	if err != nil {
		return nil, helper.UsageError("%s %q: %v", source("api-url"), a.APIURL, err)
	}
	return u, nil
}

type serveCmd struct {
	Listen  string  `default:"${default_listen}" help:"The loopback address to listen on; port 0 picks a free one."`
	URLFile string  `name:"url-file" placeholder:"PATH" type:"path" help:"Write the URLs to PATH (mode 0600; removed on exit) rather than to stdout."`
	API     apiFlag `embed:""`
}

// Run serves until SIGINT, SIGTERM or SIGHUP. A login that is needed does
// not stop it from starting (a service may start before the person logs
// in): it answers 503 until then. At a terminal, a login is asked for
// first, as the token command would.
func (s serveCmd) Run(c *cli) error {
	api, err := s.API.parse()
	if err != nil {
		return err
	}
	listen, err := endpoint.ParseListen(s.Listen)
	if err != nil {
		return helper.UsageError("--listen %q: %v", s.Listen, err)
	}
	h, err := c.helper()
	if err != nil {
		return err
	}
	req := c.request()
	sess, err := h.Token(context.Background(), req)
	switch code := helper.ExitCode(err); {
	case err == nil:
		req.Account = sess.Email
	case code == helper.ExitLoginNeeded || code == helper.ExitUnavailable:
		fmt.Fprintf(os.Stderr, "akiflow-token: warning: serving anyway: %s\n", format.SafeText(err.Error())) // the cause last: it may end with a command
		// Serve the account it was started for, whichever becomes the
		// default later: the default's, or with none, the first one that
		// gives a token (flowSource).
		if req.Account == "" {
			req.Account, _ = h.Account(req)
		}
	default:
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(stop)
	ep, err := startEndpoint(c, h, req, api, listen)
	if err != nil {
		return err
	}
	defer ep.Close()
	lines := []byte(fmt.Sprintf("export %s=%s\nexport %s=%s\n", envTokenURL, ep.TokenURL(), envProxyURL, ep.ProxyURL()))
	if s.URLFile != "" {
		if err := writePrivateFile(s.URLFile, lines); err != nil {
			return err
		}
		defer removeIfOurs(s.URLFile, lines)
	} else if _, err := os.Stdout.Write(lines); err != nil {
		return fmt.Errorf("could not write the URLs: %w", err)
	}
	select {
	case <-stop:
	case <-ep.Done():
		return fmt.Errorf("the endpoint stopped: %w", ep.Err())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ep.Shutdown(ctx)
	return nil
}

// startEndpoint starts the endpoint for req's account ("" for the default
// account). The endpoint never asks, and forces no refresh at every request.
func startEndpoint(c *cli, h *helper.Helper, req helper.Request, api *url.URL, listen string) (*endpoint.Endpoint, error) {
	req.Prompt, req.NoPrompt = nil, "the endpoint never asks"
	req.Force = false
	return endpoint.Start(endpoint.Config{
		Source:       &flowSource{c: c, h: h, rq: req},
		Email:        req.Account,
		LoginCommand: h.LoginCommand(req.Account),
		API:          api,
		Timeout:      c.Timeout,
		AppVersion:   c.AppVersion,
		Platform:     c.Platform,
		Stderr:       os.Stderr,
		Verbose:      c.Verbose,
	}, listen)
}

// flowSource is the token flow as the endpoint's Source. Started with no
// account at all (no login yet), it is pinned to the account of its first
// token.
type flowSource struct {
	c  *cli
	h  *helper.Helper
	mu sync.Mutex
	rq helper.Request
}

func (f *flowSource) req() helper.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rq
}

func (f *flowSource) Cached() (format.Credential, bool) {
	s, ok := f.h.Cached(f.req())
	if !ok {
		return format.Credential{}, false
	}
	c, _ := f.answer(s, nil)
	return c, true
}

func (f *flowSource) Token(ctx context.Context) (format.Credential, error) {
	return f.answer(f.h.Token(ctx, f.req()))
}

func (f *flowSource) Renew(ctx context.Context, stale string) (format.Credential, error) {
	req := f.req()
	req.Stale = stale
	return f.answer(f.h.Token(ctx, req))
}

func (f *flowSource) answer(s *helper.Session, err error) (format.Credential, error) {
	if err != nil {
		return format.Credential{}, classified(err)
	}
	f.mu.Lock()
	if f.rq.Account == "" {
		f.rq.Account = s.Email
	}
	f.mu.Unlock()
	return f.c.credential(s, ""), nil
}

// classified marks err with the endpoint's kind of it.
func classified(err error) error {
	var kind error
	switch helper.ExitCode(err) {
	case helper.ExitLoginNeeded:
		kind = endpoint.ErrLoginNeeded
	case helper.ExitUnavailable:
		kind = endpoint.ErrUnavailable
		if helper.IsTimeout(err) {
			kind = endpoint.ErrTimeout
		}
	case helper.ExitInterrupted:
		kind = endpoint.ErrInterrupted
	default:
		return err
	}
	return &kindError{kind, err}
}

type kindError struct{ kind, err error }

func (e *kindError) Error() string        { return e.err.Error() }
func (e *kindError) Unwrap() error        { return e.err }
func (e *kindError) Is(target error) bool { return target == e.kind }

// runServed is exec --serve: CMD runs as our child, with the token and the
// endpoint's URLs in its environment, while the endpoint serves (package
// run says how signals pass). Nothing is written to stdout, which is CMD's
// (an MCP server's channel). When CMD ends, the endpoint stops and we exit
// as CMD did: with its status, or of the signal that killed it.
func runServed(c *cli, e execCmd, path string, argv []string) error {
	api, err := e.API.parse()
	if err != nil {
		return err
	}
	if e.Env == envTokenURL || e.Env == envProxyURL {
		return helper.UsageError("--env %s is where exec --serve puts an endpoint's URL; choose another name, such as %s", e.Env, run.DefaultTokenEnv)
	}
	h, err := c.helper()
	if err != nil {
		return err
	}
	req := c.request()
	s, err := h.Token(context.Background(), req) // a login now follows the CLI's rules
	if err != nil {
		return err
	}
	req.Account = s.Email
	ep, err := startEndpoint(c, h, req, api, endpoint.DefaultListen)
	if err != nil {
		return err
	}
	defer ep.Close()
	// The command holds the listening socket too: while it (or anything
	// it started) lives, the port its URLs name stays ours, even after
	// this process is killed. Windows cannot pass a socket on: there
	// Supervise puts the command in a job object that kills it, and what
	// it started, when this process dies, so nothing that holds the URLs
	// outlives the endpoint.
	var keep []*os.File
	if run.KeepsFiles {
		listener, err := ep.ListenerFile()
		if err != nil {
			return err
		}
		keep = append(keep, listener)
	}
	status, err := run.Supervise(path, argv, run.Env(os.Environ(), map[string]string{
		e.Env:       s.AccessToken,
		envTokenURL: ep.TokenURL(),
		envProxyURL: ep.ProxyURL(),
	}), keep...)
	for _, f := range keep {
		f.Close()
	}
	if err != nil {
		return err
	}
	return &run.ExitError{Status: status}
}

// writePrivateFile replaces path, atomically, with a private file holding
// data (0600, or on Windows a DACL of the user's alone).
func writePrivateFile(path string, data []byte) error {
	if err := cache.WriteFile(path, data); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("could not write the URLs to %s: %w", path, err)
	}
	return nil
}

// removeIfOurs removes path if it still holds what we wrote: another serve
// may have replaced it since.
func removeIfOurs(path string, data []byte) {
	if got, err := os.ReadFile(path); err == nil && bytes.Equal(got, data) {
		os.Remove(path)
	}
}
