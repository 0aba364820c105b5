package main

import (
	"fmt"
	"os"

	"akiflow-token/helper"
)

// switchCmd makes an account the default one, as the last login does.
type switchCmd struct {
	Account string `arg:"" name:"email" help:"The account to make the default; it must have a session."`
}

func (s switchCmd) Run(c *cli) error {
	h, err := c.helper()
	if err != nil {
		return err
	}
	if err := h.Switch(helper.Request{Account: s.Account}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "the default account is now %s\n", s.Account)
	return nil
}

type logoutCmd struct {
	All bool `help:"Forget every account of this auth host."`
}

// Run forgets the session and says what it did on stderr.
func (l logoutCmd) Run(c *cli) error {
	h, err := c.helper()
	if err != nil {
		return err
	}
	res, err := h.Logout(c.request(), l.All)
	if res.None {
		fmt.Fprintf(os.Stderr, "no session for %s\n", h.Host())
	}
	for _, a := range res.Accounts {
		if a.Forgot {
			fmt.Fprintf(os.Stderr, "logged out %s\n", a.Account)
		} else {
			fmt.Fprintf(os.Stderr, "no session for %s\n", a.Account)
		}
	}
	if res.NewDefault != "" {
		fmt.Fprintf(os.Stderr, "the default account is now %s\n", res.NewDefault)
	}
	return err
}

// storeCmd moves the refresh token between the cache file and the OS
// keyring.
type storeCmd struct {
	To string `arg:"" name:"store" enum:"file,keyring" help:"file (the cache file) or keyring (the OS keyring)."`
}

func (s storeCmd) Run(c *cli) error {
	h, err := c.helper()
	if err != nil {
		return err
	}
	res, err := h.Move(c.request(), s.To)
	if err != nil {
		return err
	}
	if res.Already {
		fmt.Fprintf(os.Stderr, "the refresh token of %s is in the %s already\n", res.Account, storeName(res.To))
	} else {
		fmt.Fprintf(os.Stderr, "moved the refresh token of %s from the %s to the %s\n", res.Account, storeName(res.From), storeName(res.To))
	}
	return nil
}

// storeName is how messages name a store.
func storeName(store string) string {
	if store == helper.StoreFile {
		return "cache file"
	}
	return store
}
