// End-to-end tests of the local endpoint: exec --serve and serve, run as a
// program that runs longer than a token lives (an MCP server, a daemon)
// would use them, against the fake Akiflow server.
package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// newServeWorld is a world whose API (for the proxy) is the fake.
func newServeWorld(t testing.TB) *world {
	t.Helper()
	w := newWorld(t)
	w.env = append(w.env, "AKIFLOW_API_URL="+w.srv.URL)
	return w
}

// lockedBuffer is a bytes.Buffer that a process writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// endpointRun is akiflow-token exec --serve running a command (spyScript)
// that hands the endpoint's URLs to the test through a file, then waits
// until the test tells it to end.
type endpointRun struct {
	w                  *world
	cmd                *exec.Cmd
	dir                string
	stdout, stderr     lockedBuffer
	tokenURL, proxyURL string
	done               chan struct{}
	res                result
}

// spyScript writes the URLs to $1/urls, and whether the token came, then
// waits for $1/stop (or exits with the status in it).
const spyScript = `printf '%s\n%s\n%s\n' "$AKIFLOW_TOKEN_URL" "$AKIFLOW_PROXY_URL" "${AKIFLOW_TOKEN:+token}" > "$1/urls.tmp" && mv "$1/urls.tmp" "$1/urls"
while [ ! -e "$1/stop" ]; do sleep 0.02; done
exit "$(cat "$1/stop")"`

// serve starts akiflow-token ARGS exec --serve -- sh -c spyScript, with no
// terminal, and waits for the URLs.
func (w *world) serve(args ...string) *endpointRun {
	w.t.Helper()
	r := w.startServe(args...)
	r.waitURLs()
	return r
}

func (w *world) startServe(args ...string) *endpointRun {
	w.t.Helper()
	r := &endpointRun{w: w, dir: w.t.TempDir(), done: make(chan struct{})}
	argv := append(append([]string(nil), args...), "exec", "--serve", "--", "sh", "-c", spyScript, "sh", r.dir)
	r.cmd = exec.Command(binary, argv...)
	r.cmd.Env = append([]string(nil), w.env...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() {
		err := r.cmd.Wait()
		r.res = result{stdout: r.stdout.String(), stderr: r.stderr.String(), code: exitCode(w.t, err)}
		close(r.done)
	}()
	w.t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// waitURLs waits for the command to report the URLs.
func (r *endpointRun) waitURLs() {
	r.w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(r.dir, "urls"))
		if err == nil {
			lines := strings.Split(string(data), "\n")
			r.tokenURL, r.proxyURL = lines[0], lines[1]
			if lines[2] != "token" {
				r.w.t.Errorf("the command has no AKIFLOW_TOKEN")
			}
			return
		}
		select {
		case <-r.done:
			r.w.t.Fatalf("exec --serve ended (exit %d) before its command started; stderr:\n%s", r.res.code, redact(r.res.stderr))
		default:
		}
		if time.Now().After(deadline) {
			r.w.t.Fatalf("the command never got the URLs; stderr:\n%s", redact(r.stderr.String()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// end tells the command to exit with status and waits for exec --serve.
func (r *endpointRun) end(status int) result {
	r.w.t.Helper()
	os.WriteFile(filepath.Join(r.dir, "stop.tmp"), []byte(fmt.Sprint(status)), 0o600)
	os.Rename(filepath.Join(r.dir, "stop.tmp"), filepath.Join(r.dir, "stop"))
	return r.wait()
}

func (r *endpointRun) wait() result {
	r.w.t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.w.t.Fatalf("exec --serve did not end")
	}
	r.w.checkNoSecrets("stderr of exec --serve", r.res.stderr)
	return r.res
}

// client is the tests' HTTP client: no proxy from the environment.
var client = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Second}

// reply is an HTTP answer, read whole.
type reply struct {
	status int
	header http.Header
	body   string
}

// do sends a request and reads the answer; a request that gets none fails
// the test.
func do(t *testing.T, method, url string, body io.Reader, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, redactURL(url), err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(data)}
}

// redactURL hides a URL's capability in failure messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<a URL>"
	}
	return p.Scheme + "://" + p.Host + "/<capability>…"
}

// tokenJSON is the token URL's answer: -o json's.
type tokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   string `json:"expires_at"`
	ExpiresIn   int    `json:"expires_in"`
	Email       string `json:"email"`
	ClientID    string `json:"client_id"`
}

func getToken(t *testing.T, tokenURL string) tokenJSON {
	t.Helper()
	r := do(t, "GET", tokenURL, nil)
	if r.status != 200 {
		t.Fatalf("token URL: %d %s", r.status, redact(r.body))
	}
	var j tokenJSON
	if err := json.Unmarshal([]byte(r.body), &j); err != nil {
		t.Fatalf("token URL: not JSON: %v", err)
	}
	return j
}

// failureJSON is the endpoint's answer without a token.
type failureJSON struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Command string `json:"command"`
}

func failureOf(t *testing.T, r reply) failureJSON {
	t.Helper()
	var f failureJSON
	if err := json.Unmarshal([]byte(r.body), &f); err != nil {
		t.Fatalf("answer %d is not the endpoint's JSON: %q", r.status, redact(r.body))
	}
	return f
}

// consumerScript is a long-running program that uses only its
// environment: it asks the token URL for tokens and calls the API with
// them, and calls the API through the proxy, for argv[1] seconds, and
// prints what it did as JSON. Every call must succeed.
const consumerScript = `
import calendar, json, os, sys, time, urllib.error, urllib.request

opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
token_url = os.environ["AKIFLOW_TOKEN_URL"]
proxy_url = os.environ["AKIFLOW_PROXY_URL"]
api = os.environ["FAKE_API"]
duration, min_left = float(sys.argv[1]), float(sys.argv[2])

def get(url, headers={}):
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

counts = {"token": 0, "raw": 0, "proxy": 0, "direct": 0}
failures = []
least_left = 1e9
start = time.time()
while time.time() - start < duration:
    status, body = get(token_url)
    if status != 200:
        failures.append("token URL: %d %s" % (status, body[:300].decode("utf-8", "replace")))
        continue
    counts["token"] += 1
    j = json.loads(body)
    left = calendar.timegm(time.strptime(j["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.time()
    least_left = min(least_left, left)
    if left < min_left:
        failures.append("token URL: a token with %.2fs left" % left)
    status, _ = get(api + "/v5/tasks", {"Authorization": "Bearer " + j["access_token"]})
    counts["direct"] += 1
    if status != 200:
        failures.append("the API refused a token from the token URL: %d" % status)
    status, raw = get(token_url + "?format=raw")
    counts["raw"] += 1
    if status != 200 or len(raw) < 20 or b"\n" in raw:
        failures.append("token URL ?format=raw: %d, %d bytes" % (status, len(raw)))
    status, body = get(proxy_url + "/v5/tasks?day=today")
    counts["proxy"] += 1
    if status != 200 or not json.loads(body).get("success"):
        failures.append("proxy: %d %s" % (status, body[:300].decode("utf-8", "replace")))
    time.sleep(0.01)
print(json.dumps({"counts": counts, "failures": failures, "least_left": least_left}))
sys.exit(1 if failures else 0)
`

// A consumer runs for over four token lifetimes, with tokens that live 2
// seconds: every call, through the proxy and with tokens from the token
// URL, succeeds, while plain akiflow-token calls run beside it. They share
// one session: the refreshes stay within the bound of one per effective
// lifetime (lifetime − effective --min-ttl), and no refresh token is ever
// sent twice (the fake would refuse it, and the session would be lost).
func TestServeLongRunSharesOneSession(t *testing.T) {
	needTool(t, "python3")
	t.Parallel()
	w := newServeWorld(t)
	const lifetime = 2 // seconds; the effective --min-ttl is half of it
	w.srv.SetExpiresIn(lifetime)
	w.login(alice)
	effectiveMinTTL := lifetime * time.Second / 2
	runTime := 4*lifetime*time.Second + 500*time.Millisecond

	script := filepath.Join(t.TempDir(), "consumer.py")
	os.WriteFile(script, []byte(consumerScript), 0o600)
	before := w.counts()
	start := time.Now()
	cmd := exec.Command(binary, "exec", "--serve", "--", "python3", script, fmt.Sprint(runTime.Seconds()), "0.75")
	cmd.Env = append(append([]string(nil), w.env...), "FAKE_API="+w.srv.URL)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Plain calls beside it, as a shell or kubectl would make them.
	plain := 0
	var err error
loop:
	for {
		select {
		case err = <-done:
			break loop
		case <-time.After(150 * time.Millisecond):
			w.tokenOf(w.run())
			plain++
		}
	}
	elapsed := time.Since(start)
	check(t, "exit status of exec --serve (the consumer's)", exitCode(t, err), 0)
	w.checkNoSecrets("stderr", stderr.String())
	w.checkNoSecrets("stdout", stdout.String())
	var report struct {
		Counts    map[string]int
		Failures  []string
		LeastLeft float64 `json:"least_left"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &report); err != nil {
		t.Fatalf("the consumer's report: %v\nstdout: %s\nstderr: %s", err, redact(stdout.String()), redact(stderr.String()))
	}
	for _, f := range report.Failures {
		t.Errorf("consumer: %s", redact(f))
	}
	if report.Counts["proxy"] < 20 || report.Counts["token"] < 20 {
		t.Errorf("the consumer made too few calls to prove anything: %v", report.Counts)
	}

	refreshes := w.srv.Count(akiflowtest.RouteRefresh) - before[akiflowtest.RouteRefresh]
	bound := int(elapsed/(lifetime*time.Second-effectiveMinTTL)) + 1
	t.Logf("%.1fs: %v calls of the consumer, %d plain calls, %d refreshes (bound %d), least time left on a served token %.2fs",
		elapsed.Seconds(), report.Counts, plain, refreshes, bound, report.LeastLeft)
	if refreshes > bound {
		t.Errorf("%d refreshes in %s: more than one per effective lifetime (bound %d)", refreshes, elapsed.Round(time.Millisecond), bound)
	}
	if refreshes < int(elapsed/(lifetime*time.Second))-1 {
		t.Errorf("%d refreshes in %s: the tokens were not kept fresh", refreshes, elapsed.Round(time.Millisecond))
	}
	// Every refresh the fake answered issued a pair: had one been refused
	// (a refresh token sent twice), the pairs would be fewer.
	issued := len(w.srv.Secrets())/2 - w.srv.Count(akiflowtest.RouteMe)
	check(t, "refreshes that the fake accepted, of all refreshes", issued, w.srv.Count(akiflowtest.RouteRefresh))
	check(t, "the session is alive at the end", w.run("status").code, 0)
}

func TestServeTokenURLAnswersAsOutputJSON(t *testing.T) {
	w := newServeWorld(t)
	w.login(alice)
	r := w.serve()
	defer r.end(0)
	before := w.counts()

	got := do(t, "GET", r.tokenURL, nil)
	check(t, "status", got.status, 200)
	check(t, "content type", got.header.Get("Content-Type"), "application/json")
	check(t, "Cache-Control", got.header.Get("Cache-Control"), "no-store")
	cli := w.run("-o", "json")
	var fromURL, fromCLI map[string]any
	json.Unmarshal([]byte(got.body), &fromURL)
	json.Unmarshal([]byte(cli.stdout), &fromCLI)
	for _, key := range []string{"access_token", "token_type", "expires_at", "email", "client_id"} {
		check(t, "token URL's "+key+", as -o json's", fromURL[key], fromCLI[key])
	}
	if d := fromURL["expires_in"].(float64) - fromCLI["expires_in"].(float64); d < -1 || d > 1 || len(fromURL) != len(fromCLI) {
		t.Errorf("token URL's JSON has other fields or expiry than -o json's: %v", redact(got.body))
	}
	if strings.Count(got.body, "\n") != strings.Count(cli.stdout, "\n") {
		t.Errorf("token URL's JSON is not laid out as -o json's")
	}

	raw := do(t, "GET", r.tokenURL+"?format=raw", nil)
	check(t, "raw: status", raw.status, 200)
	check(t, "raw: the bare token", raw.body, fromCLI["access_token"])
	check(t, "raw: content type", raw.header.Get("Content-Type"), "text/plain; charset=utf-8")
	check(t, "HEAD", do(t, "HEAD", r.tokenURL, nil).status, 200)
	check(t, "POST", do(t, "POST", r.tokenURL, strings.NewReader("x")).status, 405)
	check(t, "an unknown format", do(t, "GET", r.tokenURL+"?format=yaml", nil).status, 400)
	check(t, "a path below the token URL", do(t, "GET", r.tokenURL+"/more", nil).status, 404)
	w.checkRequests(before, map[string]int{}) // cache hits: no network
}

// Each URL carries its own capability: without it, or with the other
// URL's, a request gets a bare 404; with it, a request from a browser (an
// Origin, another Host) gets 403. Not even --verbose logs a capability.
func TestServeCapabilities(t *testing.T) {
	w := newServeWorld(t)
	w.login(alice)
	r := w.serve("-v")
	tu, _ := url.Parse(r.tokenURL)
	pu, _ := url.Parse(r.proxyURL)
	tokenCap, proxyCap := strings.TrimPrefix(tu.Path, "/"), strings.TrimPrefix(pu.Path, "/")
	base := "http://" + tu.Host
	if len(tokenCap) < 22 || len(proxyCap) < 22 || tokenCap == proxyCap || tu.Host != pu.Host {
		t.Fatalf("want two capabilities of at least 128 bits (22 base64 characters) on one address; got %d and %d characters", len(tokenCap), len(proxyCap))
	}
	check(t, "the listen address is loopback", net.ParseIP(tu.Hostname()).IsLoopback(), true)
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)-1] == 'A' {
			b[len(b)-1] = 'B'
		} else {
			b[len(b)-1] = 'A'
		}
		return string(b)
	}
	for name, u := range map[string]string{
		"no capability":                base + "/",
		"no capability, an API path":   base + "/v5/tasks",
		"a wrong token capability":     base + "/" + flip(tokenCap),
		"a wrong proxy capability":     base + "/" + flip(proxyCap) + "/v5/tasks",
		"a truncated capability":       base + "/" + tokenCap[:len(tokenCap)-1],
		"a capability and more":        base + "/" + tokenCap + "x",
		"the token URL's, as proxy":    base + "/" + tokenCap + "/v5/tasks",
		"the capability in the query":  base + "/?c=" + tokenCap,
		"the capability further along": base + "/x/" + proxyCap + "/v5/tasks",
	} {
		got := do(t, "GET", u, nil)
		check(t, name+": status", got.status, 404)
		check(t, name+": body", got.body, "")
		check(t, name+": Cache-Control", got.header.Get("Cache-Control"), "no-store")
	}
	check(t, "the proxy, rightly", do(t, "GET", r.proxyURL+"/v5/tasks", nil).status, 200)
	for _, u := range []string{r.tokenURL, r.proxyURL + "/v5/tasks"} {
		for name, header := range map[string][]string{
			"an Origin":             {"Origin", "https://evil.example"},
			"an empty Origin":       {"Origin", ""},
			"another Host":          {"Host", "evil.example:" + tu.Port()},
			"localhost as Host":     {"Host", "localhost:" + tu.Port()},
			"the Host without port": {"Host", tu.Hostname()},
		} {
			got := do(t, "GET", u, nil, header...)
			check(t, name+": status", got.status, 403)
			w.checkNoSecrets(name+": body", got.body)
		}
	}
	// HTTP/1.0 without a Host header.
	conn, err := net.Dial("tcp", tu.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /%s HTTP/1.0\r\n\r\n", tokenCap)
	status, _ := bufio.NewReader(conn).ReadString('\n')
	check(t, "no Host header", strings.TrimSpace(status), "HTTP/1.0 403 Forbidden")

	res := r.end(0)
	if !strings.Contains(res.stderr, "proxy GET /v5/tasks: 200") {
		t.Errorf("--verbose does not log the requests:\n%s", redact(res.stderr))
	}
	if strings.Contains(res.stderr, tokenCap) || strings.Contains(res.stderr, proxyCap) {
		t.Errorf("stderr holds a capability")
	}
}

// On Linux, connections from another user's sockets are closed unanswered,
// capability or not.
func TestServeRefusesOtherUsers(t *testing.T) {
	if runtime.GOOS != "linux" || os.Getuid() != 0 {
		t.Skip("needs Linux and root, to connect as another user")
	}
	needTool(t, "curl")
	w := newServeWorld(t)
	w.login(alice)
	r := w.serve()
	defer r.end(0)
	config := fmt.Sprintf("url = %q\n", r.tokenURL)
	ours := w.runProgram(strings.NewReader(config), nil, "curl", "-sS", "-K", "-", "-o", "/dev/null", "-w", "%{http_code}")
	check(t, "curl as the endpoint's user", ours.stdout, "200")
	w.user = nobody
	theirs := w.runProgram(strings.NewReader(config), nil, "curl", "-sS", "-K", "-", "-o", "/dev/null", "-w", "%{http_code}")
	w.user = nil
	if theirs.code == 0 || theirs.stdout != "000" {
		t.Errorf("curl as another user: exit %d, status %q: want no answer", theirs.code, theirs.stdout)
	}
	waitUntil(t, "stderr says it refused the connection", func() bool {
		return strings.Contains(r.stderr.String(), "refused a connection from a socket of another user (uid 65534)")
	})
}

// What must not start does not: a listen address off loopback, an API URL
// that is not Akiflow's, --serve without a command, an --env that is one of
// the URLs' names. All are usage errors, before any request.
func TestServeRefusals(t *testing.T) {
	t.Parallel()
	w := newServeWorld(t)
	w.login(alice)
	before := w.counts()
	marker := filepath.Join(w.home, "ran")
	for _, tc := range []struct {
		name    string
		env     []string
		args    []string
		message string
	}{
		{"serve on all interfaces", nil, []string{"serve", "--listen", "0.0.0.0:0"}, "loopback only"},
		{"serve on a LAN address", nil, []string{"serve", "--listen", "192.168.1.10:8080"}, "loopback only"},
		{"serve on a name", nil, []string{"serve", "--listen", "example.com:80"}, "loopback only"},
		{"serve on [::]", nil, []string{"serve", "--listen", "[::]:0"}, "loopback only"},
		{"another API host", nil, []string{"exec", "--serve", "--api-url", "https://api.example.com", "--", "touch", marker}, `--api-url "https://api.example.com"`},
		{"a look-alike host", nil, []string{"exec", "--serve", "--api-url", "https://akiflow.com.example.com", "--", "touch", marker}, "akiflow.com"},
		{"a suffix look-alike", nil, []string{"exec", "--serve", "--api-url", "https://evilakiflow.com", "--", "touch", marker}, "akiflow.com"},
		{"plain http to Akiflow", nil, []string{"exec", "--serve", "--api-url", "http://api.akiflow.com", "--", "touch", marker}, "akiflow.com"},
		{"credentials in the URL", nil, []string{"exec", "--serve", "--api-url", "https://u:p@api.akiflow.com", "--", "touch", marker}, "not a URL"},
		{"from the environment", []string{"AKIFLOW_API_URL=https://api.example.com"}, []string{"exec", "--serve", "--", "touch", marker}, `AKIFLOW_API_URL "https://api.example.com"`},
		{"serve with another API host", []string{"AKIFLOW_API_URL=ftp://api.akiflow.com"}, []string{"serve"}, "AKIFLOW_API_URL"},
		{"no command", nil, []string{"exec", "--serve"}, ""},
		{"no command after --", nil, []string{"exec", "--serve", "--"}, "needs a command"},
		{"--env naming a URL", nil, []string{"exec", "--serve", "--env", "AKIFLOW_PROXY_URL", "--", "touch", marker}, "AKIFLOW_PROXY_URL"},
	} {
		res := w.runEnv(tc.env, tc.args...)
		check(t, tc.name+": exit status", res.code, 80)
		check(t, tc.name+": stdout", res.stdout, "")
		if !strings.Contains(res.stderr, tc.message) {
			t.Errorf("%s: stderr lacks %q:\n%s", tc.name, tc.message, redact(res.stderr))
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a command ran")
	}
	w.checkRequests(before, map[string]int{})

	// Plain exec does not look at the API URL.
	res := w.runEnv([]string{"AKIFLOW_API_URL=https://api.example.com"}, "exec", "--", "true")
	check(t, "plain exec with a foreign AKIFLOW_API_URL", res.code, 0)
}

// A login needed before the command starts follows the CLI's rules: with
// no terminal, exit 3 and the command does not run; at a terminal, the
// login is asked for, then the command runs.
func TestServeLoginBeforeTheCommand(t *testing.T) {
	w := newServeWorld(t)
	marker := filepath.Join(w.home, "ran")
	res := w.run("exec", "--serve", "--", "touch", marker)
	check(t, "no session, no terminal: exit", res.code, 3)
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran without a session")
	}
	term := w.start("-e", alice, "exec", "--serve", "--", "sh", "-c", `test -n "$AKIFLOW_TOKEN_URL" && touch "$1"`, "sh", marker)
	term.typeLine(w.waitCode(term, alice))
	res = term.wait()
	check(t, "after a login at the terminal: exit", res.code, 0)
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the command did not run after the login")
	}
}

// A login needed while the command runs is answered 503, naming the
// command that logs in; once the person logs in elsewhere, the endpoint
// serves the new session, without a restart.
func TestServeLoginNeededMidRun(t *testing.T) {
	w := newServeWorld(t)
	w.login(alice)
	r := w.serve()
	first := getToken(t, r.tokenURL).AccessToken
	check(t, "the proxy works", do(t, "GET", r.proxyURL+"/v5/tasks", nil).status, 200)

	w.srv.Revoke(alice) // logged out elsewhere: the refresh token is dead
	w.expire(alice)
	got := do(t, "GET", r.tokenURL, nil)
	check(t, "token URL with a dead session: status", got.status, 503)
	f := failureOf(t, got)
	check(t, "error", f.Error, "login_needed")
	check(t, "command", f.Command, "akiflow-token login -e "+alice)
	if !strings.Contains(f.Message, "akiflow-token login") {
		t.Errorf("message does not name the login: %q", f.Message)
	}
	got = do(t, "GET", r.proxyURL+"/v5/tasks", nil)
	check(t, "proxy with a dead session: status", got.status, 503)
	check(t, "proxy with a dead session: error", failureOf(t, got).Error, "login_needed")
	check(t, "the refresh was tried once", w.srv.Count(akiflowtest.RouteRefresh), 1)

	w.login(alice) // in a terminal, elsewhere
	second := getToken(t, r.tokenURL).AccessToken
	checkChanged(t, "the token after the login", second, first)
	check(t, "the proxy after the login", do(t, "GET", r.proxyURL+"/v5/tasks", nil).status, 200)
	res := r.end(0)
	check(t, "exit status", res.code, 0)
	check(t, "stdout", res.stdout, "")
	if strings.Count(res.stderr, "a login is needed") != 1 || !strings.Contains(res.stderr, "the endpoint has a session again") {
		t.Errorf("stderr does not say, once, that a login is needed, then that it is over:\n%s", redact(res.stderr))
	}
}

// When Akiflow fails, a token that is still good is served with a
// warning, and the refresh is not tried again at every request; without
// one, the endpoint answers 502 (failing) or 504 (not answering in time),
// and so does the proxy when the API itself fails. Each case has an
// endpoint of its own: an endpoint leaves a failing Akiflow alone for a
// few seconds.
func TestServeWhenAkiflowFails(t *testing.T) {
	t.Parallel()
	w := newServeWorld(t)
	token := w.login(alice)

	r := w.serve("--timeout", "1s")
	unavailable := akiflowtest.RetryAfter(503, 0)
	w.srv.Fail(akiflowtest.RouteRefresh, unavailable, unavailable, unavailable)
	w.nearExpiry(alice) // under --min-ttl, still good for a minute
	before := w.counts()
	for range 5 {
		check(t, "still-good token while Akiflow fails", getToken(t, r.tokenURL).AccessToken, token)
		check(t, "the proxy meanwhile", do(t, "GET", r.proxyURL+"/v5/tasks", nil).status, 200)
	}
	w.checkRequests(before, map[string]int{"csrf-cookie": 3, "refresh": 3}) // one refresh, tried three times
	res := r.end(0)
	if !strings.Contains(res.stderr, "warning") || !strings.Contains(res.stderr, "503") {
		t.Errorf("no warning naming the failure:\n%s", redact(res.stderr))
	}

	r = w.serve("--timeout", "1s")
	w.expire(alice)
	w.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(502, "text/html", "<html>Bad Gateway</html>"))
	got := do(t, "GET", r.tokenURL, nil)
	check(t, "expired, Akiflow failing: status", got.status, 502)
	check(t, "expired, Akiflow failing: error", failureOf(t, got).Error, "unavailable")
	check(t, "expired, Akiflow failing: the proxy", do(t, "GET", r.proxyURL+"/v5/tasks", nil).status, 502)
	r.end(0)

	r = w.serve("--timeout", "1s")
	w.expire(alice)
	w.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Hang())
	got = do(t, "GET", r.tokenURL, nil)
	check(t, "expired, Akiflow hanging: status", got.status, 504)
	check(t, "expired, Akiflow hanging: error", failureOf(t, got).Error, "timeout")
	r.end(0)

	r = w.serve("--timeout", "1s") // the session survived: this refreshes
	defer r.end(0)
	w.srv.Fail(akiflowtest.RouteAPI, akiflowtest.Hang())
	start := time.Now()
	got = do(t, "GET", r.proxyURL+"/v5/tasks", nil)
	check(t, "API hanging: status", got.status, 504)
	check(t, "API hanging: error", failureOf(t, got).Error, "timeout")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the proxy waited %s for headers, with --timeout 1s", d)
	}
	w.srv.Fail(akiflowtest.RouteAPI, akiflowtest.Reset())
	check(t, "API resetting: status", do(t, "GET", r.proxyURL+"/v5/tasks", nil).status, 502)
}

// A 401 from the API to a request that carried the current token (revoked
// early) forces one refresh and the request is sent again, once; a body
// too large to keep gets the 401 as it came.
func TestServeProxyRetriesAfter401(t *testing.T) {
	w := newServeWorld(t)
	first := w.login(alice)
	r := w.serve()
	defer r.end(0)
	revoked := akiflowtest.Reply(401, "application/json", `{"message":"Unauthenticated."}`)

	w.srv.Fail(akiflowtest.RouteAPI, revoked)
	before := w.counts()
	got := do(t, "POST", r.proxyURL+"/v5/tasks", strings.NewReader(`{"title":"x"}`), "Content-Type", "application/json")
	check(t, "after a 401 and a refresh: status", got.status, 200)
	w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
	checkChanged(t, "the token after the forced refresh", getToken(t, r.tokenURL).AccessToken, first)
	check(t, "the API saw the request twice", w.srv.Count(akiflowtest.RouteAPI)-before[akiflowtest.RouteAPI], 2)

	w.srv.Fail(akiflowtest.RouteAPI, revoked)
	before = w.counts()
	big := strings.Repeat("x", 2<<20)
	got = do(t, "POST", r.proxyURL+"/v5/tasks", strings.NewReader(big))
	check(t, "a 2 MiB body: the 401 passes", got.status, 401)
	w.checkRequests(before, map[string]int{})
	check(t, "a 2 MiB body: the API saw it once", w.srv.Count(akiflowtest.RouteAPI)-before[akiflowtest.RouteAPI], 1)
	check(t, "a 2 MiB body streams through", do(t, "PUT", r.proxyURL+"/v5/tasks", strings.NewReader(big)).status, 200)
}

// exec --serve passes the command's exit status on; SIGTERM and SIGHUP
// reach the command; SIGINT sent to exec --serve alone is not sent on
// (Ctrl-C reaches the command from the terminal); a command killed by a
// signal makes exec --serve die of it; the endpoint lives exactly as long
// as the command.
func TestServeSignalsAndExitStatus(t *testing.T) {
	t.Parallel()
	w := newServeWorld(t)
	w.login(alice)

	r := w.serve()
	res := r.end(7)
	check(t, "exit status passes through", res.code, 7)
	check(t, "nothing on stdout", res.stdout, "")
	if _, err := client.Get(r.tokenURL); err == nil {
		t.Errorf("the endpoint still answers after the command ended")
	}

	// stdin, stdout and the caller's other descriptors are the command's.
	out := filepath.Join(t.TempDir(), "three")
	res = w.runProgram(strings.NewReader("hello"), nil, "sh", "-c",
		`akiflow-token exec --serve -- sh -c 'cat; echo " there" >&3; test -n "$AKIFLOW_PROXY_URL"' 3>"$1"`, "sh", out)
	check(t, "stdin and stdout pass through", res.stdout, "hello")
	check(t, "exit status", res.code, 0)
	three, _ := os.ReadFile(out)
	check(t, "what the command wrote on fd 3", string(three), " there\n")

	trapper := `trap 'echo "got $1"; exit 5' "$1"; trap 'echo "got INT"' INT; echo ready; while :; do sleep 0.02; done`
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		res := w.signalServe(t, trapper, sig)
		check(t, sig.String()+": exit status (the command's)", res.code, 5)
		check(t, sig.String()+": the command's output", res.stdout, "ready\ngot "+sigName(sig)+"\n")
	}

	// SIGINT to exec --serve alone: not passed on, and not fatal.
	run := w.startCommand("exec", "--serve", "--", "sh", "-c", trapper, "sh", "TERM")
	waitUntil(t, "the command is ready", func() bool { return strings.Contains(run.stdout.String(), "ready") })
	syscall.Kill(run.cmd.Process.Pid, syscall.SIGINT)
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(run.cmd.Process.Pid, syscall.SIGTERM)
	res = run.wait()
	check(t, "SIGINT then SIGTERM: exit status", res.code, 5)
	check(t, "SIGINT is not passed on", res.stdout, "ready\ngot TERM\n")

	// A command killed by a signal: exec --serve dies of it.
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE, syscall.SIGUSR1} {
		if runtime.GOOS != "linux" && sig != syscall.SIGKILL && sig != syscall.SIGTERM {
			continue // elsewhere the others exit 128 + the signal
		}
		// No core file, of the command or of exec --serve.
		run := w.startProgram("sh", "-c", `ulimit -c 0; exec "$0" "$@"`, binary, "exec", "--serve", "--", "sh", "-c", `kill -s "$1" $$`, "sh", sigName(sig))
		run.wait()
		ws := run.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != sig {
			t.Errorf("a command killed by %v: exec --serve ended with %v, not killed by %v; stderr:\n%s", sig, run.cmd.ProcessState, sig, redact(run.stderr.String()))
		}
	}
}

// In a terminal, Ctrl-C reaches the command once (from the terminal, as
// it reaches exec --serve, which does not send it again).
func TestServeCtrlCReachesTheCommandOnce(t *testing.T) {
	w := newServeWorld(t)
	w.login(alice)
	counter := `n=0; trap 'n=$((n+1))' INT; echo ready >&2
while [ "$n" = 0 ]; do sleep 0.02; done; sleep 0.5; echo "SIGINTs: $n"; exit 3`
	term := w.start("exec", "--serve", "--", "sh", "-c", counter)
	term.expect("ready")
	term.tty.Write([]byte{3}) // Ctrl-C
	res := term.wait()
	check(t, "exit status (the command's)", res.code, 3)
	check(t, "SIGINTs the command got", res.stdout, "SIGINTs: 1\n")
}

// commandRun is akiflow-token running with no terminal, its output read as
// it comes.
type commandRun struct {
	w              *world
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{}
	res            result
}

func (w *world) startCommand(args ...string) *commandRun {
	w.t.Helper()
	return w.startProgram(binary, args...)
}

// startProgram is startCommand for any program (a shell that runs
// akiflow-token).
func (w *world) startProgram(name string, args ...string) *commandRun {
	w.t.Helper()
	r := &commandRun{w: w, done: make(chan struct{})}
	r.cmd = exec.Command(name, args...)
	r.cmd.Env = append([]string(nil), w.env...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() {
		err := r.cmd.Wait()
		code := -1
		if err == nil || r.cmd.ProcessState != nil {
			code = r.cmd.ProcessState.ExitCode()
		}
		r.res = result{stdout: r.stdout.String(), stderr: r.stderr.String(), code: code}
		close(r.done)
	}()
	w.t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

func (r *commandRun) wait() result {
	r.w.t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.w.t.Fatalf("akiflow-token did not end")
	}
	r.w.checkNoSecrets("stderr", r.res.stderr)
	return r.res
}

// signalServe runs exec --serve on script (with the signal's name as $1),
// sends sig to exec --serve alone once the script is ready, and waits for
// the end.
func (w *world) signalServe(t *testing.T, script string, sig syscall.Signal) result {
	t.Helper()
	run := w.startCommand("exec", "--serve", "--", "sh", "-c", script, "sh", sigName(sig))
	waitUntil(t, "the command is ready", func() bool { return strings.Contains(run.stdout.String(), "ready") })
	syscall.Kill(run.cmd.Process.Pid, sig)
	return run.wait()
}

// sigName is a signal's name as sh's trap and kill take it.
func sigName(sig syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGTERM: "TERM", syscall.SIGHUP: "HUP", syscall.SIGINT: "INT", syscall.SIGKILL: "KILL",
		syscall.SIGQUIT: "QUIT", syscall.SIGPIPE: "PIPE", syscall.SIGUSR1: "USR1"}[sig]
}

// serve, for a service manager: the URLs as export lines on stdout or in a
// 0600 file, until SIGTERM; without a session it starts all the same and
// answers 503 until a login.
func TestServeCommand(t *testing.T) {
	w := newServeWorld(t)
	w.login(alice)

	run := w.startCommand("serve")
	waitUntil(t, "the URLs on stdout", func() bool { return strings.Count(run.stdout.String(), "\n") == 2 })
	env := exportLines(t, run.stdout.String())
	check(t, "token URL", getToken(t, env["AKIFLOW_TOKEN_URL"]).Email, alice)
	check(t, "proxy URL", do(t, "GET", env["AKIFLOW_PROXY_URL"]+"/v5/tasks", nil).status, 200)
	syscall.Kill(run.cmd.Process.Pid, syscall.SIGTERM)
	res := run.wait()
	check(t, "SIGTERM: exit status", res.code, 0)
	check(t, "stderr", res.stderr, "")

	// --url-file, a fixed --listen, and no session yet.
	w.run("logout")
	file := filepath.Join(t.TempDir(), "urls")
	port := freePort(t)
	run = w.startCommand("serve", "--url-file", file, "--listen", "127.0.0.1:"+port)
	waitUntil(t, "the URL file", func() bool { _, err := os.Stat(file); return err == nil })
	info, _ := os.Stat(file)
	check(t, "URL file mode", info.Mode().Perm(), os.FileMode(0o600))
	data, _ := os.ReadFile(file)
	env = exportLines(t, string(data))
	if !strings.HasPrefix(env["AKIFLOW_TOKEN_URL"], "http://127.0.0.1:"+port+"/") {
		t.Errorf("--listen was not used: %s", redactURL(env["AKIFLOW_TOKEN_URL"]))
	}
	check(t, "no session yet: status", do(t, "GET", env["AKIFLOW_TOKEN_URL"], nil).status, 503)
	w.login(alice)
	check(t, "after the login", getToken(t, env["AKIFLOW_TOKEN_URL"]).Email, alice)
	syscall.Kill(run.cmd.Process.Pid, syscall.SIGINT)
	res = run.wait()
	check(t, "SIGINT: exit status", res.code, 0)
	check(t, "stdout with --url-file", res.stdout, "")
	if _, err := os.Stat(file); err == nil {
		t.Errorf("the URL file is left behind")
	}
}

// exportLines parses serve's output: export NAME=value lines.
func exportLines(t *testing.T, out string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		name, value, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 {
			t.Fatalf("not an export line: %q", redactURL(line))
		}
		env[name] = value
	}
	if len(env) != 2 || env["AKIFLOW_TOKEN_URL"] == "" || env["AKIFLOW_PROXY_URL"] == "" {
		t.Fatalf("want AKIFLOW_TOKEN_URL and AKIFLOW_PROXY_URL, got %d lines", len(env))
	}
	return env
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
