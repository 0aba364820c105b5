//go:build unix

// End-to-end tests of getting a token: the login at a terminal, the cache
// hit, the refresh (in the detached refresh process) and what a failing
// Akiflow does to it, and who is asked for a code when nobody can be.
// Whether a token is cached, refreshed or needs a login, on a fake clock,
// is helper/flow_test.go's; how each failure of Akiflow is classified is
// helper/akiflow's client_test.go.
package main_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"akiflow-token/helper/akiflow/akiflowtest"
)

func TestFirstLoginThenCacheHit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	before := w.counts()
	r := w.start("-e", alice)
	r.expect("A 6-digit code was sent to " + alice)
	r.expect("Code: ")
	r.typeLine(w.srv.Code(alice))
	res := r.wait()
	check(t, "connections for the login's 4 exchanges", w.srv.Connections(), 1)
	token := w.tokenOf(res)
	if !strings.Contains(res.stderr, "logged in as "+alice) {
		t.Errorf("the terminal does not say who logged in:\n%s", redact(res.stderr))
	}
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "login": 1, "code": 1, "user/me": 1})

	// The cache folder is private.
	info, err := os.Stat(filepath.Dir(w.cacheFile(alice)))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "cache folder mode", info.Mode().Perm(), os.FileMode(0o700))
	info, _ = os.Stat(w.cacheFile(alice))
	check(t, "cache file mode", info.Mode().Perm(), os.FileMode(0o600))
	check(t, "the client id is a UUID", len(fmt.Sprint(w.session(alice)["client_id"])), 36)

	// Later runs, without a terminal and without --email, print the cached
	// token and make no request at all.
	before = w.counts()
	for range 3 {
		again := w.run()
		check(t, "cached token is the same", w.tokenOf(again), token)
		check(t, "stderr of a cache hit", again.stderr, "")
	}
	w.checkRequests(before, map[string]int{})
}

func TestLoginAsksForTheEmail(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.start()
	r.expect("Akiflow email: ")
	r.typeLine("alice.example.com")
	r.expect("is not an email address")
	check(t, "login requests before a valid email", w.srv.Count(akiflowtest.RouteLogin), 0)
	r.typeLine(alice)
	r.typeLine(w.waitCode(r, alice))
	w.tokenOf(r.wait())
	w.tokenOf(w.run("-e", alice))
}

// wrongCode is a code that is not code.
func wrongCode(code string) string {
	n := 0
	fmt.Sscan(code, &n)
	return fmt.Sprintf("%06d", (n+1)%1000000)
}

func TestCodeIsAskedAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.start("-e", alice)
	r.expect("Code: ")
	before := w.counts()
	r.typeLine("12345") // too short: asked again, nothing sent
	r.expect("The code is 6 digits")
	r.expect("Code: ")
	w.checkRequests(before, map[string]int{})
	code := w.srv.Code(alice)
	wrong := wrongCode(code)
	r.typeLine(wrong[:3] + " " + wrong[3:])
	r.expect("Invalid authentication code. Try again.")
	r.expect("Code: ")
	r.typeLine(code[:3] + "-" + code[3:])
	res := r.wait()
	w.tokenOf(res)
	check(t, "prompts for the code", strings.Count(res.stderr, "Code: "), 3)
	w.checkRequests(before, map[string]int{"code": 2, "user/me": 1})
}

func TestThreeWrongCodesFail(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.start("-e", alice)
	wrong := wrongCode(w.waitCode(r, alice))
	r.typeLine(wrong)
	for range 2 {
		r.expect("Try again.")
		r.expect("Code: ") // a new prompt, not the first one again
		r.typeLine(wrong)
	}
	res := r.wait()
	check(t, "exit status", res.code, 1)
	check(t, "stdout", res.stdout, "")
	check(t, "code requests", w.srv.Count(akiflowtest.RouteCode), 3)
	check(t, "prompts for the code", strings.Count(res.stderr, "Code: "), 3)
	if _, err := os.Lstat(w.sessionPath(alice)); !os.IsNotExist(err) {
		t.Errorf("a session file after three wrong codes: %v", err)
	}
}

func TestExpiredCodeURLSendsANewCode(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.srv.SetCodeTTL(-time.Minute) // every signed URL is already expired
	r := w.start("-e", alice)
	r.typeLine(w.waitCode(r, alice))
	r.expect("The code has expired. Send a new one? [Y/n] ")
	w.srv.SetCodeTTL(15 * time.Minute)
	r.typeLine("")
	r.expect("A new code was sent")
	r.typeLine(w.waitCode(r, alice))
	w.tokenOf(r.wait())
	check(t, "codes mailed", w.srv.Count(akiflowtest.RouteLogin), 2)
}

// login logs in again even with a good session, and prints nothing on
// stdout; Ctrl-C at its prompt exits 130 and leaves the session as it was;
// without a terminal it cannot ask, and exits 3.
func TestLoginCommand(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := w.login(alice)
	r := w.start("login", "-e", alice)
	r.typeLine(w.waitCode(r, alice))
	res := r.wait()
	check(t, "login exit", res.code, 0)
	check(t, "login stdout", res.stdout, "")
	if !strings.Contains(res.stderr, "logged in as "+alice) {
		t.Errorf("login said:\n%s", redact(res.stderr))
	}
	second := w.tokenOf(w.run())
	checkChanged(t, "the token of the new session", second, first)

	saved, err := os.ReadFile(w.cacheFile(alice))
	if err != nil {
		t.Fatal(err)
	}
	r = w.start("login", "-e", alice)
	r.expect("Code: ")
	r.tty.Write([]byte{3}) // Ctrl-C
	res = r.wait()
	check(t, "Ctrl-C: exit status", res.code, 130)
	check(t, "Ctrl-C: stdout", res.stdout, "")
	after, err := os.ReadFile(w.cacheFile(alice))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "Ctrl-C: the cache file", string(after), string(saved))
	check(t, "Ctrl-C: the session still works", w.tokenOf(w.run()), second)

	check(t, "login without a terminal: exit", w.run("login").code, 3)
}

// A person's login waiting at its code prompt holds up nobody: it holds
// no lock of the session while the person reads their mail, so a caller
// with no terminal refreshes the session meanwhile and prints a token; a
// second login of the account, which would mail a new code and kill the
// first one's, is refused, saying where the first one waits; the first
// login then saves its session, which the next call serves. With no
// session at all, a caller with no terminal is told that a login waits.
func TestWaitingLoginStallsNoCaller(t *testing.T) {
	t.Parallel()
	const waiting = "a login to " + alice + " is waiting for its code in another terminal"

	t.Run("with a session", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		first := w.login(alice)
		w.expire(alice)
		mailed := w.srv.Count(akiflowtest.RouteLogin)
		login := w.start("login", "-e", alice)
		code := w.waitCode(login, alice)

		before := w.counts()
		refreshed := w.tokenOf(w.run("-e", alice))
		checkChanged(t, "the token refreshed while a login waits", refreshed, first)
		w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
		if !alive(login.cmd.Process.Pid) {
			t.Fatalf("the login ended while it waited for its code:\n%s", redact(login.text()))
		}

		second := w.start("login", "-e", alice).wait()
		check(t, "a second login: exit status", second.code, 1)
		if !strings.Contains(second.stderr, waiting) {
			t.Errorf("a second login does not say that one waits:\n%s", redact(second.stderr))
		}
		check(t, "codes mailed", w.srv.Count(akiflowtest.RouteLogin)-mailed, 1)

		login.typeLine(code)
		res := login.wait()
		check(t, "the first login: exit status", res.code, 0)
		token := fmt.Sprint(w.session(alice)["access_token"])
		checkChanged(t, "the login's token", token, refreshed)
		before = w.counts()
		check(t, "the next call: the login's token", w.tokenOf(w.run("-e", alice)), token)
		w.checkRequests(before, map[string]int{})
	})

	t.Run("without a session", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		login := w.start("login", "-e", alice)
		code := w.waitCode(login, alice)
		before := w.counts()
		res := w.run("-e", alice)
		check(t, "exit status", res.code, 3)
		check(t, "stdout", res.stdout, "")
		if !strings.Contains(res.stderr, waiting) || strings.Count(res.stderr, "\n") != 1 {
			t.Errorf("stderr: want one line saying %q, got:\n%s", waiting, redact(res.stderr))
		}
		w.checkRequests(before, map[string]int{})
		login.typeLine(code)
		check(t, "the login: exit status", login.wait().code, 0)
		w.tokenOf(w.run("-e", alice))
	})
}

func TestCodeIsNeverSentToAnotherHost(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.srv.RedirectLoginTo("http://127.0.0.2:9")
	res := w.start("-e", alice).wait()
	check(t, "exit status", res.code, 1)
	if !strings.Contains(res.stderr, "refusing to send the code") {
		t.Errorf("stderr:\n%s", redact(res.stderr))
	}
	check(t, "codes posted", w.srv.Count(akiflowtest.RouteCode), 0)
}

// A certificate this machine does not trust is not "try again later": exit
// 1, naming the problem and the fix, with no request sent.
func TestUntrustedCertificateSaysWhatToDo(t *testing.T) {
	t.Parallel()
	w := newTLSWorld(t)
	res := w.start("-e", alice).wait() // a person at a terminal: the login would ask
	check(t, "exit status", res.code, 1)
	for _, want := range []string{"certificate", "trust store", "SSL_CERT_FILE", "--insecure"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, redact(res.stderr))
		}
	}
	check(t, "requests that reached the server", w.srv.Count(akiflowtest.RouteCSRF), 0)
}

// An address whose file name would be too long is refused at a terminal
// before a code is mailed. (Emails with controls or invisible characters
// are usage errors: usage_errors.txtar.)
func TestTooLongEmailIsRefusedBeforeACodeIsMailed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	long := strings.Repeat("a", 240) + "@example.com"
	res := w.start("-e", long).wait()
	if res.code == 0 || !strings.Contains(res.stderr, "too long for a file name") {
		t.Errorf("a %d-byte email: exit %d:\n%s", len(long), res.code, redact(res.stderr))
	}
	w.checkRequests(map[string]int{}, map[string]int{})
}

func TestRefreshNearExpiry(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := w.login(alice)
	// A token with a minute left is near expiry for --min-ttl (5m).
	w.nearExpiry(alice)
	before, connections := w.counts(), w.srv.Connections()
	res := w.run("-v")
	check(t, "connections for the refresh's 2 exchanges", w.srv.Connections()-connections, 1)
	second := w.tokenOf(res)
	checkChanged(t, "a new token", second, first)
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	if !strings.Contains(res.stderr, "POST /oauth/refreshToken: 200") {
		t.Errorf("--verbose does not show the refresh exchange:\n%s", redact(res.stderr))
	}
	check(t, "client ids used", len(w.srv.ClientIDs()), 1)

	// The rotated pair was saved: the next run is a cache hit, and the
	// refresh after that works (the new refresh token was kept).
	before = w.counts()
	check(t, "cache hit after refresh", w.tokenOf(w.run()), second)
	w.checkRequests(before, map[string]int{})
	w.expire(alice)
	third := w.tokenOf(w.run())
	checkChanged(t, "refreshed after expiry", third, second)
	check(t, "the same client id on every refresh", len(w.srv.ClientIDs()), 1)

	// logout keeps the client id, and the next login uses it.
	id := w.session(alice)["client_id"]
	check(t, "logout", w.run("logout").code, 0)
	w.login(alice)
	check(t, "the client id after logout and login", w.session(alice)["client_id"], id)
}

// --app-version and --platform (and their variables) reach every request,
// the detached refresh included.
func TestClientHeadersFollowTheEnvironment(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.login(alice, "--app-version", "9.9.9", "--platform", "android")
	check(t, "login: Akiflow-Version", w.srv.LastHeader(akiflowtest.RouteLogin, "Akiflow-Version"), "9.9.9")
	w.tokenOf(w.runEnv([]string{"AKIFLOW_APP_VERSION=2.80.1", "AKIFLOW_PLATFORM=mac"}, "--force-refresh"))
	check(t, "refresh: Akiflow-Version", w.srv.LastHeader(akiflowtest.RouteRefresh, "Akiflow-Version"), "2.80.1")
	check(t, "refresh: Akiflow-Platform", w.srv.LastHeader(akiflowtest.RouteRefresh, "Akiflow-Platform"), "mac")
	w.tokenOf(w.run("--force-refresh"))
	check(t, "default Akiflow-Version", w.srv.LastHeader(akiflowtest.RouteRefresh, "Akiflow-Version"), "2.69.3")
}

// What a failing Akiflow does to a run, through the refresh process: a
// still-good token is printed with one warning (exit 0); without one, the
// exit status and the one line on stderr name the failure, and the session
// is kept unless Akiflow rejected it. Every failure of Akiflow the client
// knows, and how it is classified, is tested in helper/akiflow; here one of
// each outcome, and what only the whole program shows.
func TestRefreshFailures(t *testing.T) {
	t.Parallel()
	unavailable := akiflowtest.RetryAfter(503, 0)
	for _, tc := range []struct {
		name    string
		good    bool   // the cached token is still good (near expiry), else expired
		timeout string // --timeout: generous, but for a hang
		route   string // where the faults are served (the refresh by default)
		faults  []akiflowtest.Fault
		code    int    // exit status
		message string // on stderr, in one line
		warned  bool   // and a warning line before it
		tries   int    // refreshes sent
		csrf    int    // csrf-cookie requests, when not tries
		kept    bool   // the refresh token is kept
		login   bool   // the message suggests a login
		next    int    // the next run's exit status, once Akiflow is well
	}{
		{name: "503 three times, a still-good token", good: true, faults: []akiflowtest.Fault{unavailable, unavailable, unavailable},
			message: "Akiflow refresh failed: HTTP 503", tries: 3, kept: true},
		{name: "500", faults: []akiflowtest.Fault{akiflowtest.Reply(500, "application/json", `{"message":"Server Error"}`)},
			code: 4, message: "HTTP 500: Server Error", tries: 1, kept: true},
		{name: "no answer", timeout: "2s", faults: []akiflowtest.Fault{akiflowtest.Hang()},
			code: 4, message: "no answer within 2s", tries: 1, kept: true},
		{name: "an oversized reply", faults: []akiflowtest.Fault{akiflowtest.Reply(200, "application/json", `{"access_token":"`+strings.Repeat("x", 5<<20)+`"}`)},
			code: 4, message: "larger than", tries: 1, kept: true},
		{name: "reply lost after rotation", faults: []akiflowtest.Fault{akiflowtest.ProcessedThenLost(akiflowtest.RouteRefresh)},
			code: 4, message: "could not reach Akiflow", tries: 1, kept: true, next: 3},
		{name: "419 once is retried", faults: []akiflowtest.Fault{akiflowtest.Reply(419, "application/json", `{"message":"CSRF token mismatch."}`)},
			tries: 2},
		{name: "403 from a firewall", faults: []akiflowtest.Fault{akiflowtest.Reply(403, "text/plain", "error code: 1010")},
			code: 1, message: "a firewall or proxy in front of Akiflow refused this client, not Akiflow itself (error code: 1010)", tries: 1, kept: true, login: true},
		{name: "csrf-cookie 404", route: akiflowtest.RouteCSRF, faults: []akiflowtest.Fault{akiflowtest.Reply(404, "text/html", "<h1>Not Found</h1>")},
			code: 1, message: "HTTP 404", csrf: 1, kept: true},
		{name: "a redirect to another host", faults: []akiflowtest.Fault{akiflowtest.Redirect(307, "http://127.0.0.2:9/steal")},
			code: 4, message: "refusing to follow a redirect", tries: 1, kept: true},
		{name: "rejected", faults: []akiflowtest.Fault{akiflowtest.Reply(401, "application/json", `{"error":"invalid_grant"}`)},
			code: 3, message: `Akiflow rejected the saved session (invalid_grant)`, warned: true, tries: 1, login: true, next: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			token := w.login(alice)
			if tc.good {
				w.nearExpiry(alice)
			} else {
				w.expire(alice)
			}
			saved := w.session(alice)
			route, timeout := tc.route, tc.timeout
			if route == "" {
				route = akiflowtest.RouteRefresh
			}
			if timeout == "" {
				timeout = "30s" // every retry fits, however slow the machine
			}
			w.srv.Fail(route, tc.faults...)
			before := w.counts()
			res := w.run("--timeout", timeout)

			check(t, "exit status", res.code, tc.code)
			switch {
			case tc.good:
				check(t, "the cached token", w.tokenOf(res), token)
			case tc.code == 0:
				checkChanged(t, "the refreshed token", w.tokenOf(res), token)
			default:
				check(t, "stdout", res.stdout, "")
			}
			lines := 1
			if tc.warned {
				lines = 2
			}
			if tc.message != "" && (!strings.Contains(res.stderr, tc.message) || strings.Count(res.stderr, "\n") != lines) {
				t.Errorf("stderr: want %d line(s) naming %q, got:\n%s", lines, tc.message, redact(res.stderr))
			}
			if tc.message == "" {
				check(t, "stderr", res.stderr, "")
			}
			if suggests := strings.Contains(res.stderr, `run: akiflow-token login`); suggests != tc.login {
				t.Errorf("suggests a login: %v, want %v:\n%s", suggests, tc.login, redact(res.stderr))
			}
			csrf := tc.csrf
			if csrf == 0 {
				csrf = tc.tries
			}
			want := map[string]int{"csrf-cookie": csrf}
			if tc.tries > 0 {
				want["refresh"] = tc.tries
			}
			w.checkRequests(before, want)
			if tc.code == 0 && !tc.good {
				return
			}
			now := w.session(alice)
			if tc.kept {
				check(t, "the refresh token kept", now["refresh_token"] == saved["refresh_token"], true)
			} else {
				check(t, "the refresh token forgotten", now["refresh_token"], nil)
			}

			// Once Akiflow is well, the kept session refreshes; a rejected
			// one, or one whose token Akiflow spent, needs a login.
			before = w.counts()
			res = w.run()
			check(t, "the next run: exit status", res.code, tc.next)
			if tc.next == 0 {
				checkChanged(t, "the next run's token", w.tokenOf(res), token)
			} else if !tc.kept {
				w.checkRequests(before, map[string]int{}) // forgotten: not tried again
			}
		})
	}
}

// reusePort listens with SO_REUSEPORT: another socket may bind the port
// beside it.
var reusePort = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}}

// refusingFake is a fake whose port refuses connections once it is
// closed, and stays this test's: a second socket, bound to the same port
// with SO_REUSEPORT beside the fake's listener, never listens, and holds
// the port until t ends, so no other test's server can take it.
func refusingFake(t *testing.T) *akiflowtest.Server {
	t.Helper()
	l, err := reusePort.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: l.Addr().(*net.TCPAddr).Port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	return akiflowtest.NewServerOn(l)
}

// A refused connection reached no server, so the refresh is tried 3
// times; the session is kept. The closed fake counts none of the tries:
// --verbose shows them.
func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, refusingFake(t))
	w.login(alice)
	w.expire(alice)
	saved := w.session(alice)
	w.srv.Close() // its port now refuses connections
	r := w.run("-v")
	check(t, "exit status", r.code, 4)
	check(t, "stdout", r.stdout, "")
	if !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("stderr:\n%s", redact(r.stderr))
	}
	check(t, "tries of the refresh, each refused at its csrf-cookie request", strings.Count(r.stderr, "GET /csrf-cookie: no reply"), 3)
	check(t, "retries announced", strings.Count(r.stderr, "retrying the refresh in"), 2)
	check(t, "refresh requests sent", strings.Count(r.stderr, "POST /oauth/refreshToken"), 0)
	check(t, "the refresh token kept", w.session(alice)["refresh_token"] == saved["refresh_token"], true)
	r = w.run()
	if r.code != 4 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("without -v: exit %d, want 4 and one line:\n%s", r.code, redact(r.stderr))
	}
}

// A reply that rotates the refresh token but carries an access token with
// a line break (git's and curl's syntax in it): nothing is printed in any
// format, nor to git (exit 4), and the new refresh token is saved, so that
// the next call refreshes instead of asking for a login. Every other kind
// of unusable token is helper/akiflow's TestUnusableAccessTokenKeepsTheNewRefreshToken.
func TestHostileAccessTokenIsNeverPrinted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.login(alice)
	hostile := akiflowtest.Rewrite(akiflowtest.RouteRefresh, func(r map[string]any) {
		r["access_token"] = "x\nprotocol=https\nhost=evil.example\nheader = \"X-Evil: 1\""
	})
	host := strings.TrimPrefix(w.srv.URL, "http://")
	for _, format := range []string{"token", "header", "json", "curl", "exec-credential", "git"} {
		w.expire(alice)
		w.srv.Fail(akiflowtest.RouteRefresh, hostile)
		var res result
		if format == "git" {
			res = w.runStdin(strings.NewReader("protocol=http\nhost="+host+"\n\n"), nil, "git-credential", "get")
		} else {
			res = w.run("-o", format)
		}
		check(t, format+": exit status", res.code, 4)
		check(t, format+": stdout", res.stdout, "")
		if strings.ContainsAny(strings.TrimSuffix(res.stderr, "\n"), "\n\r") {
			t.Errorf("%s: stderr is not one line: %q", format, res.stderr)
		}
		// The new refresh token was saved: this call refreshes.
		w.tokenOf(w.run("--force-refresh"))
	}
}

// With no session and no terminal (a new session, as cron or CI runs
// it), nobody can be asked for a code: exit 3 at once, with no request,
// stdin left unread, whatever the number of callers. (The words for each
// way of turning prompting off are in login_needed.txtar.)
func TestNoTerminalNoPrompt(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, tc := range []struct {
		args  []string
		login string
	}{{nil, "akiflow-token login"}, {[]string{"-e", alice}, "akiflow-token login -e " + alice},
		// A flag that says where the session is is repeated; the
		// environment's is the shell's already.
		{[]string{"--base-url", w.srv.URL, "-e", alice}, "akiflow-token --base-url " + w.srv.URL + " login -e " + alice}} {
		res := w.run(tc.args...)
		check(t, fmt.Sprintf("%q: exit status", tc.args), res.code, 3)
		check(t, fmt.Sprintf("%q: stdout", tc.args), res.stdout, "")
		check(t, fmt.Sprintf("%q: stderr", tc.args), res.stderr,
			"akiflow-token: a login is needed but there is no terminal to ask for the code; in a terminal, run: "+tc.login+"\n")
	}
	n := repeat(50, 8)
	for i, r := range w.parallel(n, "-e", alice) {
		check(t, fmt.Sprintf("caller %d of %d: exit", i, n), r.code, 3)
		check(t, fmt.Sprintf("caller %d of %d: stdout", i, n), r.stdout, "")
	}
	w.checkRequests(map[string]int{}, map[string]int{})
}

// With a terminal at hand, a rejected session is not a reason to ask when
// prompting is turned off, by a flag, a variable, git or kubectl: exit 3,
// naming what turned it off, and no code is mailed. login is an explicit
// request to ask: it asks whatever those variables say.
func TestPromptingTurnedOffAtATerminal(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.login(alice)
	for _, tc := range []struct {
		env, args []string
		why       string
	}{
		{nil, []string{"--non-interactive"}, "--non-interactive"},
		{[]string{"AKIFLOW_NON_INTERACTIVE=true"}, nil, "AKIFLOW_NON_INTERACTIVE"},
		{[]string{"GIT_TERMINAL_PROMPT=0"}, nil, "GIT_TERMINAL_PROMPT=0"},
		{[]string{`KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`},
			[]string{"-o", "exec-credential"}, "kubectl's interactive: false"},
	} {
		w.srv.Revoke(alice)
		w.expire(alice)
		mailed := w.srv.Count(akiflowtest.RouteLogin)
		res := w.startEnv(tc.env, tc.args...).wait()
		check(t, tc.why+": exit status", res.code, 3)
		check(t, tc.why+": stdout", res.stdout, "")
		if !strings.Contains(res.stderr, "prompting is turned off ("+tc.why+")") || strings.Contains(res.stderr, "Code:") {
			t.Errorf("%s: want no prompt and a message naming it:\n%s", tc.why, redact(res.stderr))
		}
		check(t, tc.why+": codes mailed", w.srv.Count(akiflowtest.RouteLogin)-mailed, 0)

		// login asks all the same.
		r := w.startEnv(append([]string{"AKIFLOW_NON_INTERACTIVE=1", "GIT_TERMINAL_PROMPT=0"}, tc.env...), "login", "-e", alice)
		r.typeLine(w.waitCode(r, alice))
		check(t, tc.why+": login exit", r.wait().code, 0)
	}
}

// A rejected refresh at a terminal leads to a new login there.
func TestRejectedRefreshAtATerminalLogsInAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := w.login(alice)
	w.srv.Revoke(alice)
	w.expire(alice)
	r := w.start()
	r.expect("a new login is needed")
	r.typeLine(w.waitCode(r, alice))
	checkChanged(t, "the token of the new login", w.tokenOf(r.wait()), first)
}
