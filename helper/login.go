package helper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"akiflow-token/helper/akiflow"
)

// Login runs the interactive login, even if a session exists, asking on
// req.Prompt; req.Account "" asks for the email, offering the default
// account.
func (h *Helper) Login(ctx context.Context, req Request) (*Session, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	c := h.newCall(req)
	if err := c.canAsk(); err != nil {
		return nil, err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	if req.Account == "" {
		email, err := c.askEmail(ctx)
		if err != nil {
			return nil, err
		}
		c.req.Account = email
	}
	key := accountKey(c.req.Account)
	lock, err := c.lock(ctx, key, h.lockWait())
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	s, err := c.load(key)
	if err != nil {
		return nil, err
	}
	return c.login(ctx, key, s)
}

// login asks the person for the emailed code and saves the new session,
// under the account's key; prev, if any, gives the account's client id.
// Akiflow is sent the email as the person typed it.
func (c *call) login(ctx context.Context, key string, prev *Session) (*Session, error) {
	tty, err := c.terminal()
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	typed := c.shown(key)
	// The record is prepared before a code is mailed: a login whose
	// session could not be saved would be asked for in vain.
	p, err := c.h.store.Prepare(key)
	if err != nil {
		return nil, err
	}
	defer p.Discard()
	client := c.h.newClient()
	codeURL, err := client.StartLogin(ctx, typed)
	if err != nil {
		return nil, err
	}
	tty.printf("A 6-digit code was sent to %s.", typed)
	if err := confirmCode(ctx, tty, client, typed, codeURL); err != nil {
		return nil, err
	}
	tokens, err := client.Me(context.WithoutCancel(ctx)) // the code is accepted: finish, Ctrl-C or not
	if err != nil {
		return nil, err
	}
	s := &Session{Format: sessionFormat, Email: key, BaseURL: c.h.base.String(), ClientID: newClientID(),
		LoggedInAt: c.now().UTC().Truncate(time.Second)}
	if prev != nil && prev.ClientID != "" {
		s.ClientID = prev.ClientID
	}
	if prev != nil {
		s.Generation = prev.Generation + 1
	}
	s.apply(tokens)
	data, err := c.h.encode(s)
	if err == nil {
		err = p.Commit(data)
	}
	if err != nil {
		return nil, err
	}
	if err := c.h.setCurrent(key); err != nil {
		c.warnf("%v", err)
	}
	c.noticef("logged in as %s", typed)
	return s, nil
}

// confirmCode asks for the mailed code until Akiflow accepts one: three
// tries, and a new code when the signed code URL has expired.
func confirmCode(ctx context.Context, tty *terminal, c *akiflow.Client, email, codeURL string) error {
	for tries := 1; ; tries++ {
		code, err := tty.askCode(ctx)
		if err != nil {
			return err
		}
		err = c.SubmitCode(ctx, codeURL, email, code)
		var wrong *akiflow.WrongCodeError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &wrong) && tries < 3:
			tty.printf("%s Try again.", wrong.Message)
		case errors.Is(err, akiflow.ErrCodeExpired):
			answer, err := tty.ask(ctx, "The code has expired. Send a new one? [Y/n] ")
			if err != nil {
				return err
			}
			if a := strings.ToLower(answer); a != "" && a != "y" && a != "yes" {
				return errors.New("login cancelled")
			}
			if codeURL, err = c.StartLogin(ctx, email); err != nil {
				return err
			}
			tty.printf("A new code was sent to %s.", email)
			tries = 0
		default:
			return err
		}
	}
}

// canAsk says why nobody can be asked for a login, if so.
func (c *call) canAsk() error {
	if c.req.Prompt == nil {
		return loginNeeded(fmt.Sprintf("a login is needed but prompting is turned off (%s)", orDefault(c.req.NoPrompt, "--non-interactive")))
	}
	return nil
}

// terminal opens the terminal to ask on, or says why nobody can be asked.
func (c *call) terminal() (*terminal, error) {
	if err := c.canAsk(); err != nil {
		return nil, err
	}
	f, err := c.req.Prompt()
	if err != nil {
		return nil, loginNeeded("a login is needed but there is no terminal to ask for the code")
	}
	return newTerminal(f), nil
}

// askEmail asks which account to log in to, offering the default one.
func (c *call) askEmail(ctx context.Context) (string, error) {
	tty, err := c.terminal()
	if err != nil {
		return "", err
	}
	defer tty.Close()
	last, _ := c.h.account(Request{})
	for {
		prompt := "Akiflow email: "
		if last != "" {
			prompt = fmt.Sprintf("Akiflow email [%s]: ", last)
		}
		email, err := tty.ask(ctx, prompt)
		if err != nil {
			return "", err
		}
		if email == "" {
			email = last
		}
		if err := CheckEmail(email); err != nil {
			tty.printf("%v.", err)
			continue
		}
		return email, nil
	}
}
