package main

import (
	"context"
	"os"

	"akiflow-token/helper/run"
)

type execCmd struct {
	Env     string   `default:"${default_token_env}" placeholder:"NAME" help:"The environment variable that holds the token (${default})."`
	Serve   bool     `help:"Run the command as a child, with a local endpoint alive while it runs: fresh tokens at $AKIFLOW_TOKEN_URL, the Akiflow API with a fresh token at $AKIFLOW_PROXY_URL."`
	API     apiFlag  `embed:""`
	Command []string `arg:"" passthrough:"" help:"The command and its arguments."`
}

// Run replaces this process with the command, the token in its
// environment (package run); with --serve, runServed.
func (e execCmd) Run(c *cli) error {
	if err := run.CheckEnvName(e.Env); err != nil {
		return err
	}
	argv := e.Command
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:] // kong passes the separator through
	}
	path, err := run.LookCommand(argv) // before a login: it could not run anyway
	if err != nil {
		return err
	}
	if e.Serve {
		return runServed(c, e, path, argv)
	}
	h, err := c.helper()
	if err != nil {
		return err
	}
	s, err := h.Token(context.Background(), c.request())
	if err != nil {
		return err
	}
	return run.Exec(path, argv, run.Env(os.Environ(), map[string]string{e.Env: s.AccessToken}))
}
