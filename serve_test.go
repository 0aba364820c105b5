//go:build unix

// End-to-end tests of the local endpoint: exec --serve and serve, run as a
// program that runs longer than a token lives (an MCP server, a daemon)
// would use them, against the fake Akiflow server. The endpoint's rules in
// process (capabilities, the proxy's forwarding, one refresh for a burst)
// are helper/endpoint's tests; what exec --serve and serve refuse to start
// with is serve_refusals.txtar.
package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// endpointRun is akiflow-token exec --serve running a command (spyScript)
// that hands the endpoint's URLs to the test through a file, then waits
// until the test tells it to end.
type endpointRun struct {
	*commandRun
	dir                string
	tokenURL, proxyURL string
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
	return w.serveScript(spyScript, args...)
}

// serveScript is serve with a script that ends as spyScript does. Args
// after an "exec" among them go after exec --serve.
func (w *world) serveScript(script string, args ...string) *endpointRun {
	w.t.Helper()
	r := &endpointRun{dir: w.t.TempDir()}
	head, tail := args, []string(nil)
	if i := slices.Index(args, "exec"); i >= 0 {
		head, tail = args[:i], args[i+1:]
	}
	argv := append(append(append(append([]string(nil), head...), "exec", "--serve"), tail...), "--", "sh", "-c", script, "sh", r.dir)
	r.commandRun = w.startCommand(argv...)
	waitUntil(w.t, "the command reports the endpoint's URLs", func() bool {
		select {
		case <-r.done:
			w.t.Fatalf("exec --serve ended (exit %d) before its command started; stderr:\n%s", r.res.code, redact(r.res.stderr))
		default:
		}
		data, err := os.ReadFile(filepath.Join(r.dir, "urls"))
		if err != nil {
			return false
		}
		lines := strings.Split(string(data), "\n")
		r.tokenURL, r.proxyURL = lines[0], lines[1]
		if lines[2] != "token" {
			w.t.Errorf("the command has no AKIFLOW_TOKEN")
		}
		return true
	})
	return r
}

// end tells the command to exit with status and waits for exec --serve.
func (r *endpointRun) end(status int) result {
	r.w.t.Helper()
	os.WriteFile(filepath.Join(r.dir, "stop.tmp"), []byte(fmt.Sprint(status)), 0o600)
	os.Rename(filepath.Join(r.dir, "stop.tmp"), filepath.Join(r.dir, "stop"))
	return r.wait()
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
// environment: until $1/stop appears, it asks the token URL for tokens and
// calls the API with them, and calls the API through the proxy; every call
// must succeed. It writes the distinct tokens it got so far to $1/seen, and
// at the end prints what it did as JSON.
const consumerScript = `
import calendar, json, os, sys, time, urllib.error, urllib.request

opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
token_url = os.environ["AKIFLOW_TOKEN_URL"]
proxy_url = os.environ["AKIFLOW_PROXY_URL"]
api = os.environ["FAKE_API"]
folder = sys.argv[1]

def get(url, headers={}):
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

counts = {"token": 0, "raw": 0, "proxy": 0, "direct": 0}
failures = []
seen = set()
while not os.path.exists(os.path.join(folder, "stop")):
    asked = time.time()
    status, body = get(token_url)
    if status != 200:
        failures.append("token URL: %d %s" % (status, body[:300].decode("utf-8", "replace")))
        continue
    counts["token"] += 1
    j = json.loads(body)
    # A cached token is served with at least the effective --min-ttl left;
    # one that a request waited for was just refreshed.
    left = calendar.timegm(time.strptime(j["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - asked
    if left <= 0:
        failures.append("token URL: a token that had expired when it was asked for (%.2fs)" % left)
    if j["access_token"] not in seen:
        seen.add(j["access_token"])
        with open(os.path.join(folder, "seen.tmp"), "w") as f:
            f.write(str(len(seen)))
        os.rename(os.path.join(folder, "seen.tmp"), os.path.join(folder, "seen"))
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
print(json.dumps({"counts": counts, "failures": failures, "tokens": len(seen)}))
sys.exit(1 if failures else 0)
`

// A consumer runs through several refreshes of tokens that, as
// akiflow-token sees them, live 4 seconds, while plain akiflow-token calls
// run beside it: every call, through the proxy and with tokens from the
// token URL, succeeds, and the token URL never serves a token that had
// expired when it was asked for. They share one session: no refresh token
// is ever sent twice (the fake would refuse it, and the session would be
// lost). Nothing here waits for a time: the refresh replies say 4 seconds
// but the fake accepts the tokens for its usual 30 minutes (a slow machine
// cannot make the API refuse one), and the test waits for events
// (refreshes, tokens the consumer used). (That a burst costs one refresh,
// and a short-lived token one refresh per half lifetime, is
// helper/endpoint's TestTokenURLRefreshesOnceForABurst and helper's
// TestTokenShortLivedServerTokens, on fake clocks.)
func TestServeLongRunSharesOneSession(t *testing.T) {
	t.Parallel()
	needLong(t)
	needTool(t, "python3")
	w := newServeWorld(t)
	const lifetime = 4 // seconds, as akiflow-token sees it: the effective --min-ttl is half of it
	short := func(reply map[string]any) {
		if _, ok := reply["access_token"]; ok {
			reply["expires_in"] = lifetime
		}
	}
	w.login(alice)
	w.expire(alice) // the first call refreshes: from then on, every token is short-lived
	rewrites := make([]akiflowtest.Fault, 1000)
	for i := range rewrites {
		rewrites[i] = akiflowtest.Rewrite(akiflowtest.RouteRefresh, short)
	}
	w.srv.Fail(akiflowtest.RouteRefresh, rewrites...)

	dir := t.TempDir()
	script := filepath.Join(dir, "consumer.py")
	os.WriteFile(script, []byte(consumerScript), 0o600)
	before := w.counts()
	cmd := exec.Command(binary, "exec", "--serve", "--", "python3", script, dir)
	cmd.Env = append(append([]string(nil), w.env...), "FAKE_API="+w.srv.URL)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Plain calls beside it, as a shell or kubectl would make them, until
	// the session was refreshed a few times and the consumer used tokens
	// of three of them.
	const refreshes, tokens = 3, 3
	plain := 0
	deadline := time.Now().Add(2 * time.Minute)
	for {
		data, _ := os.ReadFile(filepath.Join(dir, "seen"))
		seen, _ := strconv.Atoi(string(data))
		if w.srv.Count(akiflowtest.RouteRefresh)-before[akiflowtest.RouteRefresh] >= refreshes && seen >= tokens {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("exec --serve ended early (%v); stdout:\n%s\nstderr:\n%s", err, redact(stdout.String()), redact(stderr.String()))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes: %d refreshes, the consumer saw %d tokens", w.srv.Count(akiflowtest.RouteRefresh)-before[akiflowtest.RouteRefresh], seen)
		}
		w.tokenOf(w.run())
		plain++
		time.Sleep(20 * time.Millisecond) // pacing, not a wait for anything
	}
	os.WriteFile(filepath.Join(dir, "stop"), nil, 0o600)
	var err error
	select {
	case err = <-done:
	case <-time.After(patience):
		t.Fatal("the consumer did not stop")
	}
	check(t, "exit status of exec --serve (the consumer's)", exitCode(t, err), 0)
	w.checkNoSecrets("stderr", stderr.String())
	w.checkNoSecrets("stdout", stdout.String())
	var report struct {
		Counts   map[string]int
		Failures []string
		Tokens   int
	}
	if err := json.Unmarshal([]byte(stdout.String()), &report); err != nil {
		t.Fatalf("the consumer's report: %v\nstdout: %s\nstderr: %s", err, redact(stdout.String()), redact(stderr.String()))
	}
	for _, f := range report.Failures {
		t.Errorf("consumer: %s", redact(f))
	}
	t.Logf("%v calls of the consumer with %d tokens, %d plain calls, %d refreshes",
		report.Counts, report.Tokens, plain, w.srv.Count(akiflowtest.RouteRefresh)-before[akiflowtest.RouteRefresh])
	// Every refresh the fake answered issued a pair: had one been refused
	// (a refresh token sent twice), the pairs would be fewer.
	issued := len(w.srv.Secrets())/2 - w.srv.Count(akiflowtest.RouteMe)
	check(t, "refreshes that the fake accepted, of all refreshes", issued, w.srv.Count(akiflowtest.RouteRefresh))
	check(t, "the session is alive at the end", w.run("status").code, 0)
}

func TestServeTokenURLAnswersAsOutputJSON(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("skipped: the endpoint tells users apart on Linux only")
	}
	needRoot(t, "to connect as another user")
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

// Another user's flood of the endpoint's port holds up no request of the
// endpoint's user: while a process of uid 65534 keeps 2,000 connections
// open (the endpoint closes each, since it is another user's, and the
// flood opens another at once), a GET of the token URL is answered, 200,
// and the flood is still going when it is. (That another user's
// connection is refused at all is TestServeRefusesOtherUsers.)
func TestServeAnswersUnderAnotherUsersFlood(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("skipped: the endpoint tells users apart on Linux only")
	}
	needRoot(t, "to flood the endpoint as another user")
	w := newServeWorld(t)
	w.login(alice)
	r := w.serve()
	defer r.end(0)
	u, err := url.Parse(r.tokenURL)
	if err != nil {
		t.Fatal(err)
	}

	flood := w.helperCommand(nobody, "flood", u.Host, "2000")
	stop, err := flood.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr lockedBuffer
	flood.Stdout, flood.Stderr = &stdout, &stderr
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	go func() {
		flood.Wait()
		close(ended)
	}()
	t.Cleanup(func() {
		flood.Process.Kill()
		<-ended
	})
	waitUntil(t, "the flood holds its connections open", func() bool {
		select {
		case <-ended:
			t.Fatalf("the flood ended before it was ready: %v\n%s%s", flood.ProcessState, stdout.String(), stderr.String())
		default:
		}
		return strings.HasPrefix(stdout.String(), "ready ")
	})

	start := time.Now()
	got := getToken(t, r.tokenURL)
	took := time.Since(start)
	check(t, "the token URL's account, under the flood", got.Email, alice)
	select {
	case <-ended:
		t.Errorf("the flood ended before the request was answered: %v\n%s", flood.ProcessState, stderr.String())
	default:
	}

	stop.Close()
	select {
	case <-ended:
	case <-time.After(patience):
		t.Fatal("the flood did not stop")
	}
	var report floodReport
	if lines := strings.Split(strings.TrimSpace(stdout.String()), "\n"); json.Unmarshal([]byte(lines[len(lines)-1]), &report) != nil {
		t.Fatalf("the flood's report: %q %q", stdout.String(), stderr.String())
	}
	if report.Opened <= int64(report.Held) {
		t.Errorf("the flood opened %d connections for %d held: the endpoint closed none of them", report.Opened, report.Held)
	}
	t.Logf("a GET of the token URL took %s while another user held %d connections open, %d opened in all (%.0f a second, %d refused at connect)",
		took.Round(time.Microsecond), report.Held, report.Opened, float64(report.Opened)/report.Seconds, report.Failed)
}

// floodReport is what floodMain did.
type floodReport struct {
	Held    int     `json:"held"`    // connections kept open at once
	Opened  int64   `json:"opened"`  // in all
	Failed  int64   `json:"failed"`  // connects that failed
	Seconds float64 `json:"seconds"` // from the first connect to the end
}

// floodMain ADDR N, a helper program: keeps N connections to ADDR open,
// opening another each time one is closed, until its stdin closes. It
// prints "ready N" once N are open at once (fewer if its descriptor limit
// says so), and at the end a floodReport.
func floodMain(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: flood ADDR N")
		return 2
	}
	addr := args[0]
	n, err := strconv.Atoi(args[1])
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "flood: N is a count")
		return 2
	}
	var limit syscall.Rlimit                                                                         // Go has raised it to the hard limit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit) == nil && uint64(n)+64 > uint64(limit.Cur) { // Cur is int64 on FreeBSD
		n = int(limit.Cur) - 64
	}
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	var opened, failed atomic.Int64
	var ready sync.WaitGroup
	ready.Add(n)
	start := time.Now()
	for range n {
		go func() {
			first := true
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					failed.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				opened.Add(1)
				if first {
					first = false
					ready.Done()
				}
				io.Copy(io.Discard, c) // held until the endpoint closes it
				c.Close()
			}
		}()
	}
	ready.Wait()
	fmt.Printf("ready %d\n", n)
	<-stop
	json.NewEncoder(os.Stdout).Encode(floodReport{Held: n, Opened: opened.Load(), Failed: failed.Load(), Seconds: time.Since(start).Seconds()})
	return 0
}

// The port the endpoint's URLs name stays taken for as long as the command
// lives, even once exec --serve is killed (SIGKILL: nothing of it runs to
// clean up): the command holds the listening socket too, so that no
// program of another user can listen there and be sent what the command
// sends to its URLs, capabilities and all. Once the command ends, the
// port is free again: the refusal was the command's socket.
func TestServePortStaysTakenWhileTheCommandLives(t *testing.T) {
	t.Parallel()
	needRoot(t, "to listen as another user")
	w := newServeWorld(t)
	w.login(alice)
	// The command ignores SIGTERM (on Linux, exec --serve's death sends it
	// one), and says its pid before its URLs.
	r := w.serveScript(`trap "" TERM; echo $$ > "$1/pid"; ` + spyScript)
	data, err := os.ReadFile(filepath.Join(r.dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	command, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || command <= 1 {
		t.Fatalf("the command's pid: %q", data)
	}
	t.Cleanup(func() { syscall.Kill(command, syscall.SIGKILL) }) // before r's cleanup waits for it
	u, err := url.Parse(r.tokenURL)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + u.Port()
	listen := func() (int, string) {
		t.Helper()
		out, err := w.helperCommand(nobody, "bind", addr).CombinedOutput()
		return exitCode(t, err), strings.TrimSpace(string(out))
	}

	sendSignal(t, r.pid(), syscall.SIGKILL) // exec --serve alone
	waitUntil(t, "exec --serve is gone", func() bool { return !alive(r.pid()) })
	if !alive(command) {
		t.Fatal("the command ended with exec --serve")
	}
	if code, out := listen(); code != 3 {
		t.Errorf("another user listening on the port of the endpoint's URLs once exec --serve was killed: exit %d (%s), want 3: address already in use", code, out)
	}
	if !alive(command) {
		t.Error("the command ended before another user tried the port")
	}

	r.end(0) // the command ends, and with it the last holder of the socket
	if code, out := listen(); code != 0 {
		t.Errorf("another user listening on the port once the command ended: exit %d (%s), want 0", code, out)
	}
}

// bindMain ADDR, a helper program: tries to listen on ADDR, with
// SO_REUSEADDR (as every Go listener) and SO_REUSEPORT (how a port is
// shared). It exits 0 if it could (and lets go at once), 3 if the address
// is in use, 1 otherwise, and says so on stdout.
func bindMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: bind ADDR")
		return 2
	}
	l, err := reusePort.Listen(context.Background(), "tcp", args[0])
	switch {
	case err == nil:
		l.Close()
		fmt.Println("listening on", args[0])
		return 0
	case errors.Is(err, syscall.EADDRINUSE):
		fmt.Println(err)
		return 3
	}
	fmt.Println(err)
	return 1
}

// A login needed before the command starts follows the CLI's rules: with
// no terminal, exit 3 and the command does not run; at a terminal, the
// login is asked for, then the command runs.
func TestServeLoginBeforeTheCommand(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
	w := newServeWorld(t)
	w.login(alice)
	r := w.serve()
	first := getToken(t, r.tokenURL).AccessToken
	check(t, "the proxy works", do(t, "GET", r.proxyURL+"/v5/tasks", nil).status, 200)

	w.srv.Revoke(alice) // logged out elsewhere: the refresh token is dead
	w.expire(alice)
	// The endpoint serves its last cache hit from memory for a moment
	// (helper/endpoint's hitFor): the expired session shows once it has
	// passed.
	var got reply
	waitUntil(t, "the token URL sees the expired session", func() bool {
		got = do(t, "GET", r.tokenURL, nil)
		return got.status != 200
	})
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
// and so does the proxy when the API itself fails. --timeout is short only
// where Akiflow or the API hangs.
func TestServeWhenAkiflowFails(t *testing.T) {
	t.Parallel()
	t.Run("a still-good token", func(t *testing.T) {
		t.Parallel()
		w := newServeWorld(t)
		token := w.login(alice)
		r := w.serve("--timeout", "30s")
		unavailable := akiflowtest.RetryAfter(503, 0)
		w.srv.Fail(akiflowtest.RouteRefresh, unavailable, unavailable, unavailable)
		w.nearExpiry(alice) // under --min-ttl, still good for a minute
		before, start := w.counts(), time.Now()
		for range 3 {
			check(t, "still-good token while Akiflow fails", getToken(t, r.tokenURL).AccessToken, token)
			check(t, "the proxy meanwhile", do(t, "GET", r.proxyURL+"/v5/tasks", nil).status, 200)
		}
		// One refresh, tried three times, and left alone for the endpoint's
		// 5 s hold-off: checked when these requests took less than that, as
		// they do but on a machine too busy to tell.
		if took := time.Since(start); took < 4*time.Second {
			w.checkRequests(before, map[string]int{"csrf-cookie": 3, "refresh": 3})
		} else {
			t.Logf("the requests took %s: too long to check the hold-off", took)
		}
		res := r.end(0)
		if !strings.Contains(res.stderr, "warning") || !strings.Contains(res.stderr, "503") {
			t.Errorf("no warning naming the failure:\n%s", redact(res.stderr))
		}
	})

	t.Run("Akiflow failing", func(t *testing.T) {
		t.Parallel()
		w := newServeWorld(t)
		w.login(alice)
		r := w.serve("--timeout", "30s")
		defer r.end(0)
		w.expire(alice)
		w.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Reply(502, "text/html", "<html>Bad Gateway</html>"))
		got := do(t, "GET", r.tokenURL, nil)
		check(t, "status", got.status, 502)
		check(t, "error", failureOf(t, got).Error, "unavailable")
		check(t, "the proxy", do(t, "GET", r.proxyURL+"/v5/tasks", nil).status, 502)
	})

	t.Run("Akiflow hanging", func(t *testing.T) {
		t.Parallel()
		w := newServeWorld(t)
		w.login(alice)
		r := w.serve("--timeout", "1s")
		defer r.end(0)
		w.expire(alice)
		w.srv.Fail(akiflowtest.RouteRefresh, akiflowtest.Hang())
		got := do(t, "GET", r.tokenURL, nil)
		check(t, "status", got.status, 504)
		check(t, "error", failureOf(t, got).Error, "timeout")
		w.tokenOf(w.run()) // the session survived: this refreshes it
	})

	t.Run("the API hanging or resetting", func(t *testing.T) {
		t.Parallel()
		w := newServeWorld(t)
		w.login(alice)
		r := w.serve("--timeout", "1s")
		defer r.end(0)
		w.srv.Fail(akiflowtest.RouteAPI, akiflowtest.Hang())
		got := do(t, "GET", r.proxyURL+"/v5/tasks", nil)
		check(t, "hanging: status", got.status, 504)
		check(t, "hanging: error", failureOf(t, got).Error, "timeout")
		w.srv.Fail(akiflowtest.RouteAPI, akiflowtest.Reset())
		check(t, "resetting: status", do(t, "GET", r.proxyURL+"/v5/tasks", nil).status, 502)
	})
}

// A 401 from the API to a request that carried the current token (revoked
// early) forces one refresh and the request is sent again, once; a body
// too large to keep gets the 401 as it came.
func TestServeProxyRetriesAfter401(t *testing.T) {
	t.Parallel()
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
	// Had exec --serve passed SIGINT on, the command would get it before
	// SIGTERM (a lower signal, sent first), and say so.
	syscall.Kill(run.pid(), syscall.SIGINT)
	syscall.Kill(run.pid(), syscall.SIGTERM)
	res = run.wait()
	check(t, "SIGINT then SIGTERM: exit status", res.code, 5)
	check(t, "SIGINT is not passed on", res.stdout, "ready\ngot TERM\n")

	// A command killed by a signal: exec --serve dies of it.
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE, syscall.SIGUSR1} {
		if runtime.GOOS != "linux" && sig != syscall.SIGKILL && sig != syscall.SIGTERM {
			continue // elsewhere the others exit 128 + the signal
		}
		// No core file, of the command or of exec --serve.
		run := w.startProgram(nil, "sh", "-c", `ulimit -c 0; exec "$0" "$@"`, binary, "exec", "--serve", "--", "sh", "-c", `kill -s "$1" $$`, "sh", sigName(sig))
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
	t.Parallel()
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
	t.Parallel()
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
