package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"golang.org/x/term"

	"akiflow-token/helper"
	"akiflow-token/helper/format"
)

// gitCredentialCmd is git's credential helper protocol: git runs
// "akiflow-token git-credential OPERATION" with its request on stdin. It
// writes to stdout only on success (git parses stdout whatever the exit
// status); an unknown operation, a store, or a request for another host
// gets nothing.
type gitCredentialCmd struct {
	Operation string `arg:"" help:"get, store, erase or capability; git runs it, and any other operation is ignored, as git asks."`
}

func (g gitCredentialCmd) Run(c *cli) error {
	switch g.Operation {
	case format.GitCapability:
		_, err := io.WriteString(os.Stdout, format.GitCapabilities)
		return err
	case format.GitGet, format.GitErase, format.GitStore:
		if term.IsTerminal(int(os.Stdin.Fd())) {
			// A person typed it: say what it waits for.
			os.Stderr.WriteString("akiflow-token: reading git's credential request on stdin (key=value lines, then an empty line); git runs this, see \"git help credential\"\n")
		}
	default:
		return nil
	}
	if g.Operation == format.GitStore {
		io.Copy(io.Discard, io.LimitReader(os.Stdin, 1<<20)) // git writes it all; keep its pipe from breaking
		return nil
	}
	req, err := format.ParseGitRequest(os.Stdin)
	if err != nil {
		return err
	}
	h, err := c.helper()
	if err != nil {
		return err
	}
	base := h.BaseURL()
	if !format.IsAkiflowHost(req, base.Scheme, base.Host) {
		if c.Verbose {
			fmt.Fprintf(os.Stderr, "akiflow-token: git asked for %s://%s, which is not Akiflow: no answer\n",
				format.SafeText(req.Protocol), format.SafeText(req.Host))
		}
		return nil
	}
	r := c.request()
	if req.Username != "" && helper.CheckEmail(req.Username) == nil {
		r.Account = req.Username
		if key, _ := h.Account(r); !slices.Contains(h.Accounts(), key) {
			// git's username is the remote URL's, which any repository or
			// submodule may set: it picks among the accounts logged in
			// here, and never has a code mailed to an address it chose.
			r.Prompt, r.NoPrompt = nil, "git's username names an account not logged in here"
		}
	}
	ctx := context.Background()
	if g.Operation == format.GitErase {
		return h.DropAccessToken(ctx, r, req.Rejected())
	}
	s, err := h.Token(ctx, r)
	if err != nil {
		return err
	}
	return format.WriteGitAnswer(os.Stdout, req, c.credential(s, ""))
}
