//go:build unix

// End-to-end tests of the git credential helper through the real git, as
// the README sets it up, and at a terminal. The protocol lines themselves
// (which hosts get an answer, the Bearer form, store and erase, bad input)
// are piped into the helper in git_protocol.txtar; which hosts count as
// Akiflow's is helper/format's TestIsAkiflowHost.
package main_test

import (
	"strings"
	"testing"

	"akiflow-token/helper/akiflow/akiflowtest"
)

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

// git runs git with stdin, never letting it prompt.
func (w *world) git(stdin string, args ...string) result {
	w.t.Helper()
	return w.runProgram(strings.NewReader(stdin), []string{"GIT_TERMINAL_PROMPT=0"}, "git", args...)
}

func TestGitCredentialHelper(t *testing.T) {
	t.Parallel()
	needTool(t, "git")
	for _, setup := range []struct {
		name   string
		helper string
		global bool // credential.helper for every host, not the auth host's URL
	}{
		{"shell command", "!akiflow-token git-credential", false},
		{"git-credential-akiflow", "akiflow", false},
		{"for every host", "akiflow", true},
	} {
		t.Run(setup.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			first := w.login(alice)
			if setup.global {
				check(t, "git config", w.git("", "config", "--global", "credential.helper", setup.helper).code, 0)
				// Another host gets nothing from it.
				res := w.git("url=https://github.com/someone/repo.git\n\n", "credential", "fill")
				if strings.Contains(res.stdout, "password=") {
					t.Errorf("git got a password for github.com")
				}
				w.checkNoSecrets("git's stdout for github.com", res.stdout)
			} else {
				// The README's recipe: reset the URL's helper list, then add
				// ours; run twice, as a person may.
				for range 2 {
					check(t, "git config --replace-all", w.git("", "config", "--global", "--replace-all", "credential."+w.srv.URL+".helper", "").code, 0)
					check(t, "git config --add", w.git("", "config", "--global", "--add", "credential."+w.srv.URL+".helper", setup.helper).code, 0)
				}
				helpers := w.git("", "config", "--global", "--get-all", "credential."+w.srv.URL+".helper")
				check(t, "the helper list", helpers.stdout, "\n"+setup.helper+"\n")
			}

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

// At a terminal: git's get typed by hand says what it waits for; and when
// git pipes its request in and a login is needed, the login asks on the
// terminal, since git holds stdin.
func TestGitCredentialAtATerminal(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.start("git-credential", "get")
	r.expect("reading git's credential request on stdin")
	r.typeLine("protocol=https")
	r.typeLine("host=github.com")
	r.typeLine("")
	res := r.wait()
	check(t, "typed by hand: exit status", res.code, 0)
	check(t, "typed by hand: stdout", res.stdout, "")

	first := w.login(alice)
	w.srv.Revoke(alice)
	w.expire(alice)
	host := strings.TrimPrefix(w.srv.URL, "http://")
	r = w.startStdin(strings.NewReader("protocol=http\nhost="+host+"\n\n"), nil, "git-credential", "get")
	r.typeLine(w.waitCode(r, alice))
	res = r.wait()
	check(t, "a login for git: exit", res.code, 0)
	got := gitLines(res.stdout)
	check(t, "username", got["username"], alice)
	checkChanged(t, "the password, from the new login", got["password"], first)
	w.checkAccepted(got["password"])

	// A username in the remote's URL (any repository may set one) picks
	// among the accounts logged in here: one that is not has no code
	// mailed, even at a terminal.
	mailed := w.srv.Count(akiflowtest.RouteLogin)
	r = w.startStdin(strings.NewReader("protocol=http\nhost="+host+"\nusername=mallory@evil.example\n\n"), nil, "git-credential", "get")
	res = r.wait()
	check(t, "a username not logged in: exit", res.code, 3)
	check(t, "a username not logged in: stdout", res.stdout, "")
	check(t, "a username not logged in: codes mailed", w.srv.Count(akiflowtest.RouteLogin), mailed)
	if !strings.Contains(res.stderr, "git's username names an account not logged in here") {
		t.Errorf("a username not logged in: stderr says\n%s", redact(res.stderr))
	}
}
