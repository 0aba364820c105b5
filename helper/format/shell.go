package format

import (
	"runtime"
	"strings"
)

// QuotePOSIX quotes s as one word for sh, bash and zsh: in single quotes,
// each single quote closed, escaped and reopened.
func QuotePOSIX(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuoteFish quotes s as one word for fish, whose single quotes take two
// escapes, \' and \\ (POSIX quoting would end the word at a \').
func QuoteFish(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// QuotePowerShell quotes s as a PowerShell verbatim string: in single
// quotes, each single quote doubled. PowerShell also takes the typographic
// single quotes (U+2018 to U+201B) for one, so they are doubled too.
func QuotePowerShell(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		b.WriteRune(r)
		if r == '\'' || r >= '\u2018' && r <= '\u201b' {
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// ShellWord is s as one word of a command that a message tells a person to
// run: as it is when it holds nothing a shell reads, else quoted for the
// platform's shell (PowerShell on Windows). An account can come from the
// server (an OAuth token's email claim): "$(…)@example.com" must not run
// when the suggestion is pasted.
func ShellWord(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("@+=:,./_-", r))
	}) {
		return s
	}
	if runtime.GOOS == "windows" {
		return QuotePowerShell(s)
	}
	return QuotePOSIX(s)
}
