// End-to-end tests of the callers' protocols, through the real git,
// kubectl and curl (the README says what each expects), and of the README's recipes.
package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// needTool fails (never skips) when a program the tests drive is missing:
// .ci/run installs them.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: .ci/run installs it", name)
	}
}

// gitLines parses git's key=value output.
func gitLines(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func (w *world) git(stdin string, args ...string) result {
	w.t.Helper()
	return w.runProgram(strings.NewReader(stdin), []string{"GIT_TERMINAL_PROMPT=0"}, "git", args...)
}

func TestGitCredentialHelper(t *testing.T) {
	needTool(t, "git")
	for _, setup := range []struct {
		name   string
		helper string
	}{
		{"shell command", "!akiflow-token git-credential"},
		{"git-credential-akiflow", "akiflow"},
	} {
		t.Run(setup.name, func(t *testing.T) {
			w := newWorld(t)
			first := w.login(alice)
			// The README's recipe: reset the URL's helper list, then add
			// ours; run twice, as a person may.
			for range 2 {
				check(t, "git config --replace-all", w.git("", "config", "--global", "--replace-all", "credential."+w.srv.URL+".helper", "").code, 0)
				check(t, "git config --add", w.git("", "config", "--global", "--add", "credential."+w.srv.URL+".helper", setup.helper).code, 0)
			}
			helpers := w.git("", "config", "--global", "--get-all", "credential."+w.srv.URL+".helper")
			check(t, "the helper list", helpers.stdout, "\n"+setup.helper+"\n")

			request := "url=" + w.srv.URL + "/repo.git\n\n"
			before := w.counts()
			res := w.git(request, "credential", "fill")
			check(t, "git credential fill exit", res.code, 0)
			got := gitLines(res.stdout)
			check(t, "username", got["username"], alice)
			check(t, "the cached token", got["password"], first)
			w.checkAccepted(got["password"])
			w.checkRequests(before, map[string]int{})

			// git says the token was rejected: the next fill refreshes
			// silently, once, with no prompt.
			rejected := "url=" + w.srv.URL + "/repo.git\nusername=" + alice + "\npassword=" + first + "\n\n"
			res = w.git(rejected, "credential", "reject")
			check(t, "git credential reject exit", res.code, 0)
			before = w.counts()
			res = w.git(request, "credential", "fill")
			got = gitLines(res.stdout)
			checkChanged(t, "a new token after reject", got["password"], first)
			w.checkAccepted(got["password"])
			w.checkRequests(before, map[string]int{"csrf-cookie": 1, "refresh": 1})
			w.checkNoSecrets("git's stderr", res.stderr)
		})
	}
}

func TestGitGlobalHelperAnswersOnlyAkiflow(t *testing.T) {
	needTool(t, "git")
	w := newWorld(t)
	w.login(alice)
	w.git("", "config", "--global", "credential.helper", "akiflow")
	res := w.git("url=https://github.com/someone/repo.git\n\n", "credential", "fill")
	if strings.Contains(res.stdout, "password=") {
		t.Errorf("git got a password for github.com")
	}
	w.checkNoSecrets("git's stdout", res.stdout)
	// The same helper still answers for the auth host.
	res = w.git("url="+w.srv.URL+"/x\n\n", "credential", "fill")
	w.checkAccepted(gitLines(res.stdout)["password"])
}

// The git here (2.39) sends no capability[] lines and has no capability
// operation: those parts of the protocol are tested by piping git's lines
// into the helper, as a newer git would send them.
func TestGitProtocolLines(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)
	host := strings.TrimPrefix(w.srv.URL, "http://")
	pipe := func(op, lines string, env ...string) result {
		return w.runStdin(strings.NewReader(lines), env, "git-credential", op)
	}

	res := pipe("capability", "")
	check(t, "capability", res.stdout, "version 0\ncapability authtype\n")

	res = pipe("get", "capability[]=authtype\nprotocol=http\nhost="+host+"\n\n")
	got := gitLines(res.stdout)
	check(t, "authtype", got["authtype"], "Bearer")
	check(t, "capability", got["capability[]"], "authtype")
	check(t, "ephemeral", got["ephemeral"], "1")
	check(t, "credential", got["credential"], token)
	check(t, "no password in the Bearer form", got["password"], "")
	if got["password_expiry_utc"] == "" {
		t.Errorf("no password_expiry_utc")
	}

	res = pipe("get", "protocol=http\nhost="+host+"\nusername="+alice+"\n")
	got = gitLines(res.stdout)
	check(t, "password", got["password"], token)
	check(t, "username", got["username"], alice)

	for _, tc := range []struct{ name, op, lines string }{
		{"another host", "get", "protocol=https\nhost=github.com\n\n"},
		{"akiflow.com over plain http", "get", "protocol=http\nhost=api.akiflow.com\n\n"},
		{"a look-alike host", "get", "protocol=https\nhost=akiflow.com.evil.example\n\n"},
		{"store", "store", "protocol=http\nhost=" + host + "\nusername=x\npassword=y\n\n"},
		{"an unknown operation", "frobnicate", "protocol=http\nhost=" + host + "\n\n"},
	} {
		res := pipe(tc.op, tc.lines)
		check(t, tc.name+": exit", res.code, 0)
		check(t, tc.name+": stdout", res.stdout, "")
	}

	res = pipe("get", "this is not key=value\nnor this\n")
	check(t, "a bad line: stdout", res.stdout, "")
	res = pipe("get", strings.Repeat("x", 70000)+"=1\n")
	check(t, "a long line: stdout", res.stdout, "")
	if res.code != 1 || !strings.Contains(res.stderr, "longer than") {
		t.Errorf("a long line: exit %d, %s", res.code, redact(res.stderr))
	}

	// No session, GIT_TERMINAL_PROMPT=0: exit 3 at once, nothing on stdout.
	w.run("logout")
	before := w.counts()
	res = w.runStdin(strings.NewReader("protocol=http\nhost="+host+"\n\n"), []string{"GIT_TERMINAL_PROMPT=0"}, "git-credential", "get")
	check(t, "no session: exit", res.code, 3)
	check(t, "no session: stdout", res.stdout, "")
	w.checkRequests(before, map[string]int{})
}

// git holds the helper's stdin: a login asks on the terminal instead.
func TestGitGetLogsInOnTheTerminal(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	w.srv.Revoke(alice)
	w.expire(alice)
	host := strings.TrimPrefix(w.srv.URL, "http://")
	r := w.startStdin(strings.NewReader("protocol=http\nhost="+host+"\n\n"), nil, "git-credential", "get")
	r.typeLine(w.waitCode(r, alice))
	res := r.wait()
	check(t, "exit", res.code, 0)
	w.checkAccepted(gitLines(res.stdout)["password"])
	check(t, "username", gitLines(res.stdout)["username"], alice)
}

// A mistyped command is a usage error, at a terminal or not: $(akiflow-token
// tokne) in cron must not "succeed" with an empty token. Only git's own
// namespace ignores an operation it does not know, as git asks.
func TestUnknownCommandIsAUsageError(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	for _, word := range []string{"tokne", "stauts", "frobnicate", "get-token"} {
		res := w.run(word)
		check(t, word+": exit status", res.code, 80)
		check(t, word+": stdout", res.stdout, "")
	}
	res := w.run("tokne")
	if !strings.Contains(res.stderr, `did you mean "token"`) {
		t.Errorf("no suggestion: %q", res.stderr)
	}
	r := w.start("frobnicate")
	check(t, "at a terminal: exit", r.wait().code, 80)

	// git-credential and git-credential-akiflow: a future operation of git
	// is ignored silently.
	res = w.runStdin(strings.NewReader("protocol=https\nhost=api.akiflow.com\n\n"), nil, "git-credential", "frobnicate")
	check(t, "git-credential frobnicate: exit", res.code, 0)
	check(t, "git-credential frobnicate: stdout", res.stdout, "")
	check(t, "git-credential frobnicate: stderr", res.stderr, "")
	res = w.runProgram(strings.NewReader("protocol=https\nhost=api.akiflow.com\n\n"), nil,
		filepath.Join(filepath.Dir(binary), "git-credential-akiflow"), "frobnicate")
	check(t, "git-credential-akiflow frobnicate: exit", res.code, 0)
	check(t, "git-credential-akiflow frobnicate: stdout", res.stdout, "")
	res = w.runProgram(strings.NewReader("protocol=https\nhost=api.akiflow.com\n\n"), nil,
		filepath.Join(filepath.Dir(binary), "git-credential-akiflow"), "get")
	check(t, "git-credential-akiflow get: exit", res.code, 0)
	if !strings.Contains(res.stdout, "password=") {
		t.Errorf("git-credential-akiflow get: no password line (%d bytes of stdout)", len(res.stdout))
	}
}

// kubeconfig writes a kubeconfig whose user runs akiflow-token.
func (w *world) kubeconfig(apiVersion, mode string) string {
	w.t.Helper()
	args, _ := json.Marshal([]string{"-o", "exec-credential", "--insecure"})
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: akiflow
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: akiflow
  user:
    exec:
      apiVersion: %s
      command: akiflow-token
      args: %s
      interactiveMode: %s
contexts:
- name: akiflow
  context:
    cluster: akiflow
    user: akiflow
current-context: akiflow
`, w.srv.URL, apiVersion, args, mode)
	path := filepath.Join(w.home, "kubeconfig-"+mode)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

func TestKubectlExecCredential(t *testing.T) {
	needTool(t, "kubectl")
	for _, apiVersion := range []string{"client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"} {
		t.Run(apiVersion, func(t *testing.T) {
			w := newTLSWorld(t)
			w.login(alice, "--insecure")
			for _, mode := range []string{"IfAvailable", "Never"} {
				res := w.runProgram(nil, nil, "kubectl", "--kubeconfig", w.kubeconfig(apiVersion, mode), "get", "--raw", akiflowtest.ProtectedPath)
				check(t, mode+": kubectl exit", res.code, 0)
				if !strings.Contains(res.stdout, `"success":true`) {
					t.Errorf("%s: kubectl printed %q; stderr:\n%s", mode, redact(res.stdout), redact(res.stderr))
				}
			}

			// A revoked session with interactiveMode Never: kubectl fails
			// cleanly with our message, and no code is mailed.
			w.srv.Revoke(alice)
			w.expire(alice)
			res := w.runProgram(nil, nil, "kubectl", "--kubeconfig", w.kubeconfig(apiVersion, "Never"), "get", "--raw", akiflowtest.ProtectedPath)
			if res.code == 0 || !strings.Contains(res.stderr, `run "akiflow-token login"`) {
				t.Errorf("kubectl: exit %d, stderr:\n%s", res.code, redact(res.stderr))
			}
			check(t, "codes mailed", w.srv.Count(akiflowtest.RouteLogin), 1)
		})
	}
}

func TestExecCredentialOutput(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)
	for _, tc := range []struct{ info, want string }{
		{"", "client.authentication.k8s.io/v1"},
		{`{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":false}}`, "client.authentication.k8s.io/v1beta1"},
		{`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true}}`, "client.authentication.k8s.io/v1"},
	} {
		res := w.runEnv([]string{"KUBERNETES_EXEC_INFO=" + tc.info}, "-o", "exec-credential")
		var cred struct {
			APIVersion, Kind string
			Status           struct{ Token, ExpirationTimestamp string }
		}
		if err := json.Unmarshal([]byte(res.stdout), &cred); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		check(t, "apiVersion", cred.APIVersion, tc.want)
		check(t, "kind", cred.Kind, "ExecCredential")
		check(t, "token", cred.Status.Token, token)
		if cred.Status.ExpirationTimestamp == "" {
			t.Errorf("no expirationTimestamp")
		}
	}
	for _, bad := range []string{"{", `{"apiVersion":"client.authentication.k8s.io/v2","kind":"ExecCredential"}`, `{"apiVersion":"client.authentication.k8s.io/v1","kind":"Pod"}`, "[]"} {
		res := w.runEnv([]string{"KUBERNETES_EXEC_INFO=" + bad}, "-o", "exec-credential")
		check(t, "malformed KUBERNETES_EXEC_INFO: exit", res.code, 80)
		check(t, "malformed KUBERNETES_EXEC_INFO: stdout", res.stdout, "")
		check(t, "one line", strings.Count(res.stderr, "\n"), 1)
	}

	// interactive: false never prompts, even with a terminal.
	w.run("logout")
	r := w.startEnv([]string{`KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`}, "-o", "exec-credential")
	res := r.wait()
	check(t, "interactive false: exit", res.code, 3)
	check(t, "interactive false: codes mailed", w.srv.Count(akiflowtest.RouteLogin), 1)
}

func TestCurlRecipes(t *testing.T) {
	needTool(t, "curl")
	w := newWorld(t)
	w.login(alice)
	url := w.srv.URL + akiflowtest.ProtectedPath
	for name, script := range map[string]string{
		"-K -":          `akiflow-token -o curl | curl -sS -o /dev/null -w '%{http_code}' -K - "$URL"`,
		"$(...)":        `curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(akiflow-token)" "$URL"`,
		"-o header":     `curl -sS -o /dev/null -w '%{http_code}' -H "$(akiflow-token -o header)" "$URL"`,
		"exec":          `akiflow-token exec -- sh -c 'curl -sS -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $AKIFLOW_TOKEN" "$URL"'`,
		"a shell alias": "alias akcurl='curl -H \"Authorization: Bearer $(akiflow-token)\"'\nakcurl -sS -o /dev/null -w '%{http_code}' \"$URL\"",
	} {
		res := w.runProgram(nil, []string{"URL=" + url}, "bash", "-O", "expand_aliases", "-c", script)
		check(t, name+": HTTP status", res.stdout, "200")
		check(t, name+": stderr", res.stderr, "")
	}
}

func TestCurlConfigQuoting(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)
	res := w.run("-o", "curl")
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	check(t, "first line", lines[0], `header = "Authorization: Bearer `+token+`"`)
	for _, want := range []string{`header = "Akiflow-Platform: web"`, `header = "Akiflow-Version: `} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("-o curl lacks %s", want)
		}
	}
}

func TestExecCommand(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)

	res := w.runStdin(strings.NewReader("hello"), nil, "exec", "--", "sh", "-c", `cat; test "$AKIFLOW_TOKEN" = "$(akiflow-token)" && echo " same"; exit 7`)
	check(t, "exit status of the command", res.code, 7)
	check(t, "stdin and stdout pass through", res.stdout, "hello same\n")

	res = w.run("exec", "--env", "MY_TOKEN", "--", "sh", "-c", `printf %s "$MY_TOKEN" | wc -c`)
	check(t, "--env", strings.TrimSpace(res.stdout), fmt.Sprint(len(token)))

	res = w.run("exec", "--env", "1BAD", "--", "true")
	check(t, "bad --env", res.code, 80)
	res = w.run("exec", "--", "no-such-command-anywhere")
	check(t, "missing command", res.code, 127)

	// No token, no command.
	w.run("logout")
	marker := filepath.Join(w.home, "ran")
	res = w.run("exec", "--", "touch", marker)
	check(t, "no session: exit", res.code, 3)
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran without a token")
	}
}

// rclone's bearer_token_command runs the command without a shell and takes
// its trimmed stdout as the token.
func TestRcloneBearerTokenCommand(t *testing.T) {
	w := newWorld(t)
	token := w.login(alice)
	argv := strings.Fields("akiflow-token --min-ttl 1m")
	res := w.runProgram(nil, nil, binary, argv[1:]...) // argv[0], found on PATH
	check(t, "token", strings.TrimSpace(res.stdout), token)
}

func TestLoginCommand(t *testing.T) {
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
	checkChanged(t, "a new session", w.tokenOf(w.run()), first)
	res = w.run("login")
	check(t, "login without a terminal", res.code, 3)
}

func TestStatusJSON(t *testing.T) {
	w := newWorld(t)
	w.login(alice)
	res := w.run("status", "-o", "json")
	check(t, "exit", res.code, 0)
	w.checkNoSecrets("status -o json", res.stdout)
	var st map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	check(t, "email", st["email"], alice)
	check(t, "refresh_token", st["refresh_token"], true)
	check(t, "logged_in", st["logged_in"], true)
	check(t, "cache_file", st["cache_file"], w.cacheFile(alice))

	res = w.run("-o", "json")
	var out map[string]any
	json.Unmarshal([]byte(res.stdout), &out)
	if id, _ := out["client_id"].(string); len(id) != 36 {
		t.Errorf("-o json client_id = %q", id)
	}
}
