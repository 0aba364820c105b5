package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"
)

// Shell completion: the shell runs akiflow-token itself with the line being
// typed in COMP_LINE and the cursor in COMP_POINT (bash's complete -C
// protocol, which zsh's bashcompinit and the fish function below speak
// too), and answerCompletion prints the candidates from kong's model of the
// cli struct: commands, flags, the values of enums such as -o, and for -e
// the accounts that are cached. (A library such as kongplete does the same
// but links text/template and more into every run: a few percent of each
// cache hit, for a feature that runs at a prompt.)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

// completionScripts load the completion into a shell: print one and eval
// it, or save it where the shell reads its completions.
var completionScripts = map[string]string{
	"bash": "complete -o default -C %[1]s %[2]s\n",
	"zsh": "(( $+functions[compdef] )) || { autoload -Uz compinit && compinit }\n" +
		"autoload -U +X bashcompinit && bashcompinit\ncomplete -o default -C %[1]s %[2]s\n",
	"fish": `function __complete_%[2]s
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    %[1]s %[2]s (commandline -ct) ""
end
complete -f -c %[2]s -a "(__complete_%[2]s)"
`,
}

func (c completionCmd) Run(k *kong.Context) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("could not find this program's path: %w", err)
	}
	_, err = fmt.Fprintf(os.Stdout, completionScripts[c.Shell], shellQuote(bin), k.Model.Name)
	return err
}

// shellQuote quotes s for bash, zsh and fish alike: in single quotes, with
// each single quote closed, escaped and reopened.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// completionRequest says the shell asks for completions, and of which
// line: COMP_LINE is set, and the program was run as complete -C runs it,
// with three arguments, the first its own name. A COMP_LINE inherited by a
// program that runs akiflow-token for its token is not a request.
func completionRequest(args []string) (string, bool) {
	line, set := os.LookupEnv("COMP_LINE")
	if !set || len(args) != 3 || args[0] != programName {
		return "", false
	}
	return line, true
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
		if strings.HasPrefix(c, current) {
			fmt.Fprintln(w, c)
		}
	}
}

// completions are the candidates for the word current after words.
func completions(node *kong.Node, words []string, current string) []string {
	var expecting *kong.Flag // the flag whose value comes next
	var arg int              // positional arguments seen in node
	for _, w := range words {
		switch {
		case expecting != nil:
			expecting = nil
		case w == "--":
			return nil // the rest is exec's command
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
	if expecting != nil {
		return flagValues(expecting)
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
	if arg < len(node.Positional) && node.Positional[arg].Enum != "" {
		out = append(out, strings.Split(node.Positional[arg].Enum, ",")...)
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

// flagValues are the values a flag takes: its enum, or for --email the
// accounts cached for the auth host the environment names.
func flagValues(f *kong.Flag) []string {
	if f.Enum != "" {
		return strings.Split(f.Enum, ",")
	}
	if f.Name != "email" {
		return nil
	}
	c, _, _ := fastParse(nil, os.LookupEnv) // the defaults and the environment
	h, err := newHelper(c.config(nil))
	if err != nil {
		return nil
	}
	accounts, _ := h.Accounts()
	return accounts
}
