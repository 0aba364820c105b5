//go:build windows

package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"akiflow-token/cache"
	"akiflow-token/helper"
	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/akiflow/akiflowtest"
	"akiflow-token/helper/store"
)

const alice = "alice@example.com"

// world is one fake Akiflow and one cache folder, shared by the program's
// runs and the test's own look at the cache.
type world struct {
	t     *testing.T
	bin   string
	srv   *akiflowtest.Server
	env   []string
	store *cache.Store
}

func newWorld(t *testing.T) *world {
	t.Helper()
	bin := os.Getenv("AKIFLOW_TEST_WINDOWS_BINARY")
	if bin == "" {
		t.Skip("AKIFLOW_TEST_WINDOWS_BINARY is unset: testdata/wine/test.sh builds the program and sets it")
	}
	srv := akiflowtest.NewServer()
	t.Cleanup(srv.Close)
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", home) // for the test's own store, as for the program
	w := &world{t: t, bin: bin, srv: srv}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AKIFLOW_") {
			w.env = append(w.env, kv)
		}
	}
	w.env = append(w.env, "XDG_CACHE_HOME="+home, "AKIFLOW_BASE_URL="+srv.URL)
	u, _ := url.Parse(srv.URL)
	w.store = cache.Open(u.Host, helper.MaxRecordSize)
	return w
}

// seed saves a session of alice whose tokens the fake issued, expiring at
// expires, as a login would have: it returns the access token.
func (w *world) seed(expires time.Time) string {
	w.t.Helper()
	base, _ := url.Parse(w.srv.URL)
	c := akiflow.NewClient(akiflow.ClientConfig{BaseURL: base, Timeout: 5 * time.Second})
	ctx := context.Background()
	codeURL, err := c.StartLogin(ctx, alice)
	if err == nil {
		err = c.SubmitCode(ctx, codeURL, alice, w.srv.Code(alice))
	}
	var tokens *akiflow.Tokens
	if err == nil {
		tokens, err = c.Me(ctx)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.put(tokens.AccessToken, tokens.RefreshToken, expires)
	return tokens.AccessToken
}

// put writes alice's record, as the program writes it.
func (w *world) put(access, refresh string, expires time.Time) {
	w.t.Helper()
	record := fmt.Sprintf(`{"format":1,"email":%q,"base_url":%q,"client_id":"0f5e2a1c-3b4d-4e6f-8a9b-0c1d2e3f4a5b","access_token":%q,"refresh_token":%q,"expires_at":%q,"generation":1}`,
		alice, w.srv.URL, access, refresh, expires.UTC().Format(time.RFC3339))
	if err := store.Replace(w.store, alice, func() ([]byte, error) { return []byte(record), nil }); err != nil {
		w.t.Fatal(err)
	}
}

// expire sets alice's access token to have expired, keeping its tokens.
func (w *world) expire() {
	w.t.Helper()
	data, err := w.store.Read(alice)
	if err != nil {
		w.t.Fatal(err)
	}
	s, err := helper.ParseSession(data)
	if err != nil {
		w.t.Fatal(err)
	}
	w.put(s.AccessToken, s.RefreshToken, time.Now().Add(-time.Minute))
}

type result struct {
	code           int
	stdout, stderr string
}

func (w *world) run(args ...string) result {
	w.t.Helper()
	cmd := exec.Command(w.bin, args...)
	cmd.Env = w.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return result{code, stdout.String(), stderr.String()}
}

// tokenOf checks a run printed one token line and returns it; failures
// name its length, never the token.
func (w *world) tokenOf(r result) string {
	w.t.Helper()
	tok, ok := strings.CutSuffix(r.stdout, "\n")
	if r.code != 0 || !ok || strings.ContainsAny(tok, "\r\n") || tok == "" {
		w.t.Fatalf("want one token line and exit 0; got exit %d, %d bytes of stdout; stderr:\n%s", r.code, len(r.stdout), r.stderr)
	}
	return tok
}

// The Windows build as a script runs it: a cache hit with no request; an
// expired token refreshed by the detached refresh process (its lock handed
// down and taken over), once for ten processes at once; status; exec
// passing the token and the command's exit status; logout.
func TestWindowsBuild(t *testing.T) {
	w := newWorld(t)
	token := w.seed(time.Now().Add(time.Hour))
	if got := w.tokenOf(w.run()); got != token {
		t.Error("the cache hit printed another token")
	}
	if n := w.srv.Count(akiflowtest.RouteRefresh); n != 0 {
		t.Errorf("a cache hit sent %d refreshes", n)
	}

	w.expire()
	r := w.run("-e", alice, "-v")
	fresh := w.tokenOf(r)
	if fresh == token || w.srv.Count(akiflowtest.RouteRefresh) != 1 {
		t.Fatalf("the expired token: a new one %v, %d refreshes", fresh != token, w.srv.Count(akiflowtest.RouteRefresh))
	}
	// By the detached refresh process, not in this one.
	if strings.Contains(r.stderr, "refreshing in this process") || !strings.Contains(r.stderr, "saved the refreshed session") {
		t.Errorf("the refresh was not the refresh process's:\n%s", r.stderr)
	}

	w.expire()
	var wg sync.WaitGroup
	results := make([]result, 10)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = w.run() }()
	}
	wg.Wait()
	for i, r := range results {
		w.tokenOf(r)
		if r.code != 0 {
			t.Errorf("caller %d: exit %d", i, r.code)
		}
	}
	if n := w.srv.Count(akiflowtest.RouteRefresh); n != 2 {
		t.Errorf("ten callers on an expired token sent %d refreshes, want one", n-1)
	}

	if r := w.run("status"); r.code != 0 || !strings.Contains(r.stdout, "account: "+alice) || !strings.Contains(r.stdout, "refresh: held") {
		t.Errorf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = w.run("exec", "--", "cmd", "/c", "if defined AKIFLOW_TOKEN (exit 7) else (exit 9)")
	if r.code != 7 {
		t.Errorf("exec: exit %d, want the command's 7 (the token in AKIFLOW_TOKEN); stderr:\n%s", r.code, r.stderr)
	}

	if r := w.run("logout"); r.code != 0 || r.stderr != "logged out "+alice+"\n" {
		t.Errorf("logout: exit %d, %q", r.code, r.stderr)
	}
	if r := w.run("--non-interactive"); r.code != 3 {
		t.Errorf("after logout: exit %d, want 3", r.code)
	}
	if _, err := os.Stat(filepath.Join(w.store.Dir(), alice+".json")); err != nil {
		t.Errorf("the record after logout: %v", err)
	}
}
