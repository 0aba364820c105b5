package main

import (
	"context"

	"github.com/alecthomas/kong"

	"akiflow-token/helper"
)

type loginCmd struct {
	NoBrowser bool `name:"no-browser" help:"OAuth: print the sign-in address only; open no browser."`
	Port      int  `placeholder:"PORT" help:"OAuth: the loopback port the browser comes back to (for an SSH port forward). Default: a free one."`
}

// Run asks, since a login is an explicit request to: --non-interactive
// makes no sense here, and the variables that turn prompting off
// (AKIFLOW_NON_INTERACTIVE, GIT_TERMINAL_PROMPT) govern only the implicit
// login of the commands that print a token.
func (l loginCmd) Run(k *kong.Context, c *cli) error {
	for _, el := range k.Path {
		if el.Flag != nil && el.Flag.Name == "non-interactive" {
			return helper.UsageError("login always asks for the emailed code: --non-interactive does not apply to it")
		}
	}
	h, err := c.helper()
	if err != nil {
		return err
	}
	if (l.NoBrowser || l.Port != 0) && !c.OAuth && c.Auth != "oauth" {
		return helper.UsageError("--no-browser and --port are for the browser sign-in: add --oauth")
	}
	if l.Port < 0 || l.Port > 65535 {
		return helper.UsageError("--port %d: a port is 1 to 65535 (0: a free one)", l.Port)
	}
	req := c.request()
	req.Prompt = helper.OpenTerminal
	req.Port = l.Port
	if l.NoBrowser {
		req.Browser = nil
	}
	_, err = h.Login(context.Background(), req)
	return err
}
