//go:build unix

package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/akiflow/akiflowtest"
)

// Akiflow's official sign-in (login --oauth) end to end: the real binary
// against the fake's authorization server, with a "browser" that is a
// shell script: BROWSER names it, and it fetches the URL it is given with
// curl, following the fake's redirect back to the loopback callback, as a
// person already signed in to Akiflow who consents would.

// newOAuthWorld is a world whose MCP resource is the fake's, and whose
// browser is the script body (given the URL as $1; curl is on PATH).
func newOAuthWorld(t *testing.T, script string) *world {
	t.Helper()
	needTool(t, "curl")
	w := newWorld(t)
	browser := filepath.Join(t.TempDir(), "browser")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.env = append(w.env, "AKIFLOW_MCP_URL="+w.srv.MCPURL(), "BROWSER="+browser)
	return w
}

// consentingBrowser follows the authorization URL to the callback.
const consentingBrowser = `exec curl -sS -o /dev/null -L "$1"`

// oauthLogin runs login --oauth (with args) at a terminal and checks it
// logged in as email.
func (w *world) oauthLogin(email string, args ...string) {
	w.t.Helper()
	r := w.start(append([]string{"login", "--oauth"}, args...)...)
	r.expect("logged in as " + email)
	if res := r.wait(); res.code != 0 || res.stdout != "" {
		w.t.Fatalf("login --oauth: exit %d, %d bytes of stdout\n%s", res.code, len(res.stdout), redact(res.stderr))
	}
}

// The redirect listener answers this user alone: another local user who
// read the authorization URL (a browser's arguments are public) and signed
// in with it cannot bring its code back first; the person's own browser
// then completes the login.
func TestOAuthCallbackRefusesOtherUsers(t *testing.T) {
	t.Parallel()
	needRoot(t, "to connect as another user")
	needTool(t, "setpriv")
	out := t.TempDir()
	w := newOAuthWorld(t, fmt.Sprintf(`loc=$(curl -sS -o /dev/null -w '%%{redirect_url}' "$1")
setpriv --reuid 65534 --regid 65534 --clear-groups curl -sS -o /dev/null -w '%%{http_code}' "$loc" >%[1]s/nobody 2>/dev/null
echo " $?" >>%[1]s/nobody
exec curl -sS -o /dev/null "$loc"`, out))
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
	data, _ := os.ReadFile(filepath.Join(out, "nobody"))
	if got := strings.TrimSpace(string(data)); !strings.HasPrefix(got, "000 ") || got == "000 0" {
		t.Errorf("another user's callback: curl said %q, want no answer (000) and a failure", got)
	}
}

// oauthFile is where email's OAuth session lives: the auth host's OAuth
// store, apart from its email-code sessions.
func (w *world) oauthFile(email string) string {
	host := strings.ReplaceAll(strings.TrimPrefix(w.srv.URL, "http://"), ":", "%3A")
	return filepath.Join(w.home, ".cache", "akiflow-token", host+"%23oauth", email+".json")
}

// editOAuthSession rewrites email's OAuth session through edit.
func (w *world) editOAuthSession(email string, edit func(map[string]any)) map[string]any {
	w.t.Helper()
	data, err := os.ReadFile(w.oauthFile(email))
	if err != nil {
		w.t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		w.t.Fatalf("the OAuth session of %s does not parse: %v", email, err)
	}
	if edit != nil {
		edit(s)
		data, _ = json.Marshal(s)
		if err := os.WriteFile(w.oauthFile(email), data, 0o600); err != nil {
			w.t.Fatal(err)
		}
	}
	return s
}

// checkMCP says whether the fake's MCP resource takes token.
func (w *world) checkMCP(token string) {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.srv.MCPURL(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", mcpAccept)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.t.Errorf("the MCP resource answered %d to the printed token", resp.StatusCode)
	}
}

// oauthToken runs akiflow-token --oauth (no terminal) and returns the
// token it printed, which the MCP resource takes.
func (w *world) oauthToken(args ...string) string {
	w.t.Helper()
	r := w.run(append([]string{"--oauth"}, args...)...)
	token, ok := strings.CutSuffix(r.stdout, "\n")
	if r.code != 0 || !ok || token == "" {
		w.t.Fatalf("--oauth: exit %d, %d bytes of stdout\n%s", r.code, len(r.stdout), redact(r.stderr))
	}
	w.checkMCP(token)
	return token
}

func TestOAuthLoginCacheHitAndRefresh(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
	check(t, "registrations", w.srv.Count(akiflowtest.RouteRegister), 1)
	first := w.oauthToken()

	before := w.counts()
	check(t, "the cache hit's token", w.oauthToken(), first)
	w.checkRequests(before, map[string]int{akiflowtest.RouteMCP: 1}) // checkMCP's

	// Near expiry: one refresh, which rotates the refresh token.
	old := w.editOAuthSession(akiflowtest.DefaultOAuthUser, func(s map[string]any) {
		s["expires_at"] = time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	})
	before = w.counts()
	checkChanged(t, "the refreshed token", w.oauthToken(), first)
	w.checkRequests(before, map[string]int{akiflowtest.RouteToken: 1, akiflowtest.RouteMCP: 1})
	now := w.editOAuthSession(akiflowtest.DefaultOAuthUser, nil)
	checkChanged(t, "the refresh token", now["refresh_token"].(string), old["refresh_token"].(string))
	if w.srv.ValidRefresh(old["refresh_token"].(string)) {
		t.Errorf("the old refresh token is still live")
	}

	// A second login registers no second client.
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
	check(t, "registrations", w.srv.Count(akiflowtest.RouteRegister), 1)
}

// The listener answers only GET /callback with this login's state: a
// wrong state gets 400 and the login goes on; any other path 404; the
// right callback 200, and then it closes.
func TestOAuthCallbackListener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	statuses, callback := filepath.Join(dir, "statuses"), filepath.Join(dir, "callback")
	w := newOAuthWorld(t, `back=$(curl -sS -o /dev/null -w '%{redirect_url}' "$1")
printf %s "$back" > `+callback+`
origin=${back%%/callback*}
for u in "$(printf %s "$back" | sed 's/state=[^&]*/state=wrong/')" "$origin/other" "$(printf %s "$back" | sed 's/state=[^&]*&*//')" "$back"; do
	curl -sS -o /dev/null -w '%{http_code}\n' "$u" >> `+statuses+`
done`)
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
	waitUntil(t, "the browser script ends", func() bool {
		data, _ := os.ReadFile(statuses)
		return strings.Count(string(data), "\n") == 4
	})
	data, _ := os.ReadFile(statuses)
	check(t, "the callback's answers (wrong state, another path, no state, the callback)", string(data), "400\n404\n400\n200\n")
	back, _ := os.ReadFile(callback)
	if resp, err := http.Get(string(back)); err == nil {
		resp.Body.Close()
		t.Errorf("the listener still answers once the login ended: %d", resp.StatusCode)
	}
	w.oauthToken()
}

func TestOAuthNobodyToAsk(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	r := w.run("--oauth")
	check(t, "exit status", r.code, 3)
	if !strings.Contains(r.stderr, `in a terminal, run: akiflow-token login --oauth`) {
		t.Errorf("stderr does not name the OAuth login:\n%s", r.stderr)
	}
	r = w.runEnv([]string{"AKIFLOW_AUTH=oauth"}, "status")
	check(t, "status exit status", r.code, 3)
	w.checkRequests(map[string]int{}, map[string]int{})
}

func TestOAuthImplicitLoginAtATerminal(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	r := w.startEnv([]string{"AKIFLOW_AUTH=oauth"})
	r.expect("logged in as " + akiflowtest.DefaultOAuthUser)
	res := r.wait()
	token, _ := strings.CutSuffix(res.stdout, "\n")
	check(t, "exit status", res.code, 0)
	w.checkMCP(token)
}

func TestOAuthNoBrowserPrintsTheURL(t *testing.T) {
	t.Parallel()
	opened := filepath.Join(t.TempDir(), "opened")
	w := newOAuthWorld(t, "touch "+opened)
	r := w.start("login", "--oauth", "--no-browser")
	shown := r.expectText("(at most")
	authURL := regexp.MustCompile(`http://\S+/oauth/authorize\?\S+`).FindString(shown)
	if authURL == "" {
		t.Fatalf("the terminal shows no sign-in address:\n%s", redact(shown))
	}
	resp, err := http.Get(authURL) // the person's browser, elsewhere
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r.expect("logged in as " + akiflowtest.DefaultOAuthUser)
	res := r.wait()
	check(t, "exit status", res.code, 0)
	check(t, "stdout", res.stdout, "")
	if _, err := os.Stat(opened); err == nil {
		t.Errorf("--no-browser ran BROWSER")
	}
}

func TestOAuthPortTakenAndFixed(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	r := w.start("login", "--oauth", "--port", port)
	res := r.wait()
	check(t, "exit status with the port taken", res.code, 1)
	if !strings.Contains(res.stderr, "the port "+port+" for the browser's redirect is taken") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
	l.Close()
	r = w.start("login", "--oauth", "--port", port)
	r.expect("come back to 127.0.0.1:" + port + " ")
	r.expect("logged in as")
	check(t, "exit status with the port free", r.wait().code, 0)
}

func TestOAuthDeniedConsent(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	w.srv.DenyConsent(true)
	r := w.start("login", "--oauth")
	res := r.wait()
	check(t, "exit status", res.code, 1)
	if !strings.Contains(res.stderr, "Akiflow did not grant the sign-in: access_denied") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
	check(t, "token requests", w.srv.Count(akiflowtest.RouteToken), 0)
}

func TestOAuthInterruptedWhileWaiting(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, "exit 0") // a browser that never comes back
	r := w.start("login", "--oauth")
	r.expect("Ctrl-C cancels")
	r.typeKeys("\x03")
	check(t, "exit status", r.wait().code, 130)
}

// The two kinds of session of one account are kept apart: logging one
// out leaves the other.
func TestOAuthAndCodeSessionsApart(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	w.srv.SetOAuthUser(alice)
	codeToken := w.login(alice)
	w.oauthLogin(alice)
	oauthToken := w.oauthToken()
	if oauthToken == codeToken {
		t.Fatalf("the OAuth session printed the code session's token")
	}
	check(t, "the code session's token", w.tokenOf(w.run()), codeToken)

	if r := w.run("--oauth", "logout"); r.code != 0 {
		t.Fatalf("--oauth logout: exit %d\n%s", r.code, r.stderr)
	}
	check(t, "--oauth status after its logout", w.run("--oauth", "status").code, 3)
	check(t, "the code session after the OAuth logout", w.tokenOf(w.run()), codeToken)

	w.oauthLogin(alice)
	if r := w.run("logout"); r.code != 0 {
		t.Fatalf("logout: exit %d\n%s", r.code, r.stderr)
	}
	check(t, "status after the code logout", w.run("status").code, 3)
	r := w.run("--oauth", "status", "-o", "json")
	check(t, "--oauth status after the code logout", r.code, 0)
	if !strings.Contains(r.stdout, `"auth": "oauth"`) {
		t.Errorf("--oauth status -o json does not say the session is OAuth's:\n%s", r.stdout)
	}
}

// A client the server forgot: the refresh is refused with
// invalid_client, the session needs a login, and that login registers
// again.
func TestOAuthRegistersAgainAfterInvalidClient(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
	w.srv.ForgetClients()
	// The refresh token goes with the registration; the access token still
	// serves, with a warning.
	r := w.run("--oauth", "--force-refresh")
	check(t, "exit status of a refresh answered invalid_client, the token still good", r.code, 0)
	if !strings.Contains(r.stderr, "invalid_client") || !strings.Contains(r.stderr, "using the cached token") {
		t.Errorf("stderr:\n%s", redact(r.stderr))
	}
	s := w.editOAuthSession(akiflowtest.DefaultOAuthUser, func(map[string]any) {})
	check(t, "a refresh token kept after invalid_client", s["refresh_token"] != nil, false)
	w.editOAuthSession(akiflowtest.DefaultOAuthUser, func(s map[string]any) {
		s["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	})
	r = w.run("--oauth")
	check(t, "exit status once that token has expired", r.code, 3)
	if !strings.Contains(r.stderr, "login --oauth") {
		t.Errorf("stderr does not name the login:\n%s", r.stderr)
	}
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
	check(t, "registrations", w.srv.Count(akiflowtest.RouteRegister), 2)
	w.oauthToken()
}

// Without an email in the token (and no userinfo endpoint), -e names
// the account; without it, the login is a usage error asking for it.
func TestOAuthAccountNamedByEmailFlag(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	w.srv.SetEmailClaim(false)
	res := w.start("login", "--oauth").wait()
	check(t, "exit status without -e", res.code, 80)
	if !strings.Contains(res.stderr, "-e EMAIL") {
		t.Errorf("stderr does not ask for -e:\n%s", res.stderr)
	}
	w.oauthLogin("bob@example.com", "-e", "bob@example.com")
	w.oauthToken("-e", "bob@example.com")

	// With a userinfo endpoint, it names the account.
	w.srv.SetUserinfo(true)
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
}

// A SIGKILL of the caller during an OAuth refresh loses no session: the
// detached refresh process finishes it.
func TestOAuthKilledRefreshesLoseNoSession(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
	w.srv.SetLatency(3 * time.Millisecond)
	for i := range repeat(30, 5) {
		w.editOAuthSession(akiflowtest.DefaultOAuthUser, func(s map[string]any) {
			s["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		})
		cmd := exec.Command(binary, "--oauth")
		cmd.Env = w.env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(rand.N(20 * time.Millisecond))
		cmd.Process.Kill()
		cmd.Wait()
		if r := w.run("--oauth"); r.code != 0 {
			t.Fatalf("kill %d: the next call exited %d: %s", i, r.code, redact(r.stderr))
		}
	}
}

// Fifty callers at once on an expired OAuth token send one refresh, and
// all print the same token.
func TestOAuthConcurrentCallersRefreshOnce(t *testing.T) {
	t.Parallel()
	needProc(t)
	w := newOAuthWorld(t, consentingBrowser)
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
	w.editOAuthSession(akiflowtest.DefaultOAuthUser, func(s map[string]any) {
		s["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	})
	// The refresh waits at the gate until every caller runs.
	g := w.hold(akiflowtest.RouteToken, 1)
	n := repeat(50, 8)
	before := w.counts()
	done := make(chan []result)
	go func() { done <- w.parallel(n, "--oauth") }()
	g.waitArrival(t)
	waitUntil(t, fmt.Sprintf("%d callers run", n), func() bool { return w.callers() == n })
	g.release()
	results := <-done
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("process %d: exit %d\n%s", i, r.code, redact(r.stderr))
		}
		check(t, fmt.Sprintf("process %d prints the same token as process 0", i), r.stdout, results[0].stdout)
	}
	w.checkRequests(before, map[string]int{akiflowtest.RouteToken: 1})
	w.checkMCP(strings.TrimSuffix(results[0].stdout, "\n"))
}

// A code exchange the server refuses (the verifier does not match the
// challenge it was given: here, the challenge was changed on its way)
// fails the login with one line, exit 1, and saves nothing.
func TestOAuthWrongVerifierSavesNothing(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	w.srv.Fail(akiflowtest.RouteAuthorize, func(rw http.ResponseWriter, r *http.Request, s *akiflowtest.Server) {
		q := r.URL.Query()
		q.Set("code_challenge", akiflow.Challenge(akiflow.NewVerifier()))
		r.URL.RawQuery = q.Encode()
		s.Handle(akiflowtest.RouteAuthorize, rw, r)
	})
	res := w.start("login", "--oauth").wait()
	check(t, "exit status", res.code, 1)
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "akiflow-token: ") || !strings.Contains(last, "invalid_grant") || !strings.Contains(last, "verifier") {
		t.Errorf("the login's last line does not say the exchange was refused:\n%s", redact(res.stderr))
	}
	check(t, "token requests", w.srv.Count(akiflowtest.RouteToken), 1)
	if _, err := os.Stat(w.oauthFile(akiflowtest.DefaultOAuthUser)); !os.IsNotExist(err) {
		t.Errorf("a session was saved: %v", err)
	}
	check(t, "--oauth status", w.run("--oauth", "status").code, 3)
}

// logout revokes the OAuth session's refresh token when the server
// offers revocation; the session is forgotten here whatever the server
// answers, and a failure is one warning without a token.
func TestOAuthLogoutRevokes(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	logout := func(what string) (refresh string, r result) {
		t.Helper()
		w.oauthLogin(akiflowtest.DefaultOAuthUser)
		refresh = w.editOAuthSession(akiflowtest.DefaultOAuthUser, nil)["refresh_token"].(string)
		r = w.run("--oauth", "logout")
		if r.code != 0 {
			t.Fatalf("%s: logout exit %d\n%s", what, r.code, redact(r.stderr))
		}
		if redacted := redact(r.stderr + r.stdout); redacted != r.stderr+r.stdout {
			t.Errorf("%s: logout shows a token:\n%s", what, redacted)
		}
		check(t, what+": --oauth status after logout", w.run("--oauth", "status").code, 3)
		return refresh, r
	}

	refresh, r := logout("revocation offered")
	check(t, "revocations", w.srv.Revocations(), 1)
	if w.srv.ValidRefresh(refresh) {
		t.Errorf("the refresh token is live after logout")
	}
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("a revocation that worked warns:\n%s", r.stderr)
	}
	check(t, "the revocation's client id", w.srv.LastHeader(akiflowtest.RouteRevoke, "Content-Type"), "application/x-www-form-urlencoded")

	w.srv.Fail(akiflowtest.RouteRevoke, func(rw http.ResponseWriter, r *http.Request, s *akiflowtest.Server) {
		r.ParseForm()
		akiflowtest.Reply(http.StatusServiceUnavailable, "text/html", "<html>no revocation of "+r.PostForm.Get("token")+"</html>")(rw, r, s)
	})
	refresh, r = logout("revocation failing")
	if n := strings.Count(r.stderr, "warning"); n != 1 || !strings.Contains(r.stderr, "could not revoke") || strings.Contains(r.stderr, "<html>") {
		t.Errorf("a failed revocation: want one warning without the page, got:\n%s", redact(r.stderr))
	}
	if !w.srv.ValidRefresh(refresh) {
		t.Errorf("the failed revocation revoked the token")
	}

	w.srv.SetRevocation(false)
	before := w.srv.Count(akiflowtest.RouteRevoke)
	if _, r = logout("no revocation offered"); strings.Contains(r.stderr, "warning") {
		t.Errorf("a logout without revocation warns:\n%s", r.stderr)
	}
	check(t, "revocation requests without an endpoint", w.srv.Count(akiflowtest.RouteRevoke), before)
}

// mcpAccept is what Streamable HTTP requires of a POST's Accept.
const mcpAccept = "application/json, text/event-stream"

// An MCP client that can only point at a URL, through the proxy of
// --oauth exec --serve --api-url: initialize, the session id it got on
// every later request, tools/list, a tool call answered with an event
// stream, the session's event stream (each event reaches the client
// before the next is sent), and the session's end.
func TestOAuthProxyMCPSession(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
	r := w.serve("exec", "--oauth", "--api-url", w.srv.URL)
	mcp := r.proxyURL + akiflowtest.MCPPath
	post := func(body string, header ...string) reply {
		t.Helper()
		return do(t, "POST", mcp, strings.NewReader(body), append([]string{"Accept", mcpAccept, "Content-Type", "application/json"}, header...)...)
	}

	init := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}`)
	session := init.header.Get("Mcp-Session-Id")
	if init.status != 200 || session == "" || !strings.Contains(init.body, `"protocolVersion":"2025-06-18"`) {
		t.Fatalf("initialize through the proxy: %d, session id %t: %s", init.status, session != "", redact(init.body))
	}
	withSession := []string{"Mcp-Session-Id", session, "Mcp-Protocol-Version", akiflowtest.MCPProtocolVersion}
	check(t, "notifications/initialized", post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, withSession...).status, 202)
	check(t, "tools/list without the session id", post(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`).status, 400)
	list := post(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, withSession...)
	if list.status != 200 || !strings.Contains(list.body, `"name":"list_tasks"`) {
		t.Errorf("tools/list: %d %s", list.status, list.body)
	}
	call := post(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_tasks","arguments":{}}}`, withSession...)
	if call.status != 200 || !strings.HasPrefix(call.header.Get("Content-Type"), "text/event-stream") || !strings.Contains(call.body, `"text":"no tasks"`) {
		t.Errorf("tools/call answered with an event stream: %d %q %s", call.status, call.header.Get("Content-Type"), call.body)
	}

	// The event stream: event i+1 is sent only once event i came through.
	gate := w.srv.GateMCPEvents()
	req, _ := http.NewRequest("GET", mcp, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("the event stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := bufio.NewReader(resp.Body)
	for i := 1; i <= akiflowtest.MCPEvents; i++ {
		if i > 1 {
			select {
			case gate <- struct{}{}:
			case <-time.After(patience):
				t.Fatalf("the fake never waited to send event %d", i)
			}
		}
		var event strings.Builder
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("event %d did not come through before event %d was sent: %v (read: %q)", i, i+1, err, event.String())
			}
			if line == "\n" {
				break
			}
			event.WriteString(line)
		}
		if want := fmt.Sprintf("id: %d\n", i); !strings.HasPrefix(event.String(), want) || !strings.Contains(event.String(), fmt.Sprintf("event %d of", i)) {
			t.Errorf("event %d: %q", i, event.String())
		}
	}
	if rest, _ := io.ReadAll(events); len(rest) != 0 {
		t.Errorf("after the last event: %q", rest)
	}

	check(t, "DELETE of the session", do(t, "DELETE", mcp, nil, withSession...).status, 200)
	check(t, "tools/list of the ended session", post(`{"jsonrpc":"2.0","id":4,"method":"tools/list"}`, withSession...).status, 404)
	check(t, "live MCP sessions", w.srv.MCPSessions(), 0)
	check(t, "exec --serve's exit status", r.end(0).code, 0)
}

// docs/oauth.md's curl session runs as written (against the fake's MCP
// resource): initialize, then tools/list with the session id it gave.
func TestOAuthDocsCurlSession(t *testing.T) {
	t.Parallel()
	w := newOAuthWorld(t, consentingBrowser)
	w.oauthLogin(akiflowtest.DefaultOAuthUser)
	data, err := os.ReadFile("docs/oauth.md")
	if err != nil {
		t.Fatal(err)
	}
	script := regexp.MustCompile("(?s)```sh\n(TOKEN=.*?)```").FindSubmatch(data)
	if script == nil || !strings.Contains(string(script[1]), "MCP=https://mcp.akiflow.com/mcp\n") {
		t.Fatal("docs/oauth.md has no curl session that sets MCP")
	}
	s := strings.Replace(string(script[1]), "MCP=https://mcp.akiflow.com/mcp\n", "MCP=$AKIFLOW_MCP_URL\n", 1)
	s = strings.ReplaceAll(s, "/tmp/mcp-headers", filepath.Join(t.TempDir(), "headers"))
	r := w.runProgram(nil, nil, "sh", "-ec", s)
	if r.code != 0 || !strings.Contains(r.stdout, `"protocolVersion":"2025-06-18"`) || !strings.Contains(r.stdout, `"name":"list_tasks"`) {
		t.Errorf("the curl session: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, redact(r.stdout), redact(r.stderr))
	}
}
