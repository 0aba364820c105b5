package main

import (
	"context"

	"github.com/alecthomas/kong"

	"akiflow-token/helper"
)

type loginCmd struct{}

// Run asks, since a login is an explicit request to: --non-interactive
// makes no sense here, and the variables that turn prompting off
// (AKIFLOW_NON_INTERACTIVE, GIT_TERMINAL_PROMPT) govern only the implicit
// login of the commands that print a token.
func (loginCmd) Run(k *kong.Context, c *cli) error {
	for _, el := range k.Path {
		if el.Flag != nil && el.Flag.Name == "non-interactive" {
			return helper.UsageError("login always asks for the emailed code: --non-interactive does not apply to it")
		}
	}
	h, err := c.helper()
	if err != nil {
		return err
	}
	req := c.request()
	req.Prompt = helper.OpenTerminal
	_, err = h.Login(context.Background(), req)
	return err
}
