// Command akiflow-token prints a valid Akiflow access token, for shells,
// scripts, curl, git and kubectl. See README.md.
package main

import (
	"errors"
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
	"akiflow-token/helper/format"
	"akiflow-token/helper/refresh"
	"akiflow-token/helper/run"
	"akiflow-token/keyring"
)

// cli is the command line: global flags, then one command. It is the one
// description of every flag, variable, default and enum: the fast path's
// table (fastflags.go) is generated from it.
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
	Store          string        `env:"AKIFLOW_STORE" enum:",file,keyring" default:"" placeholder:"file|keyring" group:"global" help:"Where a login keeps the refresh token: file (the cache file) or keyring (the OS keyring). The variable sets it for new sessions only; the flag also for a new login of an account. Default: the account's, else file."`
	OAuth          bool          `name:"oauth" group:"global" help:"Use Akiflow's official sign-in (OAuth, in a browser) and its sessions, kept apart from the email-code ones: --auth oauth."`
	Auth           string        `env:"AKIFLOW_AUTH" enum:"code,oauth" default:"code" placeholder:"code|oauth" group:"global" help:"Which sessions to use: code (the emailed code's) or oauth (the browser sign-in's)."`
	MCPURL         string        `name:"mcp-url" env:"AKIFLOW_MCP_URL" default:"${default_mcp_url}" group:"global" help:"OAuth: the Akiflow MCP server whose metadata name the sign-in's endpoints."`
	Verbose        bool          `short:"v" group:"global" help:"Explain each decision and HTTP exchange on stderr (never a token)."`
	Version        versionFlag   `group:"global" help:"Print the version and exit."`

	Token         tokenCmd         `cmd:"" default:"1" help:"Print a valid access token on stdout (the default)."`
	Login         loginCmd         `cmd:"" help:"Log in now with an emailed code (--oauth: in a browser), even if a session exists."`
	Status        statusCmd        `cmd:"" help:"Show the session (never a token); -o json for JSON. Exit 3 if a login is needed."`
	Switch        switchCmd        `cmd:"" help:"Make EMAIL, which must have a session, the default account."`
	Logout        logoutCmd        `cmd:"" help:"Forget the session on this machine (an email-code session is not revoked on the server; an OAuth one is, where the server offers it)."`
	Exec          execCmd          `cmd:"" help:"Run a command with the token in its environment: exec [--env NAME] [--serve] -- CMD [ARGS…]."`
	Serve         serveCmd         `cmd:"" help:"Serve fresh tokens and an Akiflow API proxy on loopback until stopped, for a service manager."`
	GitCredential gitCredentialCmd `cmd:"" name:"git-credential" help:"Git's credential helper: configure git with helper = !akiflow-token git-credential."`
	MoveStore     storeCmd         `cmd:"" name:"store" help:"Move the refresh token to the cache file or the OS keyring: store file|keyring."`
	Completion    completionCmd    `cmd:"" help:"Print the shell completion script for bash, zsh or fish."`
}

const description = `Print a valid Akiflow access token: curl -H "Authorization: Bearer $(akiflow-token)" …

Exit status: 0 success; 1 failure; 3 login needed but no way to ask (no
terminal, or --non-interactive); 4 Akiflow unreachable or failing, try again
later; 80 usage error; 126 or 127 exec's command cannot run or is not found;
130 interrupted.

Sessions are cached in ${cache_dir}.`

// programName is the command's name, in help and in shell completion.
const programName = "akiflow-token"

// gitHelperName is the name git gives a credential helper configured as
// "akiflow": run under it, the program is "akiflow-token git-credential".
const gitHelperName = "git-credential-akiflow"

func main() {
	if generate != nil {
		os.Exit(exit(generate()))
	}
	os.Exit(exit(execute(os.Args[1:])))
}

// generate, set in a build with the genflags tag (gen.go), writes
// fastflags.go instead of running.
var generate func() error

// execute parses args and runs the command. Usage errors go to stderr:
// stdout is for the token alone.
func execute(args []string) error {
	if len(args) > 0 && args[0] == refresh.Command {
		if len(args) > 1 {
			return helper.UsageError("%s is run by akiflow-token itself", refresh.Command)
		}
		return exitCode(helper.RefreshChild(openStore, vaults))
	}
	if filepath.Base(os.Args[0]) == gitHelperName {
		args = append([]string{"git-credential"}, args...)
	}
	if len(args) > 0 && args[0] == completeCommand { // the shell asks (cmd_completion.go)
		var c cli
		answerCompletion(os.Stdout, newParser(&c), os.Getenv("COMP_LINE"), os.Getenv("COMP_POINT"))
		return nil
	}
	if err, ok := runFast(args); ok {
		return err
	}
	var c cli
	parser := newParser(&c)
	if err := checkArgs(args, os.LookupEnv); err != nil {
		return err
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		return helper.UsageError("%s; for help, run: akiflow-token --help", err)
	}
	return ctx.Run(&c)
}

// exit reports err, if any, on stderr and returns the exit status. A
// value's error names where the value came from (source). A command that
// exec --serve ran and that died of a signal is died of again.
func exit(err error) int {
	var ended *run.ExitError
	var code exitCode
	var fe *helper.FieldError
	switch {
	case errors.As(err, &ended):
		run.Reraise(ended.Status.Signal)
		return ended.Status.Code
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &fe):
		fmt.Fprintf(os.Stderr, "akiflow-token: %s\n", format.SafeText(fe.Named(source(fe.Field))))
	case err != nil:
		// One line per failure: logout --all joins one per account.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(os.Stderr, "akiflow-token: %s\n", format.SafeText(line))
		}
	}
	return helper.ExitCode(err)
}

// exitCode is an exit status that was reported already.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// helper makes the Helper the flags describe, with its sessions in the XDG
// cache.
func (c *cli) helper() (*helper.Helper, error) {
	if c.OAuth && c.Auth == "code" && flagGiven("auth") {
		return nil, helper.UsageError("--oauth and --auth code ask for different sessions: give one")
	}
	return helper.New(helper.Config{
		BaseURL:      c.BaseURL,
		Timeout:      c.Timeout,
		Insecure:     c.Insecure,
		Verbose:      c.Verbose,
		AppVersion:   c.AppVersion,
		Platform:     c.Platform,
		Vault:        vaults,
		NewStore:     c.Store,
		OAuth:        c.OAuth || c.Auth == "oauth",
		MCPURL:       c.MCPURL,
		CommandFlags: c.commandFlags(),
	}, openStore)
}

// commandFlags are the flags given on the command line that a suggested
// login must repeat: where the session is, and how to reach it.
func (c *cli) commandFlags() []string {
	var out []string
	for _, f := range []struct{ name, value string }{{"base-url", c.BaseURL}, {"mcp-url", c.MCPURL}, {"store", c.Store}} {
		if flagGiven(f.name) && f.value != "" {
			out = append(out, "--"+f.name, format.ShellWord(f.value))
		}
	}
	if c.Insecure {
		out = append(out, "--insecure")
	}
	return out
}

// vaults are the homes of refresh tokens apart from the cache files that
// this build knows, by the name a record gives.
func vaults(name string) helper.Vault {
	if name == keyring.Name {
		return keyring.Open()
	}
	return nil
}

// request is what the flags ask of the flow. Prompting is off when
// --non-interactive (or its variable) or GIT_TERMINAL_PROMPT says so.
func (c *cli) request() helper.Request {
	req := helper.Request{Account: c.Email, MinTTL: c.MinTTL, Force: c.ForceRefresh, Prompt: helper.OpenTerminal,
		Browser: helper.OpenBrowser}
	if c.Store != "" && flagGiven("store") {
		req.Store = c.Store // the flag: this login's; the variable: new sessions'
	}
	switch {
	case c.NonInteractive:
		req.Prompt, req.NoPrompt = nil, source("non-interactive")
	case gitPromptOff():
		req.Prompt, req.NoPrompt = nil, "GIT_TERMINAL_PROMPT="+os.Getenv("GIT_TERMINAL_PROMPT")
	}
	return req
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

// openStore opens the cache of an auth host.
func openStore(host string) helper.Store { return cache.Open(host, helper.MaxRecordSize) }

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
			"default_mcp_url":     akiflow.DefaultMCPURL,
			"formats":             strings.Join(format.Names, ","),
			"default_token_env":   run.DefaultTokenEnv,
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

// versionFlag prints the version when set. It reads the build info only
// then, not on every run.
type versionFlag bool

func (versionFlag) BeforeReset(app *kong.Kong) error {
	if _, err := fmt.Fprintln(app.Stdout, "akiflow-token", helper.Version()); err != nil {
		app.Exit(exit(fmt.Errorf("could not write the version: %w", err)))
	}
	app.Exit(0)
	return nil
}
