package main

import (
	"context"
	"os"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"akiflow-token/helper"
)

// The commands: each a struct whose Run kong calls with the Helper.

type tokenCmd struct{}

func (tokenCmd) Run(h *helper.Helper) error {
	s, err := h.Token(context.Background())
	if err != nil {
		return err
	}
	return h.Write(os.Stdout, s)
}

type loginCmd struct{}

// Run asks, since a login is an explicit request to: --non-interactive
// makes no sense here, and the variables that turn prompting off
// (AKIFLOW_NON_INTERACTIVE, GIT_TERMINAL_PROMPT) govern only the implicit
// login of the commands that print a token.
func (loginCmd) Run(k *kong.Context, h *helper.Helper) error {
	for _, el := range k.Path {
		if el.Flag != nil && el.Flag.Name == "non-interactive" {
			return helper.UsageError("login always asks for the emailed code: --non-interactive does not apply to it")
		}
	}
	_, err := h.Login(context.Background())
	return err
}

type statusCmd struct{}

func (statusCmd) Run(h *helper.Helper, c *cli) error {
	switch c.Output {
	case helper.FormatToken, helper.FormatJSON: // the default (text), or json
	default:
		return helper.UsageError("status prints text or json, not %s (%s)", c.Output, source("output", os.Args[1:]))
	}
	return h.Status(os.Stdout)
}

type logoutCmd struct {
	All bool `help:"Forget every account of this auth host."`
}

func (l logoutCmd) Run(h *helper.Helper) error { return h.Logout(l.All) }

type execCmd struct {
	Env     string   `default:"${default_token_env}" placeholder:"NAME" help:"The environment variable that holds the token (${default})."`
	Serve   bool     `help:"Run the command as a child, with a local endpoint alive while it runs: fresh tokens at $AKIFLOW_TOKEN_URL, the Akiflow API with a fresh token at $AKIFLOW_PROXY_URL."`
	API     apiFlag  `embed:""`
	Command []string `arg:"" passthrough:"" help:"The command and its arguments."`
}

func (e execCmd) Run(h *helper.Helper, c *cli) error {
	if err := helper.CheckEnvName(e.Env); err != nil {
		return err
	}
	argv := e.Command
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:] // kong passes the separator through
	}
	path, err := helper.LookCommand(argv) // before a login: it could not run anyway
	if err != nil {
		return err
	}
	if e.Serve {
		return runServed(h, c, e, path, argv)
	}
	s, err := h.Token(context.Background())
	if err != nil {
		return err
	}
	return helper.Exec(s, e.Env, path, argv)
}

// gitCredentialCmd is git's credential helper protocol: git runs
// "akiflow-token git-credential OPERATION" with its request on stdin.
type gitCredentialCmd struct {
	Operation string `arg:"" help:"get, store, erase or capability; git runs it, and any other operation is ignored, as git asks."`
}

func (g gitCredentialCmd) Run(h *helper.Helper) error { return gitCredential(h, g.Operation) }

func gitCredential(h *helper.Helper, op string) error {
	if term.IsTerminal(int(os.Stdin.Fd())) && (op == helper.GitGet || op == helper.GitErase || op == helper.GitStore) {
		// A person typed it: say what it waits for.
		os.Stderr.WriteString("akiflow-token: reading git's credential request on stdin (key=value lines, then an empty line); git runs this, see \"git help credential\"\n")
	}
	return h.GitCredential(context.Background(), op, os.Stdin, os.Stdout)
}
