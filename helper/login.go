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
// account. It does not hold the account's lock while the person reads
// their mail: other calls go on using and refreshing the current session
// meanwhile. Only one login of an account waits for its code at a time:
// another would mail a new code, which kills the first one's.
func (h *Helper) Login(ctx context.Context, req Request) (*Session, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	c := h.newCall(req)
	if err := c.canAsk(accountKey(req.Account)); err != nil {
		return nil, err
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	if req.Account == "" && !h.cfg.OAuth { // an OAuth sign-in names its account
		email, err := c.askEmail(ctx)
		if err != nil {
			return nil, err
		}
		c.req.Account = email
	}
	key := accountKey(c.req.Account)
	busy, cancel := context.WithTimeout(ctx, tryWait)
	waiting, err := h.store.Lock(busy, c.loginLockOf(key))
	cancel()
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(busy.Err(), context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded):
		why := "a second login would mail a new code, which kills the first"
		if c.h.cfg.OAuth {
			why = "one sign-in at a time"
		}
		return nil, fmt.Errorf("%s: finish it there, or cancel it and run this again (%s)", c.pendingLogin(key), why)
	case err != nil:
		return nil, interruptedOr(err)
	}
	defer waiting.Close()
	tty, err := c.terminal(key)
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	return c.login(ctx, key, tty)
}

// implicitLogin is Token's login, when there is no session or Akiflow
// rejected it. Several calls needing one at once (terminals, kubectl and
// git at the same time) mail one code: the others wait for that login,
// bounded as the code's prompt is, and use its session.
func (c *call) implicitLogin(ctx context.Context, key string) (*Session, error) {
	tty, err := c.terminalFor(key)
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	waiting, err := c.wait(ctx, c.loginLockOf(key), key, codeWait+c.h.lockWait())
	if err != nil {
		return nil, err
	}
	defer waiting.Close()
	saved := key
	if saved == "" { // an OAuth login of no named account: whoever signed in meanwhile
		saved = c.h.currentAccount()
	}
	if s, err := c.load(saved); err != nil || s.validFor(c.now(), 0) {
		return s, err // a login elsewhere saved it meanwhile
	}
	return c.login(ctx, key, tty)
}

// terminalFor opens the terminal to log in to key on, or says why nobody
// can be asked: in words that say so when a login is waiting for its code
// elsewhere.
func (c *call) terminalFor(key string) (*terminal, error) {
	tty, err := c.terminal(key)
	if err == nil || c.req.Prompt == nil || key == "" {
		return tty, err // no account chosen: no login of it can be waiting
	}
	busy, cancel := context.WithTimeout(context.Background(), tryWait)
	defer cancel()
	waiting, lerr := c.h.store.Lock(busy, c.loginLockOf(key))
	if lerr == nil {
		waiting.Close()
	}
	if !errors.Is(lerr, context.DeadlineExceeded) {
		return nil, err // free, or not to be had at all: nobody is waiting
	}
	return nil, withCode(ExitLoginNeeded, "%s; run this again once it is done", c.pendingLogin(key))
}

// pendingLogin names a login of key that waits in another terminal, in its
// kind's words: an emailed code, or a browser's sign-in (which may name no
// account yet).
func (c *call) pendingLogin(key string) string {
	who := c.shown(key)
	if who == "" {
		who = c.h.Host()
	}
	if c.h.cfg.OAuth {
		return fmt.Sprintf("a sign-in to %s is waiting for its browser in another terminal", who)
	}
	return fmt.Sprintf("a login to %s is waiting for its code in another terminal", who)
}

// loginLock names the lock a login holds while it waits for its code:
// with a slash, which no account's email has.
func loginLock(key string) string { return key + "/login" }

// tryWait is how long a look at a lock that may be held waits.
const tryWait = 50 * time.Millisecond

// codeWait bounds the wait for the person to type the code, and so the
// wait for another terminal's login.
const codeWait = 10 * time.Minute

// interruptedOr is err, as an interruption when it is one.
func interruptedOr(err error) error {
	if errors.Is(err, context.Canceled) {
		return ErrInterrupted
	}
	return err
}

// login asks the person for the emailed code, then saves the new session
// under the account's lock (not held meanwhile). Akiflow is sent the email
// as the person typed it.
func (c *call) login(ctx context.Context, key string, tty *terminal) (*Session, error) {
	if c.h.cfg.OAuth {
		return c.oauthLogin(ctx, key, tty)
	}
	typed := c.shown(key)
	// A login whose session could not be saved would be asked for in
	// vain: checked before a code is mailed.
	vault, err := c.preflight(ctx, key)
	if err != nil {
		return nil, err
	}
	client := c.h.newClient()
	codeURL, err := client.StartLogin(ctx, typed)
	if err != nil {
		return nil, err
	}
	tty.printf("A 6-digit code was sent to %s.", typed)
	if err := confirmCode(ctx, tty, client, typed, codeURL); err != nil {
		return nil, err
	}
	// The code is accepted: finish, Ctrl-C or not, and wait for the lock
	// as long as a login may wait: a login done is not thrown away.
	ctx = context.WithoutCancel(ctx)
	tokens, err := client.Me(ctx)
	if err != nil {
		return nil, err
	}
	return c.saveLogin(ctx, key, vault, tokens, nil)
}

// saveLogin saves a login's tokens as key's session, its refresh token
// in vault, under the account's lock (waited for as long as a login may
// wait: a login done is not thrown away), and makes key the default.
// oauth, if not nil, adds an OAuth session's fields.
func (c *call) saveLogin(ctx context.Context, key, vault string, tokens *akiflow.Tokens, oauth func(*Session)) (*Session, error) {
	lock, err := c.lock(ctx, key, codeWait)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	prev, err := c.load(key)
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
	s.RefreshIn = vault
	s.apply(tokens)
	if oauth != nil {
		oauth(s)
	}
	p, err := c.h.store.Prepare(key)
	if err == nil {
		defer p.Discard()
		if changed, serr := c.sole(p, key, prev); serr != nil || changed {
			err = orChanged(serr)
		} else {
			err = c.commit(p, s)
		}
	}
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.RefreshIn != "" && prev.RefreshIn != s.RefreshIn {
		c.leaveVault(prev) // the old session's token: no copy left behind
	}
	if err := c.h.setCurrent(key); err != nil {
		c.warnf("%v", err)
	}
	c.noticef("logged in as %s", c.shown(key))
	return s, nil
}

// loginVault is the vault a login of key puts the refresh token in ("" for
// the record): the request's store, else the one the account's session
// uses, else Config.NewStore. A vault must answer before a code is mailed.
func (c *call) loginVault(key string, before *Session) (string, error) {
	name := c.req.Store
	if name == "" && before.hasTokens() {
		name = before.RefreshIn
	} else if name == "" {
		name = c.h.cfg.NewStore
	}
	if name == "" || name == StoreFile {
		return "", nil
	}
	v, err := c.h.vault(name)
	if err == nil {
		host, store := c.vaultKey()
		_, err = v.Get(host, store, key)
	}
	return name, err
}

// leaveVault removes s's refresh token from its vault, where a session
// that moved away left it; a failure is a warning: the session is saved.
func (c *call) leaveVault(s *Session) {
	v, err := c.h.vault(s.RefreshIn)
	if err == nil {
		host, store := c.vaultKey()
		err = v.Delete(host, store, s.Email)
	}
	if err != nil {
		c.warnf("the old refresh token of %s is left where it was: %v", c.shown(s.Email), err)
	}
}

// confirmCode asks for the mailed code until Akiflow accepts one: three
// tries, and a new code when the signed code URL has expired.
func confirmCode(ctx context.Context, tty *terminal, c *akiflow.Client, email, codeURL string) error {
	for tries := 1; ; tries++ {
		code, err := askCodeWithin(ctx, tty, codeWait)
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

// askCodeWithin asks for the code, for at most wait.
func askCodeWithin(ctx context.Context, tty *terminal, wait time.Duration) (string, error) {
	codeCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	code, err := tty.askCode(codeCtx)
	if err != nil && ctx.Err() == nil && errors.Is(codeCtx.Err(), context.DeadlineExceeded) {
		return "", fmt.Errorf("no code was typed within %s: the login ended; run it again for a new code", wait)
	}
	return code, err
}

// canAsk says why nobody can be asked for a login to key ("" when no
// account is chosen yet), if so.
func (c *call) canAsk(key string) error {
	if c.req.Prompt == nil {
		return c.h.loginNeeded(fmt.Sprintf("a login is needed but prompting is turned off (%s)", orDefault(c.req.NoPrompt, "--non-interactive")), c.named(key))
	}
	return nil
}

// terminal opens the terminal to ask on for key, or says why nobody can
// be asked.
func (c *call) terminal(key string) (*terminal, error) {
	if err := c.canAsk(key); err != nil {
		return nil, err
	}
	f, err := c.req.Prompt()
	if err != nil {
		what := "a login is needed but there is no terminal to ask for the code"
		if c.h.cfg.OAuth {
			what = "a sign-in is needed but there is no terminal to show its address on"
		}
		return nil, c.h.loginNeeded(what, c.named(key))
	}
	return newTerminal(f), nil
}

// named is how a message names key: as typed, or "" for none.
func (c *call) named(key string) string {
	if key == "" {
		return ""
	}
	return c.shown(key)
}

// askEmail asks which account to log in to, offering the default one.
func (c *call) askEmail(ctx context.Context) (string, error) {
	tty, err := c.terminal("")
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
