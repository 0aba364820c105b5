// Command akiflow-token prints a valid Akiflow access token, for shells,
// scripts, curl, git and kubectl. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"akiflow-token/cache"
	"akiflow-token/helper"
)

// cli is the command line: global flags, then one command.
type cli struct {
	Email          string        `short:"e" env:"AKIFLOW_EMAIL" placeholder:"EMAIL" help:"Akiflow account. Default: the one logged in last, else the only cached one."`
	Output         string        `short:"o" env:"AKIFLOW_OUTPUT" default:"token" enum:"${formats}" help:"Output format: token, header (Authorization: Bearer …), json, curl (a config for curl -K -) or exec-credential (kubectl)."`
	MinTTL         time.Duration `name:"min-ttl" env:"AKIFLOW_MIN_TTL" default:"${default_min_ttl}" help:"Refresh first unless the token has at least this long left."`
	ForceRefresh   bool          `help:"Refresh even if the cached token is good."`
	Timeout        time.Duration `env:"AKIFLOW_TIMEOUT" default:"${default_timeout}" help:"Bound on each network request."`
	NonInteractive bool          `env:"AKIFLOW_NON_INTERACTIVE" help:"Never prompt: exit 3 when a login is needed."`
	BaseURL        string        `name:"base-url" env:"AKIFLOW_BASE_URL" default:"${default_base_url}" help:"Akiflow auth host."`
	Insecure       bool          `help:"DANGEROUS: do not verify the auth host's TLS certificate."`
	Verbose        bool          `short:"v" help:"Explain each decision and HTTP exchange on stderr (never a token)."`
	Version        versionFlag   `help:"Print the version and exit."`

	Token  tokenCmd  `cmd:"" default:"1" help:"Print a valid access token on stdout (the default)."`
	Login  loginCmd  `cmd:"" help:"Log in now with an emailed code, even if a session exists."`
	Status statusCmd `cmd:"" help:"Show the session (never a token); -o json for JSON. Exit 3 if a login is needed."`
	Logout logoutCmd `cmd:"" help:"Forget the session on this machine (it is not revoked on the server)."`
	Exec   execCmd   `cmd:"" help:"Run a command with the token in its environment: exec [--env NAME] -- CMD [ARGS…]."`

	// The git credential helper protocol: git runs "akiflow-token get".
	Get        gitCmd `cmd:"" hidden:""`
	Store      gitCmd `cmd:"" hidden:""`
	Erase      gitCmd `cmd:"" hidden:""`
	Capability gitCmd `cmd:"" hidden:""`
}

const description = `Print a valid Akiflow access token: curl -H "Authorization: Bearer $(akiflow-token)" …

Exit status: 0 success; 1 failure; 3 login needed but no way to ask (no
terminal, or --non-interactive); 4 Akiflow unreachable or failing, try again
later; 80 usage error; 130 interrupted.`

func main() {
	os.Exit(run(os.Args[1:]))
}

// run parses args, runs the command and returns the exit status. Usage
// errors go to stderr: stdout is for the token alone.
func run(args []string) int {
	if len(args) > 0 && args[0] == helper.RefreshCommand {
		return refreshChild(args[1:])
	}
	if status, ok := runFast(args); ok {
		return status
	}
	var c cli
	parser := newParser(&c)
	ctx, err := parser.Parse(args)
	if err != nil {
		if gitOperation(parser, args) {
			return helper.ExitOK // an operation of a future git: git wants it ignored
		}
		fmt.Fprintf(os.Stderr, "akiflow-token: %s (see akiflow-token --help)\n", helper.SafeText(err.Error()))
		return helper.ExitUsage
	}
	h, err := newHelper(c.config())
	if err == nil {
		err = ctx.Run(h, &c)
	}
	return exitStatus(err)
}

// newHelper makes the Helper for cfg, with its sessions in the XDG cache.
func newHelper(cfg helper.Config) (*helper.Helper, error) {
	base, err := helper.ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	return helper.New(cfg, cache.Open(base.Host, helper.MaxRecordSize))
}

// exitStatus reports err, if any, on stderr and returns the exit status.
func exitStatus(err error) int {
	if err != nil {
		fmt.Fprintf(os.Stderr, "akiflow-token: %s\n", helper.SafeText(err.Error()))
	}
	return helper.ExitCode(err)
}

// refreshChild is the detached refresh process (helper/refresher.go). Its
// arguments are ours, so it needs no command-line parser.
func refreshChild(args []string) int {
	cfg, err := helper.ParseRefreshRequest(args)
	if err != nil {
		return exitStatus(err)
	}
	h, err := newHelper(cfg)
	if err == nil {
		err = h.ServeRefresh()
	}
	return exitStatus(err)
}

// newParser makes kong's parser for c.
func newParser(c *cli) *kong.Kong {
	parser, err := kong.New(c,
		kong.Name("akiflow-token"),
		kong.Description(description),
		kong.Vars{
			"default_base_url":  helper.DefaultBaseURL,
			"default_min_ttl":   helper.DefaultMinTTL.String(),
			"default_timeout":   helper.DefaultTimeout.String(),
			"formats":           strings.Join(helper.Formats, ","),
			"default_token_env": helper.DefaultTokenEnv,
		},
	)
	if err != nil {
		panic(err) // a bug in the cli struct, not user input
	}
	return parser
}

func (c *cli) config() helper.Config {
	return helper.Config{
		BaseURL:        c.BaseURL,
		Email:          c.Email,
		MinTTL:         c.MinTTL,
		ForceRefresh:   c.ForceRefresh,
		Timeout:        c.Timeout,
		Output:         c.Output,
		ExecInfo:       execInfo(c.Output),
		NonInteractive: c.NonInteractive || os.Getenv("GIT_TERMINAL_PROMPT") == "0",
		Insecure:       c.Insecure,
		Verbose:        c.Verbose,
		Stderr:         os.Stderr,
	}
}

// execInfo is kubectl's KUBERNETES_EXEC_INFO, read only when it matters.
func execInfo(output string) string {
	if output != helper.FormatExecCredential {
		return ""
	}
	return os.Getenv("KUBERNETES_EXEC_INFO")
}

type tokenCmd struct{}

func (tokenCmd) Run(h *helper.Helper) error {
	s, err := h.Token(context.Background())
	if err != nil {
		return err
	}
	return h.Write(os.Stdout, s)
}

// gitOperation says args are a git credential operation we do not know
// (git runs "akiflow-token OPERATION" with its pipe on stdin): git wants
// those ignored, while a person at a terminal wants a usage error.
func gitOperation(parser *kong.Kong, args []string) bool {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") || term.IsTerminal(int(os.Stdin.Fd())) {
		return false
	}
	for _, cmd := range parser.Model.Children {
		if cmd.Name == args[0] {
			return false // a command of ours, misused
		}
	}
	return true
}

type gitCmd struct{}

func (gitCmd) Run(k *kong.Context, h *helper.Helper) error {
	return h.GitCredential(context.Background(), k.Command(), os.Stdin, os.Stdout)
}

type execCmd struct {
	Env     string   `default:"${default_token_env}" placeholder:"NAME" help:"The environment variable that holds the token (${default})."`
	Command []string `arg:"" passthrough:"" help:"The command and its arguments."`
}

func (e execCmd) Run(h *helper.Helper) error {
	if err := helper.CheckEnvName(e.Env); err != nil {
		return err
	}
	s, err := h.Token(context.Background())
	if err != nil {
		return err
	}
	command := e.Command
	if len(command) > 0 && command[0] == "--" {
		command = command[1:] // kong passes the separator through
	}
	return helper.Exec(s, e.Env, command)
}

type loginCmd struct{}

func (loginCmd) Run(h *helper.Helper) error {
	_, err := h.Login(context.Background())
	return err
}

type statusCmd struct{}

func (statusCmd) Run(h *helper.Helper) error { return h.Status(os.Stdout) }

type logoutCmd struct {
	All bool `help:"Forget every account of this auth host."`
}

func (l logoutCmd) Run(h *helper.Helper) error { return h.Logout(l.All) }

// versionFlag prints the version when set. It reads the build info only
// then, not on every run.
type versionFlag bool

func (versionFlag) BeforeReset(app *kong.Kong) error {
	if _, err := fmt.Fprintln(app.Stdout, "akiflow-token", helper.Version()); err != nil {
		app.Exit(exitStatus(fmt.Errorf("could not write the version: %w", err)))
	}
	app.Exit(0)
	return nil
}
