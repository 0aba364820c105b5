package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"akiflow-token/helper/format"
)

// Shell completion. Each shell's script defines a function that runs
// "akiflow-token __complete" with the line being typed in COMP_LINE and
// the cursor in COMP_POINT, and answerCompletion prints the candidates from
// kong's model of the cli struct: commands, flags, the values of enums
// such as -o, and for -e the accounts that have a session. A run is a
// completion request only with that first argument: never the token path,
// whatever the environment holds (a COMP_LINE inherited by a program that
// runs akiflow-token for its token, or a shell that runs the program with
// no arguments), so completion never prints a token or asks for a login.
// (A library such as kongplete does the same but links text/template and
// more into every run: a few percent of each cache hit, for a feature that
// runs at a prompt.)

// completeCommand is the first argument of a completion request.
const completeCommand = "__complete"

// Besides candidates, an answer may be one of these alone, for what the
// shell completes better itself.
const (
	completeFiles    = ":files"    // file names: exec's arguments, --url-file
	completeCommands = ":commands" // command names: exec's command
)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish,powershell" help:"bash, zsh, fish or powershell."`
}

// completionScripts load the completion into a shell: print one and eval
// it, or save it where the shell reads its completions. %[1]s is the
// program's path, quoted for that shell; %[2]s its name; %[3]s the
// function's name.
var completionScripts = map[string]string{
	// bash splits a word at the characters of COMP_WORDBREAKS ("=", ":",
	// "@"...) and replaces only what follows the last one (from the "@"
	// on, which it keeps in the word), where the candidates are whole
	// words (--output=json, alice@example.com): what bash keeps is cut
	// from each. Candidates are read a line at a time, never expanded (an
	// email may hold a "*").
	"bash": `%[3]s() {
    local IFS=$'\n' out word keep= i c
    out=$(COMP_LINE="$COMP_LINE" COMP_POINT="$COMP_POINT" %[1]s __complete 2>/dev/null)
    COMPREPLY=()
    case "$out" in
    :files) compopt -o default ;;
    :commands) COMPREPLY=($(compgen -c -- "${COMP_WORDS[COMP_CWORD]}")) ;;
    *)
        word=${COMP_LINE:0:COMP_POINT}
        word=${word##*[[:space:]]}
        for ((i = ${#word} - 1; i >= 0; i--)); do
            c=${word:i:1}
            if [[ $c != [[:space:]\"\'] && ${COMP_WORDBREAKS-} == *"$c"* ]]; then
                keep=${word:0:i+1}
                [[ $c == [@\$] ]] && keep=${word:0:i}
                break
            fi
        done
        while IFS= read -r c; do
            [[ -n $c ]] && COMPREPLY+=("${c#"$keep"}")
        done <<<"$out" ;;
    esac
}
complete -F %[3]s %[2]s
`,
	"zsh": `(( $+functions[compdef] )) || { autoload -Uz compinit && compinit }
%[3]s() {
    local line="${(j: :)words[1,CURRENT-1]} $PREFIX"
    local -a out
    out=("${(@f)$(COMP_LINE="$line" COMP_POINT=${#line} %[1]s __complete 2>/dev/null)}")
    case "$out[1]" in
    :files) _files ;;
    :commands) _command_names ;;
    *) (( ${#out} )) && [[ -n "$out[1]" ]] && compadd -Q -- "${out[@]}" ;;
    esac
}
compdef %[3]s %[2]s
`,
	"fish": `function %[3]s
    set -l line (commandline -cp)
    set -l out (env COMP_LINE="$line" COMP_POINT=(string length -- "$line") %[1]s __complete 2>/dev/null)
    switch "$out[1]"
        case :files
            __fish_complete_path (commandline -ct)
        case :commands
            # Escaped: complete -C would run a "(…)" in the word.
            complete -C (commandline -ct | string escape)
        case '*'
            printf '%%s\n' $out
    end
end
complete -c %[2]s -f -a "(%[3]s)"
`,
	// PowerShell hands the completer the whole command and the cursor's
	// offset in it; nothing returned lets it complete file names itself.
	"powershell": `Register-ArgumentCompleter -Native -CommandName '%[2]s', '%[2]s.exe' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $line = $commandAst.ToString()
    $point = $cursorPosition - $commandAst.Extent.StartOffset
    if ($point -gt $line.Length) { $line = $line.PadRight($point) }
    $env:COMP_LINE = $line
    $env:COMP_POINT = $point
    try { $out = @(& %[1]s __complete 2>$null) }
    finally { Remove-Item Env:COMP_LINE, Env:COMP_POINT -ErrorAction SilentlyContinue }
    if ($out.Count -gt 0 -and $out[0] -eq ':files') { return }
    if ($out.Count -gt 0 -and $out[0] -eq ':commands') {
        $out = @(Get-Command -Name "$wordToComplete*" -CommandType Application, Cmdlet, Function, Alias -ErrorAction SilentlyContinue | ForEach-Object Name)
    }
    $out | Where-Object { $_ } | ForEach-Object {
        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
    }
}
`,
}

func (c completionCmd) Run(k *kong.Context) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("could not find this program's path: %w", err)
	}
	fn := "_" + strings.ReplaceAll(k.Model.Name, "-", "_")
	quote := map[string]func(string) string{"fish": format.QuoteFish, "powershell": format.QuotePowerShell}[c.Shell]
	if quote == nil {
		quote = format.QuotePOSIX // bash, zsh
	}
	quoted := quote(bin)
	_, err = fmt.Fprintf(os.Stdout, completionScripts[c.Shell], quoted, k.Model.Name, fn)
	return err
}

// answerCompletion prints the completions of the line in COMP_LINE, up to
// COMP_POINT, one per line.
func answerCompletion(w io.Writer, parser *kong.Kong, line string, point string) {
	if p, err := strconv.Atoi(point); err == nil && p >= 0 && p < len(line) {
		line = line[:p]
	}
	words := strings.Fields(line)
	current := ""
	if len(words) > 0 && !strings.HasSuffix(line, " ") {
		current, words = words[len(words)-1], words[:len(words)-1]
	}
	if len(words) > 0 {
		words = words[1:] // the program's name
	}
	for _, c := range completions(parser.Model.Node, words, current) {
		if c == completeFiles || c == completeCommands || strings.HasPrefix(c, current) {
			fmt.Fprintln(w, format.SafeText(c))
		}
	}
}

// completions are the candidates for the word current after words.
func completions(node *kong.Node, words []string, current string) []string {
	var expecting *kong.Flag // the flag whose value comes next
	var arg int              // positional arguments seen in node
	for i, w := range words {
		switch {
		case expecting != nil:
			expecting = nil
		case w == "--" && node.Name == "exec":
			if i == len(words)-1 {
				return []string{completeCommands} // the command
			}
			return []string{completeFiles} // its arguments
		case strings.HasPrefix(w, "-"):
			if f := findCompletionFlag(node, w); f != nil && !f.IsBool() && !strings.Contains(w, "=") {
				expecting = f
			}
		default:
			if child := findChild(node, w); child != nil && arg == 0 {
				node = child
			} else {
				arg++
			}
		}
	}
	if name, value, ok := strings.Cut(current, "="); ok && strings.HasPrefix(name, "--") {
		// --flag=value: the flag's values, each with its "--flag=".
		var out []string
		if f := findCompletionFlag(node, name); f != nil {
			for _, v := range flagValues(node, f) {
				if strings.HasPrefix(v, value) {
					out = append(out, name+"="+v)
				}
			}
		}
		return out
	}
	if expecting != nil {
		return flagValues(node, expecting)
	}
	if strings.HasPrefix(current, "-") {
		var out []string
		for _, group := range node.AllFlags(true) {
			for _, f := range group {
				out = append(out, "--"+f.Name)
				if f.Short != 0 {
					out = append(out, "-"+string(f.Short))
				}
			}
		}
		return append(out, "--help")
	}
	var out []string
	if arg == 0 {
		for _, child := range node.Children {
			if !child.Hidden {
				out = append(out, child.Name)
			}
		}
	}
	if arg < len(node.Positional) {
		p := node.Positional[arg]
		switch {
		case p.Enum != "":
			out = append(out, strings.Split(p.Enum, ",")...)
		case node.Name == "git-credential":
			out = append(out, format.GitGet, format.GitStore, format.GitErase, format.GitCapability)
		case node.Name == "switch":
			out = append(out, accounts()...)
		}
	}
	return out
}

func findChild(node *kong.Node, name string) *kong.Node {
	for _, child := range node.Children {
		if child.Name == name && !child.Hidden {
			return child
		}
	}
	return nil
}

func findCompletionFlag(node *kong.Node, word string) *kong.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(word, "-"), "=")
	for _, group := range node.AllFlags(true) {
		for _, f := range group {
			if f.Name == name || !strings.HasPrefix(word, "--") && f.Short != 0 && string(f.Short) == name {
				return f
			}
		}
	}
	return nil
}

// flagValues are the values a flag takes in node's command: its enum
// (status prints text or json only), the accounts with a session for
// --email, file names for --url-file; nothing for the others, which take a
// value that is not a file's name (a duration, a variable's name).
func flagValues(node *kong.Node, f *kong.Flag) []string {
	switch {
	case f.Name == "output" && node.Name == "status":
		return []string{format.Token, format.JSON}
	case f.Enum != "":
		return strings.Split(f.Enum, ",")
	case f.Name == "email":
		return accounts()
	case f.Name == "url-file":
		return []string{completeFiles}
	}
	return nil
}

// accounts are the accounts with a session on the auth host the
// environment names, but those a shell would read ("$(…)@x.com": an OAuth
// account is the server's email claim): bash and zsh put a candidate on
// the line as it is.
func accounts() []string {
	c, _, ok := fastParse(nil, os.LookupEnv) // the defaults and the environment
	if !ok {
		return nil // a variable is wrong: no host to name the accounts of
	}
	h, err := c.helper()
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(h.Accounts(), func(a string) bool { return format.ShellWord(a) != a })
}
