package format

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// hostileWords are words no quoting may let a shell read.
var hostileWords = []string{"$(touch${IFS}pwned)@x.com", "`id`@x.com", "o'neil@x.com", "a;b@x.com", "jürgen@exämple.de",
	`a\b"c@x`, `p\'(touch pwned)\'`, `q\'x`, `we\\ird`, "(date>pwned)", "{a,b}*?", "$HOME %PATH%", ""}

// readBack runs printf %s WORD in shell and returns what it printed; the
// shell is skipped when missing (AKIFLOW_TEST_REQUIRE_TOOLS=1: it fails).
func readBack(t *testing.T, shell, word string) string {
	t.Helper()
	if _, err := exec.LookPath(shell); err != nil {
		if os.Getenv("AKIFLOW_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (AKIFLOW_TEST_REQUIRE_TOOLS=1) but missing", shell)
		}
		t.Skipf("skipped: %s is not installed", shell)
	}
	cmd := exec.Command(shell, "-c", "printf %s "+word)
	cmd.Dir = t.TempDir() // where a quoting that failed would write
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s -c 'printf %%s %s': %v", shell, word, err)
	}
	return string(out)
}

// Each shell reads its quoting of a word back as the word, whatever it
// holds: the completion scripts name the program's path so, and fish's
// single quotes are not POSIX's.
func TestQuotingReadsBack(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX shell; TestQuotePowerShell checks the Windows quoting")
	}
	for shell, quote := range map[string]func(string) string{"sh": QuotePOSIX, "bash": QuotePOSIX, "zsh": QuotePOSIX, "fish": QuoteFish} {
		t.Run(shell, func(t *testing.T) {
			for _, in := range hostileWords {
				if got := readBack(t, shell, quote(in)); got != in {
					t.Errorf("%s read %s as %q, want %q", shell, quote(in), got, in)
				}
			}
		})
	}
}

// PowerShell's completion names the program in a verbatim string, where
// only a single quote needs escaping (doubled); PowerShell takes the
// typographic single quotes for one too.
func TestQuotePowerShell(t *testing.T) {
	for in, want := range map[string]string{
		`C:\Program Files\akiflow-token.exe`:  `'C:\Program Files\akiflow-token.exe'`,
		`C:\it's\akiflow-token.exe`:           `'C:\it''s\akiflow-token.exe'`,
		"/home/o\u2019neil/bin/akiflow-token": "'/home/o\u2019\u2019neil/bin/akiflow-token'",
		`$(calc)` + "`" + `"x"`:               `'$(calc)` + "`" + `"x"'`,
	} {
		if got := QuotePowerShell(in); got != want {
			t.Errorf("QuotePowerShell(%q) = %s, want %s", in, got, want)
		}
	}
}

// A word a message suggests is left as typed when it is a plain address,
// else quoted so that sh reads it back as it was.
func TestShellWord(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sh checks the POSIX quoting; TestQuotePowerShell the Windows one")
	}
	if got := ShellWord("bob+work@example.org"); got != "bob+work@example.org" {
		t.Errorf("ShellWord quoted a plain address: %s", got)
	}
	for _, in := range hostileWords {
		if got := readBack(t, "sh", ShellWord(in)); got != in {
			t.Errorf("sh read ShellWord(%q) = %s as %q", in, ShellWord(in), got)
		}
	}
}
