// Command akiflow-token prints a valid Akiflow access token, for shells,
// scripts, curl, git and kubectl. See README.md.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"akiflow-token/cache"
	"akiflow-token/helper"
	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/endpoint"
)

// cli is the command line: global flags, then one command.
type cli struct {
	Email          string        `short:"e" env:"AKIFLOW_EMAIL" placeholder:"EMAIL" group:"global" help:"Akiflow account (any case). Default: the one logged in last, else the only cached one."`
	Output         string        `short:"o" env:"AKIFLOW_OUTPUT" default:"token" enum:"${formats}" group:"global" help:"Output format: token, header (Authorization: Bearer …), json, curl (a config for curl -K -) or exec-credential (kubectl). status prints text or json."`
	MinTTL         time.Duration `name:"min-ttl" env:"AKIFLOW_MIN_TTL" default:"${default_min_ttl}" group:"global" help:"Refresh first unless the token has at least this long left (or half its issued lifetime, if less)."`
	ForceRefresh   bool          `group:"global" help:"Refresh even if the cached token is good."`
	Timeout        time.Duration `env:"AKIFLOW_TIMEOUT" default:"${default_timeout}" group:"global" help:"Bound on each network request."`
	NonInteractive bool          `env:"AKIFLOW_NON_INTERACTIVE" group:"global" help:"Never prompt for an implicit login: exit 3 when one is needed (login itself always asks)."`
	BaseURL        string        `name:"base-url" env:"AKIFLOW_BASE_URL" default:"${default_base_url}" group:"global" help:"Akiflow auth host."`
	AppVersion     string        `name:"app-version" env:"AKIFLOW_APP_VERSION" default:"${default_app_version}" group:"global" help:"The Akiflow-Version this client claims, for the day Akiflow requires a newer one."`
	Platform       string        `env:"AKIFLOW_PLATFORM" default:"${default_platform}" group:"global" help:"The Akiflow-Platform this client claims."`
	Insecure       bool          `group:"global" help:"DANGEROUS: do not verify the auth host's TLS certificate."`
	Verbose        bool          `short:"v" group:"global" help:"Explain each decision and HTTP exchange on stderr (never a token)."`
	Version        versionFlag   `group:"global" help:"Print the version and exit."`

	Token         tokenCmd         `cmd:"" default:"1" help:"Print a valid access token on stdout (the default)."`
	Login         loginCmd         `cmd:"" help:"Log in now with an emailed code, even if a session exists."`
	Status        statusCmd        `cmd:"" help:"Show the session (never a token); -o json for JSON. Exit 3 if a login is needed."`
	Logout        logoutCmd        `cmd:"" help:"Forget the session on this machine (it is not revoked on the server)."`
	Exec          execCmd          `cmd:"" help:"Run a command with the token in its environment: exec [--env NAME] [--serve] -- CMD [ARGS…]."`
	Serve         serveCmd         `cmd:"" help:"Serve fresh tokens and an Akiflow API proxy on loopback until stopped, for a service manager."`
	GitCredential gitCredentialCmd `cmd:"" name:"git-credential" help:"Git's credential helper: configure git with helper = !akiflow-token git-credential."`
	Completion    completionCmd    `cmd:"" help:"Print the shell completion script for bash, zsh or fish."`
}

const description = `Print a valid Akiflow access token: curl -H "Authorization: Bearer $(akiflow-token)" …

Exit status: 0 success; 1 failure; 3 login needed but no way to ask (no
terminal, or --non-interactive); 4 Akiflow unreachable or failing, try again
later; 80 usage error; 126 or 127 exec's command cannot run or is not found;
130 interrupted.

Sessions are cached in ${cache_dir}.`

func main() {
	os.Exit(run(os.Args[1:]))
}

// programName is the command's name, in help and in shell completion.
const programName = "akiflow-token"

// gitHelperName is the name git gives a credential helper configured as
// "akiflow": run under it, the program is "akiflow-token git-credential".
const gitHelperName = "git-credential-akiflow"

// run parses args, runs the command and returns the exit status. Usage
// errors go to stderr: stdout is for the token alone.
func run(args []string) int {
	if len(args) > 0 && args[0] == helper.RefreshCommand {
		return refreshChild(args[1:])
	}
	if filepath.Base(os.Args[0]) == gitHelperName {
		args = append([]string{"git-credential"}, args...)
	}
	line, completing := completionRequest(args)
	if !completing {
		if status, ok := runFast(args); ok {
			return status
		}
	}
	var c cli
	parser := newParser(&c)
	if completing { // the shell asks for completions (completion.go)
		answerCompletion(os.Stdout, parser, line, os.Getenv("COMP_POINT"))
		return helper.ExitOK
	}
	if err := checkArgs(args, os.LookupEnv); err != nil {
		return exitStatus(err)
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "akiflow-token: %s (see akiflow-token --help)\n", helper.SafeText(err.Error()))
		return helper.ExitUsage
	}
	h, err := newHelper(c.config(args))
	if err == nil {
		err = ctx.Run(h, &c)
	}
	return exitStatus(err)
}

// newHelper makes the Helper for cfg, with its sessions in the XDG cache.
func newHelper(cfg helper.Config) (*helper.Helper, error) {
	host, err := cfg.AuthHost()
	if err != nil {
		return nil, err
	}
	return helper.New(cfg, cache.Open(host, helper.MaxRecordSize))
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
		kong.Name(programName),
		kong.Description(description),
		kong.ExplicitGroups([]kong.Group{{Key: "global", Title: "Global flags:"}}),
		kong.ConfigureHelp(kong.HelpOptions{NoExpandSubcommands: true}),
		kong.Vars{
			"default_base_url":    helper.DefaultBaseURL,
			"default_min_ttl":     helper.DefaultMinTTL.String(),
			"default_timeout":     helper.DefaultTimeout.String(),
			"default_app_version": akiflow.AppVersion,
			"default_platform":    akiflow.Platform,
			"formats":             strings.Join(helper.Formats, ","),
			"default_token_env":   helper.DefaultTokenEnv,
			"default_api_url":     endpoint.DefaultAPIURL,
			"default_listen":      endpoint.DefaultListen,
			"cache_dir":           cache.Root(),
		},
	)
	if err != nil {
		panic(err) // a bug in the cli struct, not user input
	}
	return parser
}

// config is what the command line decides, for the helper; args name where
// each value came from in messages.
func (c *cli) config(args []string) helper.Config {
	cfg := helper.Config{
		BaseURL:      c.BaseURL,
		Email:        c.Email,
		MinTTL:       c.MinTTL,
		ForceRefresh: c.ForceRefresh,
		Timeout:      c.Timeout,
		Output:       c.Output,
		ExecInfo:     execInfo(c.Output),
		Insecure:     c.Insecure,
		Verbose:      c.Verbose,
		AppVersion:   c.AppVersion,
		Platform:     c.Platform,
		Source:       func(flag string) string { return source(flag, args) },
		Stderr:       os.Stderr,
	}
	switch {
	case c.NonInteractive:
		cfg.NonInteractive, cfg.NonInteractiveWhy = true, source("non-interactive", args)
	case gitPromptOff():
		cfg.NonInteractive, cfg.NonInteractiveWhy = true, "GIT_TERMINAL_PROMPT="+os.Getenv("GIT_TERMINAL_PROMPT")
	}
	return cfg
}

// gitPromptOff says GIT_TERMINAL_PROMPT turns prompting off, as git reads
// it: 0, false, no or off.
func gitPromptOff() bool {
	switch strings.ToLower(os.Getenv("GIT_TERMINAL_PROMPT")) {
	case "0", "false", "no", "off":
		return true
	}
	return false
}

// execInfo is kubectl's KUBERNETES_EXEC_INFO, read only when it matters.
func execInfo(output string) string {
	if output != helper.FormatExecCredential {
		return ""
	}
	return os.Getenv("KUBERNETES_EXEC_INFO")
}

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
