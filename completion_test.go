//go:build unix

// End-to-end tests of shell completion in the real shells: bash, zsh and
// fish, each at a terminal (a pseudo-terminal), load the completion as the
// README says and complete when Tab is pressed, with and without a cached
// session. The candidates akiflow-token answers for each line are in
// completion.txtar; that it answers any line without a panic is
// FuzzCompletion.
package main_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// completionShell is how a person runs one shell and loads the completion.
type completionShell struct {
	args []string // an interactive shell without the person's startup files
	load string   // the README's line
	list string   // the keys that show the candidates of an ambiguous word
	// listed says the shell shows them on a dumb terminal (fish draws its
	// pager on a capable one only; a second Tab there picks a candidate).
	listed bool
	// substitution writes the file tab-ran when the shell runs it; "" for
	// zsh, whose own Tab (expand-or-complete) runs one by design.
	substitution string
}

var completionShells = map[string]completionShell{
	"bash": {args: []string{"--norc", "--noprofile", "-i"}, load: `eval "$(akiflow-token completion bash)"`, list: "\t\t", listed: true,
		substitution: "$(date>tab-ran)"},
	"zsh": {args: []string{"-f", "-i"}, load: `eval "$(akiflow-token completion zsh)"`, list: "\t", listed: true},
	// fish reads no config of the person's (XDG_CONFIG_HOME is the
	// world's, empty); its autosuggestions, which run the completion at
	// every key, are turned off: they take seconds, on a busy machine.
	"fish": {args: []string{"-i"}, load: "set -g fish_autosuggestion_enabled 0; akiflow-token completion fish | source", list: "\t",
		substitution: "(date>tab-ran)"},
}

func TestCompletionBash(t *testing.T) { testCompletionAtATerminal(t, "bash") }
func TestCompletionZsh(t *testing.T)  { testCompletionAtATerminal(t, "zsh") }
func TestCompletionFish(t *testing.T) { testCompletionAtATerminal(t, "fish") }

// A person presses Tab: the shell completes commands, accounts and command
// names, and offers no file name where a value is none. A completion never
// puts a token on the line, never asks for a login and sends no request,
// with or without a session.
func testCompletionAtATerminal(t *testing.T, shell string) {
	t.Parallel()
	needTool(t, shell)
	sh := completionShells[shell]
	w := newWorld(t)
	// The shell's folder holds one file: wherever the shell offered file
	// names, Tab would put it on the line.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "decoy-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if shell == "fish" {
		// fish's first start generates completions from man pages in the
		// background, which outlives the test and writes into its home:
		// it is told that this home was set up already.
		conf := filepath.Join(w.home, ".config", "fish")
		os.MkdirAll(conf, 0o700)
		os.WriteFile(filepath.Join(conf, "fish_variables"), []byte("SETUVAR __fish_initialized:99999\n"), 0o600)
		// And fish 3 generates them whenever this folder is missing.
		os.MkdirAll(filepath.Join(w.home, ".local", "share", "fish", "generated_completions"), 0o700)
	}
	term := w.startShell(dir, []string{"PS1=$ ", "TERM=dumb"}, shell, sh.args...)
	c := &completer{t: t, term: term}
	term.typeLine(sh.load)
	c.sync()
	before := w.counts()

	// check types keys, then checks the line the shell made of them,
	// and, when the shell shows them, the candidates it listed.
	check := func(what, keys string, line []string, listed ...string) {
		t.Helper()
		got, shown := c.complete(keys)
		if strings.Join(got, " ") != strings.Join(line, " ") {
			t.Errorf("%s %s: %q became %q, want %q; the terminal showed:\n%s", shell, what, keys, got, line, redact(shown))
		}
		for _, want := range listed {
			if !strings.Contains(shown, want) {
				t.Errorf("%s %s: %q does not list %q; the terminal showed:\n%s", shell, what, keys, want, redact(shown))
			}
		}
		if strings.Contains(shown, "decoy-file") && !strings.Contains(strings.Join(line, " "), "decoy-file") {
			t.Errorf("%s %s: %q offers the folder's file names; the terminal showed:\n%s", shell, what, keys, redact(shown))
		}
	}
	list := func(candidates ...string) []string {
		if !sh.listed {
			return nil
		}
		return candidates
	}

	// No session yet.
	check("without a session, the commands", "akiflow-token "+sh.list, []string{"akiflow-token"}, list("status", "login", "exec")...)
	check("a command", "akiflow-token sta\t", []string{"akiflow-token", "status"})
	check("without a session, -e", "akiflow-token -e \t", []string{"akiflow-token", "-e"})
	check("exec's command", "akiflow-token exec -- ech\t", []string{"akiflow-token", "exec", "--", "echo"})
	check("--min-ttl's value", "akiflow-token --min-ttl "+sh.list, []string{"akiflow-token", "--min-ttl"})
	// Where file names are due, the shell offers the folder's one file:
	// the check above would have seen it.
	check("exec's arguments", "akiflow-token exec -- echo \t", []string{"akiflow-token", "exec", "--", "echo", "decoy-file"})
	check("a flag's value after =", "akiflow-token --output=j\t", []string{"akiflow-token", "--output=json"})
	if sh.substitution != "" {
		// Tab completes the word typed, and never runs it.
		c.term.typeKeys("akiflow-token exec -- " + sh.substitution + "\t\x15") // Ctrl-U drops the line
		c.sync()
		if _, err := os.Stat(filepath.Join(dir, "tab-ran")); err == nil {
			t.Errorf("%s: Tab after exec -- ran the command substitution %s", shell, sh.substitution)
		}
	}
	w.checkRequests(before, map[string]int{})
	if _, err := os.Lstat(w.sessionPath(alice)); !os.IsNotExist(err) {
		t.Errorf("a session file after completions: %v", err)
	}

	// With a session.
	w.login(alice)
	before = w.counts()
	check("with a session, the commands", "akiflow-token "+sh.list, []string{"akiflow-token"}, list("status", "login", "exec")...)
	check("with a session, -e", "akiflow-token -e \t", []string{"akiflow-token", "-e", alice})
	check("with a session, --email=", "akiflow-token --email=\t", []string{"akiflow-token", "--email=" + alice})
	// bash splits words at "@" too.
	local, _, _ := strings.Cut(alice, "@")
	check("with a session, -e after its @", "akiflow-token -e "+local+"@\t", []string{"akiflow-token", "-e", alice})
	check("with a session, --email= after its @", "akiflow-token --email="+local+"@ex\t", []string{"akiflow-token", "--email=" + alice})
	if shell == "bash" {
		// Word breaks a person set, which a bracket expression would read
		// as a negation, a range or its end.
		term.typeLine(`COMP_WORDBREAKS="^$COMP_WORDBREAKS]-"`)
		c.sync()
		check("odd word breaks, --output=", "akiflow-token --output=j\t", []string{"akiflow-token", "--output=json"})
		check("odd word breaks, --email= after its @", "akiflow-token --email="+local+"@ex\t", []string{"akiflow-token", "--email=" + alice})
		check("odd word breaks, -e after its @", "akiflow-token -e "+local+"@example.c\t", []string{"akiflow-token", "-e", alice})
	}
	check("with a session, --min-ttl's value", "akiflow-token --min-ttl "+sh.list, []string{"akiflow-token", "--min-ttl"})
	w.checkRequests(before, map[string]int{})

	screen := term.text()

	w.checkNoSecrets("the "+shell+" terminal", screen)
	for _, prompt := range []string{"A 6-digit code", "Akiflow email", "Code:"} {
		if strings.Contains(screen, prompt) {
			t.Errorf("the %s terminal shows %q: a completion asked for a login:\n%s", shell, prompt, redact(screen))
		}
	}
}

// completer types into a shell at a terminal and reads back the line it
// made.
type completer struct {
	t    *testing.T
	term *terminalRun
}

// sync waits until the shell has run everything typed so far: it types a
// command whose output (END42) differs from its echo (END""42).
func (c *completer) sync() string {
	c.t.Helper()
	c.term.typeLine(`echo END""42`)
	return c.term.expectText("END42")
}

// printedLine matches the line as printf '[%s]' prints it.
var printedLine = regexp.MustCompile(`\[akiflow-token\](?:\[[^\[\]\r\n]*\])*`)

// complete types keys at an empty prompt, then has the shell print the
// line as the keys left it, a word in brackets (Ctrl-A goes to its start,
// to type printf '[%s]' before it, and Enter runs it). It returns the
// words and what the terminal showed meanwhile (the echo, the candidates
// listed).
func (c *completer) complete(keys string) (words []string, shown string) {
	c.t.Helper()
	c.term.typeKeys(keys)
	c.term.typeLine("\x01printf '[%s]' ")
	shown = c.sync()
	lines := printedLine.FindAllString(shown, -1)
	if len(lines) == 0 {
		c.t.Fatalf("the shell did not print the line made of %q; the terminal showed:\n%s", keys, redact(shown))
	}
	words = strings.Split(strings.TrimSuffix(strings.TrimPrefix(lines[len(lines)-1], "["), "]"), "][")
	return words, shown
}
