package helper

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// The unit tests of the login: when Token asks for one, what Login does
// with a session that exists, how the email and the code are asked for.

// With no session at all, a login is the only way: without anyone to ask,
// exit 3 before the lock and without a request.
func TestTokenWithoutSession(t *testing.T) {
	t.Run("no terminal", func(t *testing.T) {
		f := newFlow(t, nil)
		got, err := f.token()
		wantExit(t, "Token", got, err, ExitLoginNeeded, "no terminal to ask")
		if n := f.lockings(); n != 0 || f.opens != 1 {
			t.Errorf("locks %d, terminal openings %d; want 0, 1", n, f.opens)
		}
		f.wantRequests(nil)
		f.wantStderr()
	})
	t.Run("prompting turned off", func(t *testing.T) {
		f := newFlow(t, nil)
		f.withTerminal(f.theCode)
		f.req.Prompt, f.req.NoPrompt = nil, "--non-interactive"
		got, err := f.token()
		wantExit(t, "Token", got, err, ExitLoginNeeded, "prompting is turned off (--non-interactive)")
		if n := f.lockings(); n != 0 || f.opens != 0 {
			t.Errorf("locks %d, terminal openings %d; want 0, 0", n, f.opens)
		}
		f.wantRequests(nil)
		f.wantStderr()
	})
	t.Run("terminal", func(t *testing.T) {
		f := newFlow(t, nil)
		tty := f.withTerminal(f.theCode)
		got, err := f.token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		f.wantRequests(loggedIn)
		if got.Email != flowEmail || got.BaseURL != f.srv.URL || got.ClientID == "" || !got.ExpiresAt.Equal(flowT0.Add(30*time.Minute)) ||
			!got.LoggedInAt.Equal(flowT0) {
			t.Errorf("the login's session: email %q, base URL %q, client id %q, expires %s, logged in at %s",
				got.Email, got.BaseURL, got.ClientID, got.ExpiresAt, got.LoggedInAt)
		}
		wantSession(t, "stored after the login (vs returned)", f.stored(), got)
		if cur := f.current(); cur != flowEmail+"\n" {
			t.Errorf("current record: got %q, want the account's key", cur)
		}
		f.wantStderr("logged in as " + flowEmail)
		if tty.closed() != f.opens {
			t.Errorf("terminal opened %d times, closed %d", f.opens, tty.closed())
		}
	})
	t.Run("no account named, none cached", func(t *testing.T) {
		f := newFlow(t, nil)
		f.req.Account = ""
		tty := f.withTerminal(func() string { return flowEmail }, f.theCode)
		got, err := f.token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		f.wantRequests(loggedIn)
		wantSession(t, "stored after the login (vs returned)", f.stored(), got)
		if want := "Akiflow email: A 6-digit code was sent to " + flowEmail + ".\nCode: "; tty.transcript() != want {
			t.Errorf("terminal transcript: got %q, want %q", tty.transcript(), want)
		}
		f.wantStderr("logged in as " + flowEmail)
	})
}

// Login logs in even when the account has a good session: the new session
// replaces it, keeping its client id, and the account becomes the default.
func TestLoginReplacesTheSession(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(30 * time.Minute)
	f.put(f.sessionOf("bob@example.com", flowT0, time.Hour))
	f.setCurrent("bob@example.com")
	f.markRequests()
	f.withTerminal(f.theCode)
	got, err := f.h.Login(context.Background(), f.req)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	f.wantRequests(loggedIn)
	if got.AccessToken == old.AccessToken || got.RefreshToken == old.RefreshToken || got.ClientID != old.ClientID {
		t.Errorf("the login: new access token %v, new refresh token %v, client id kept %v; want true, true, true",
			got.AccessToken != old.AccessToken, got.RefreshToken != old.RefreshToken, got.ClientID == old.ClientID)
	}
	if got.Generation != old.Generation+1 {
		t.Errorf("generation %d, want %d", got.Generation, old.Generation+1)
	}
	wantSession(t, "stored (vs returned)", f.stored(), got)
	if cur := f.current(); cur != flowEmail+"\n" {
		t.Errorf("current record: got %q, want %q", cur, flowEmail+"\n")
	}
	if n := f.lockings(); n != 2 { // the check that it can be saved, before the code is mailed; the save
		t.Errorf("locks taken: got %d, want 2", n)
	}
	f.wantStderr("logged in as " + flowEmail)
}

// Login without an account asks for the email, offering the default one:
// an empty answer takes it, and what cannot be an email is asked again.
func TestLoginAsksForTheEmail(t *testing.T) {
	f := newFlow(t, nil)
	f.req.Account = ""
	f.setCurrent(flowEmail)
	tty := f.withTerminal(func() string { return "ada" }, func() string { return "" }, f.theCode)
	got, err := f.h.Login(context.Background(), f.req)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if got.Email != flowEmail {
		t.Errorf("logged in to %q, want %q", got.Email, flowEmail)
	}
	want := "Akiflow email [" + flowEmail + "]: \"ada\" is not an email address.\n" +
		"Akiflow email [" + flowEmail + "]: A 6-digit code was sent to " + flowEmail + ".\nCode: "
	if tty.transcript() != want {
		t.Errorf("terminal transcript:\n got %q\nwant %q", tty.transcript(), want)
	}
	f.wantStderr("logged in as " + flowEmail)
}

// Without anyone to ask, Login says so at once: no lock, no request.
func TestLoginWithoutPrompt(t *testing.T) {
	f := newFlow(t, nil)
	f.seed(time.Minute)
	f.req.Prompt, f.req.NoPrompt = nil, "--non-interactive"
	got, err := f.h.Login(context.Background(), f.req)
	wantExit(t, "Login", got, err, ExitLoginNeeded, "--non-interactive")
	if n := f.lockings(); n != 0 {
		t.Errorf("locks taken: %d", n)
	}
	f.wantRequests(nil)
	f.wantStderr()
	if _, err := f.h.Login(context.Background(), Request{Account: "-e", Prompt: f.prompt}); ExitCode(err) != ExitUsage {
		t.Errorf("Login of a bad email: exit %d (%v), want %d", ExitCode(err), err, ExitUsage)
	}
}

// A code of the wrong shape is asked again without a request; a wrong code
// is sent, refused and asked again, three tries in all.
func TestLoginCodeTries(t *testing.T) {
	t.Run("wrong then right", func(t *testing.T) {
		f := newFlow(t, nil)
		tty := f.withTerminal(func() string { return "12345" }, f.wrongCode, f.theCode)
		if _, err := f.h.Login(context.Background(), f.req); err != nil {
			t.Fatalf("Login: %v", err)
		}
		f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteLogin: 1, akiflowtest.RouteCode: 2, akiflowtest.RouteMe: 1})
		out := tty.transcript()
		if strings.Count(out, "Code: ") != 3 || !strings.Contains(out, "The code is 6 digits") || !strings.Contains(out, "Try again.") {
			t.Errorf("terminal transcript: %q", out)
		}
		f.wantStderr("logged in as " + flowEmail)
	})
	t.Run("three wrong codes", func(t *testing.T) {
		f := newFlow(t, nil)
		f.withTerminal(f.wrongCode, f.wrongCode, f.wrongCode)
		got, err := f.h.Login(context.Background(), f.req)
		if got != nil || err == nil || !strings.Contains(err.Error(), "wrong code") {
			t.Errorf("Login: a session %v, %v; want none and the wrong code", got != nil, err)
		}
		if f.storedAs(flowEmail) != nil {
			t.Errorf("a session was saved")
		}
		f.wantRequests(map[string]int{akiflowtest.RouteCSRF: 1, akiflowtest.RouteLogin: 1, akiflowtest.RouteCode: 3})
		f.wantStderr()
	})
}

// wrongCode answers with a code of the right shape that is not the one
// the fake mailed.
func (f *flow) wrongCode() string {
	if f.theCode() == "000000" {
		return "111111"
	}
	return "000000"
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{"123456": "123456", " 123 456 ": "123456", "123-456": "123456"} {
		if got, ok := NormalizeCode(in); !ok || got != want {
			t.Errorf("NormalizeCode(%q) = %q, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12a456", "１２３４５６"} {
		if _, ok := NormalizeCode(bad); ok {
			t.Errorf("NormalizeCode(%q) accepted", bad)
		}
	}
}

// An explicit login does not hold the account's lock while the person
// reads their mail: another call refreshes the session meanwhile; the login
// then saves its own, newer one. A second login of the account meanwhile is
// refused (exit 1), mailing no second code, which would kill the first.
func TestLoginWaitsForTheCodeWithoutTheLock(t *testing.T) {
	f := newFlow(t, nil)
	old := f.seed(time.Minute) // under --min-ttl: the next Token refreshes
	g := &flow{t: t, srv: f.srv, store: f.store, now: f.now, stderr: &syncBuffer{}}
	other, err := New(Config{BaseURL: f.srv.URL, Timeout: 2 * time.Second, Stderr: g.stderr, Now: func() time.Time { return f.now }},
		func(string) Store { return f.store })
	if err != nil {
		t.Fatal(err)
	}
	other.refresher = inProcess
	var refreshed *Session
	f.withTerminal(func() string {
		// The person is reading their mail: other calls go on.
		var err error
		refreshed, err = other.Token(context.Background(), Request{Account: flowEmail, MinTTL: flowMinTTL})
		if err != nil {
			t.Errorf("Token while a login waits for its code: %v", err)
		}
		_, err = other.Login(context.Background(), Request{Account: flowEmail, Prompt: f.prompt})
		if err == nil || ExitCode(err) != ExitFailure || !strings.Contains(err.Error(), "waiting for its code in another terminal") {
			t.Errorf("a second login meanwhile: %v (exit %d), want exit 1 saying a login waits", err, ExitCode(err))
		}
		return f.theCode()
	})
	got, err := f.h.Login(context.Background(), f.req)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if refreshed == nil || refreshed.AccessToken == old.AccessToken {
		t.Errorf("the call during the login did not refresh")
	}
	if n := f.requests()[akiflowtest.RouteLogin]; n != 1 {
		t.Errorf("codes mailed: %d, want 1", n)
	}
	wantSession(t, "stored (vs the login's)", f.stored(), got)
	if f.stored().Generation <= refreshed.Generation {
		t.Errorf("the login's record (generation %d) is not newer than the refresh's (%d)", f.stored().Generation, refreshed.Generation)
	}
}

// A person who never types the code does not hold the login forever.
func TestCodeWaitIsBounded(t *testing.T) {
	never := &blockingTTY{}
	tty := newTerminal(never)
	_, err := askCodeWithin(context.Background(), tty, 10*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no code was typed within 10ms") {
		t.Errorf("askCodeWithin: %v, want the login ended", err)
	}
	never.Close()
}

// blockingTTY is a terminal nobody types on.
type blockingTTY struct {
	once sync.Once
	done chan struct{}
}

func (b *blockingTTY) init() { b.once.Do(func() { b.done = make(chan struct{}) }) }
func (b *blockingTTY) Read(p []byte) (int, error) {
	b.init()
	<-b.done
	return 0, io.EOF
}
func (b *blockingTTY) Write(p []byte) (int, error) { return len(p), nil }
func (b *blockingTTY) Close() error {
	b.init()
	select {
	case <-b.done:
	default:
		close(b.done)
	}
	return nil
}

// With no account at all and nobody to ask, a call says so and leaves
// nothing behind: no lock of a login to look at, no record.
func TestNoAccountNoTerminalLeavesNothing(t *testing.T) {
	f := newFlow(t, nil)
	f.req.Account = ""
	got, err := f.token()
	wantExit(t, "Token", got, err, ExitLoginNeeded, "no terminal to ask")
	if names, _ := f.store.List(); len(names) != 0 || f.lockingsOfAnyName() != 0 {
		t.Errorf("records %q and %d locks after a call that could not log in; want none", names, f.lockingsOfAnyName())
	}
}
