package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"

	"akiflow-token/helper"
	"akiflow-token/helper/endpoint"
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
		return nil, helper.UsageError("%s %q: %v", commandFlagSource("api-url", "AKIFLOW_API_URL"), a.APIURL, err)
	}
	return u, nil
}

// commandFlagSource names where a command's flag came from: the flag, if
// the command line has it, else its variable, if set.
func commandFlagSource(flag, env string) string {
	for _, arg := range os.Args[1:] {
		if arg == "--" {
			break
		}
		if arg == "--"+flag || strings.HasPrefix(arg, "--"+flag+"=") {
			return "--" + flag
		}
	}
	if _, set := os.LookupEnv(env); set {
		return env
	}
	return "--" + flag
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
func (s serveCmd) Run(h *helper.Helper, c *cli) error {
	api, err := s.API.parse()
	if err != nil {
		return err
	}
	listen, err := endpoint.ParseListen(s.Listen)
	if err != nil {
		return helper.UsageError("--listen %q: %v", s.Listen, err)
	}
	email := c.Email
	sess, err := h.Token(context.Background())
	switch code := helper.ExitCode(err); {
	case err == nil:
		email = sess.Email
	case code == helper.ExitLoginNeeded || code == helper.ExitUnavailable:
		fmt.Fprintf(os.Stderr, "akiflow-token: warning: %s; serving anyway\n", helper.SafeText(err.Error()))
	default:
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(stop)
	ep, err := startEndpoint(c, email, api, listen)
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

// startEndpoint starts the endpoint for the account email ("" for the
// default account), with a Helper of its own that never asks.
func startEndpoint(c *cli, email string, api *url.URL, listen string) (*endpoint.Endpoint, error) {
	cfg := c.config(os.Args[1:])
	cfg.Email = email
	cfg.NonInteractive, cfg.NonInteractiveWhy = true, "the endpoint never asks"
	cfg.ForceRefresh = false // once, for the start, not at every request
	cfg.Output, cfg.ExecInfo = helper.FormatJSON, ""
	h, err := newHelper(cfg)
	if err != nil {
		return nil, err
	}
	return endpoint.Start(endpoint.Config{
		Helper:     h,
		Email:      email,
		API:        api,
		Timeout:    c.Timeout,
		AppVersion: c.AppVersion,
		Platform:   c.Platform,
		Stderr:     os.Stderr,
		Verbose:    c.Verbose,
	}, listen)
}

// runServed is exec --serve: CMD runs as our child, with the token and the
// endpoint's URLs in its environment, while the endpoint serves. Nothing
// is written to stdout, which is CMD's (an MCP server's channel). SIGTERM
// and SIGHUP are passed on to CMD; Ctrl-C reaches it from the terminal, as
// it reaches us, so SIGINT (and SIGQUIT) are not sent again. When CMD
// ends, the endpoint stops and we exit as CMD did: with its status, or of
// the signal that killed it.
func runServed(h *helper.Helper, c *cli, e execCmd, path string, argv []string) error {
	api, err := e.API.parse()
	if err != nil {
		return err
	}
	if e.Env == envTokenURL || e.Env == envProxyURL {
		return helper.UsageError("--env %s is where exec --serve puts an endpoint's URL; choose another name, such as %s", e.Env, helper.DefaultTokenEnv)
	}
	s, err := h.Token(context.Background()) // a login now follows the CLI's rules
	if err != nil {
		return err
	}
	ep, err := startEndpoint(c, s.Email, api, endpoint.DefaultListen)
	if err != nil {
		return err
	}
	cmd := exec.Command(path)
	cmd.Args = argv
	cmd.Env = childEnv(os.Environ(), map[string]string{
		e.Env:       s.AccessToken,
		envTokenURL: ep.TokenURL(),
		envProxyURL: ep.ProxyURL(),
	})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	signals := make(chan os.Signal, 4)
	// A signal this process was started with ignored (nohup, a script's
	// background job) stays ignored, here and in the command: Notify would
	// undo that.
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGHUP, os.Interrupt, syscall.SIGQUIT} {
		if !signal.Ignored(sig) {
			signal.Notify(signals, sig)
		}
	}
	cmd.SysProcAttr = childProcAttr() // on Linux, the command dies with us
	if err := cmd.Start(); err != nil {
		ep.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return &helper.Error{Code: helper.ExitNotFound, Err: fmt.Errorf("%s: command not found", argv[0])}
		}
		return &helper.Error{Code: helper.ExitCannotRun, Err: fmt.Errorf("%s: cannot run it: %v", argv[0], unwrapExecError(err))}
	}
	ended := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				if sig == syscall.SIGTERM || sig == syscall.SIGHUP {
					cmd.Process.Signal(sig)
				}
			case <-ended:
				return
			}
		}
	}()
	cmd.Wait()
	close(ended)
	ep.Close()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		dieOf(ws.Signal())
	}
	os.Exit(cmd.ProcessState.ExitCode())
	return nil
}

// childEnv is env with set's variables replaced.
func childEnv(env []string, set map[string]string) []string {
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if _, replaced := set[name]; !replaced {
			out = append(out, kv)
		}
	}
	for name, value := range set {
		out = append(out, name+"="+value)
	}
	return out
}

func unwrapExecError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// writePrivateFile replaces path, atomically, with a 0600 file holding
// data: a symbolic link there is replaced, not followed, and the temporary
// file is made beside it.
func writePrivateFile(path string, data []byte) error {
	err := renameio.WriteFile(path, data, 0o600, renameio.WithStaticPermissions(0o600), renameio.WithTempDir(filepath.Dir(path)))
	if err != nil {
		return fmt.Errorf("could not write the URLs to %s: %w", path, unwrapExecError(err))
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
