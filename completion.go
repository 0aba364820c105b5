package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"
)

// Shell completion: the shell runs akiflow-token itself with the line being
// typed in COMP_LINE (bash's complete -C protocol, which zsh's bashcompinit
// and the fish function below speak too), and kongplete answers from kong's
// model of the cli struct: commands, flags, the values of -o, and for -e the
// accounts that are cached.

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

// completionScripts load the completion into a shell: print one and eval
// it, or save it where the shell reads its completions.
var completionScripts = map[string]string{
	"bash": "complete -o default -C %[1]s %[2]s\n",
	"zsh":  "autoload -U +X bashcompinit && bashcompinit\ncomplete -o default -C %[1]s %[2]s\n",
	"fish": `function __complete_%[2]s
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    %[1]s
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

// answerCompletion answers the shell's request for completions, and exits.
func answerCompletion(parser *kong.Kong) {
	kongplete.Complete(parser, kongplete.WithPredictor("accounts", complete.PredictFunc(cachedAccounts)))
}

// cachedAccounts are the accounts of the auth host that the line being
// completed names (or the default one).
func cachedAccounts(args complete.Args) []string {
	c, _, _ := fastParse(nil, os.LookupEnv) // the defaults and the environment
	for i, arg := range args.Completed {
		if v, ok := strings.CutPrefix(arg, "--base-url="); ok {
			c.BaseURL = v
		} else if arg == "--base-url" && i+1 < len(args.Completed) {
			c.BaseURL = args.Completed[i+1]
		}
	}
	h, err := newHelper(c.config(args.Completed))
	if err != nil {
		return nil
	}
	accounts, _ := h.Accounts()
	return accounts
}
