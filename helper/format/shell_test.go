package format

import (
	"os/exec"
	"runtime"
	"testing"
)

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

// A word a message suggests comes back from sh as it was, whatever it
// holds, and a plain address is left as typed.
func TestShellWord(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sh checks the POSIX quoting; TestQuotePowerShell the Windows one")
	}
	if got := ShellWord("bob+work@example.org"); got != "bob+work@example.org" {
		t.Errorf("ShellWord quoted a plain address: %s", got)
	}
	for _, in := range []string{"$(touch${IFS}pwned)@x.com", "`id`@x.com", "o'neil@x.com", "a;b@x.com", "jürgen@exämple.de", "a\\b\"c@x", ""} {
		out, err := exec.Command("sh", "-c", "printf %s "+ShellWord(in)).Output()
		if err != nil || string(out) != in {
			t.Errorf("sh read ShellWord(%q) = %s as %q (%v)", in, ShellWord(in), out, err)
		}
	}
}
