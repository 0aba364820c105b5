package helper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"akiflow-token/helper/akiflow"
)

// Login runs the interactive login even if a session exists.
func (h *Helper) Login(ctx context.Context) (*Session, error) {
	// An explicit request to log in asks whenever there is a terminal,
	// whatever turned prompting off for the implicit logins of the
	// commands that print a token.
	h.cfg.NonInteractive = false
	ctx, stop := interruptible(ctx)
	defer stop()
	email, err := h.account()
	if err != nil {
		return nil, err
	}
	if h.cfg.Email == "" {
		// "login" without --email asks, offering the last account.
		if email, err = h.askEmail(ctx); err != nil {
			return nil, err
		}
	}
	lock, err := h.lock(ctx, email)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	s, err := h.load(email)
	if err != nil {
		return nil, err
	}
	return h.login(ctx, email, s)
}

// login asks the person for the emailed code and saves the new session.
// prev, if any, gives the account's client id. email may be in any case:
// Akiflow is sent it (or --email) as the person typed it, and the session
// is saved under its key (accountKey).
func (h *Helper) login(ctx context.Context, email string, prev *Session) (*Session, error) {
	tty, err := h.terminal()
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	key, typed := accountKey(email), h.shown(email)
	var s *Session
	// The record is prepared before a code is mailed: a login whose
	// session could not be saved would be asked for in vain.
	err = h.store.Replace(key, func() ([]byte, error) {
		c := h.httpClient()
		codeURL, err := c.StartLogin(ctx, typed)
		if err != nil {
			return nil, err
		}
		tty.printf("A 6-digit code was sent to %s.", typed)
		if err := confirmCode(ctx, tty, c, typed, codeURL); err != nil {
			return nil, err
		}
		tokens, err := c.Me(context.WithoutCancel(ctx)) // the code is accepted: finish, Ctrl-C or not
		if err != nil {
			return nil, err
		}
		s = &Session{Format: sessionFormat, Email: key, BaseURL: h.base.String(), ClientID: newClientID(),
			LoggedInAt: h.now().UTC().Truncate(time.Second)}
		if prev != nil && prev.ClientID != "" {
			s.ClientID = prev.ClientID
		}
		if prev != nil {
			s.Generation = prev.Generation + 1
		}
		s.apply(tokens)
		return s.marshal(), nil
	})
	if err != nil {
		return nil, err
	}
	if err := h.store.Replace(currentRecord, func() ([]byte, error) { return []byte(key + "\n"), nil }); err != nil {
		h.warnf("%v", err)
	}
	fmt.Fprintf(h.cfg.Stderr, "logged in as %s\n", typed)
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

// terminal opens the terminal to ask on, or says why nobody can be asked.
func (h *Helper) terminal() (*terminal, error) {
	if h.cfg.NonInteractive {
		return nil, loginNeeded(fmt.Sprintf("a login is needed but prompting is turned off (%s)", orDefault(h.cfg.NonInteractiveWhy, "--non-interactive")))
	}
	tty, err := h.openTerminal()
	if err != nil {
		return nil, loginNeeded("a login is needed but there is no terminal to ask for the code")
	}
	return tty, nil
}

// askEmail asks which account to log in to, offering the last one.
func (h *Helper) askEmail(ctx context.Context) (string, error) {
	tty, err := h.terminal()
	if err != nil {
		return "", err
	}
	defer tty.Close()
	last, _ := h.account()
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
