package main

//go:generate go run -tags genflags .

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"akiflow-token/helper"
)

// The cli struct (main.go) is the one description of the command line.
// What this file needs of it is the table in fastflags.go, generated from
// kong's model of the struct by go generate (flags_gen.go); main_test.go
// fails when it is stale and checks, by fuzzing every flag and variable,
// that the fast path takes nothing differently from kong.
//
// The fast path: the commands that run on every call of a tool (the
// token, and git's credential operations) are parsed here without kong,
// since building kong's model costs more than all the rest of a cache hit
// (docs/performance.md). Anything it does not take for sure, it leaves to
// kong, which also reports every error: this parser never does.

// fastCommands are the commands the fast path runs (those that tools and
// scripts run often, and that kong's context is not needed for), with
// their one argument, if they take one, and its name as kong says it.
var fastCommands = map[string]struct {
	arg  func(c *cli) *string
	name string
}{
	"token":          {},
	"status":         {},
	"logout":         {},
	"git-credential": {func(c *cli) *string { return &c.GitCredential.Operation }, "<operation>"},
	"switch":         {func(c *cli) *string { return &c.Switch.Account }, "<email>"},
	"exec":           {}, // and its command, which takes the rest (passthrough)
}

// fastCommandNames are fastCommands' names, for the generator.
var fastCommandNames = []string{"token", "status", "logout", "git-credential", "switch", "exec"}

// A fastFlag is one of cli's flags, as kong reads it.
type fastFlag struct {
	name    string
	short   rune
	env     string
	kind    string   // "string", "bool" or "duration"
	def     string   // the default, as kong's tag has it
	enum    []string // the values allowed, if limited
	global  bool     // a global flag, which the fast path reads anywhere
	command string   // else the command whose flag it is
	field   func(c *cli) any
}

// runFast runs args without kong when it can; false when it did not.
func runFast(args []string) (err error, ok bool) {
	c, command, ok := fastParse(args, os.LookupEnv)
	if !ok {
		return nil, false
	}
	switch name, _, _ := strings.Cut(command, " "); name {
	case "exec":
		return c.Exec.Run(c), true
	case "status":
		return statusCmd{}.Run(c), true
	case "logout":
		return c.Logout.Run(c), true
	case "switch":
		return c.Switch.Run(c), true
	case "git-credential":
		return c.GitCredential.Run(c), true
	}
	return tokenCmd{}.Run(c), true
}

// fastParse is what kong would make of args and the environment, for the
// commands and flags it is sure of; false for anything else.
func fastParse(args []string, lookupEnv func(string) (string, bool)) (c *cli, command string, ok bool) {
	c = new(cli) // on the heap: the cache hit's stack stays small
	for _, f := range fastFlags {
		if f.global && f.def != "" && !f.set(c, f.def) {
			return c, "", false
		}
	}
	// Kong reads every global variable, even one a flag overrides (a
	// command's, only for that command). An empty email is refused.
	for _, f := range fastFlags {
		v, set := lookupEnv(f.env)
		if f.global && f.env != "" && set && (!utf8.ValidString(v) || !f.set(c, v) || v == "" && f.name == "email") {
			return c, "", false // kong would refuse it, or change it
		}
	}
	argWanted := false // the command's argument is still to come
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !utf8.ValidString(arg) {
			return c, "", false
		}
		if command == "exec" && (arg == "--" || !strings.HasPrefix(arg, "-")) {
			// exec's command and its arguments, as they are (kong keeps
			// the "--" too): the rest of the line. Kong turns invalid
			// UTF-8 into U+FFFD: such a line is left to it.
			for _, a := range args[i:] {
				if !utf8.ValidString(a) {
					return c, "", false
				}
			}
			c.Exec.Command = append([]string(nil), args[i:]...)
			command += " <command>"
			break
		}
		if !strings.HasPrefix(arg, "-") {
			spec, known := fastCommands[arg]
			switch {
			case argWanted:
				*fastCommands[command].arg(c) = arg
				command += " " + fastCommands[command].name // as kong names it
				argWanted = false
			case command != "" || !known:
				return c, "", false
			default:
				command, argWanted = arg, spec.arg != nil
				if !c.commandDefaults(arg, lookupEnv) {
					return c, "", false
				}
			}
			continue
		}
		f, value, inline := findFlag(arg)
		name, _, _ := strings.Cut(command, " ")
		if f == nil || !f.global && (f.command == "" || f.command != name) || f.kind == "bool" && inline {
			return c, "", false
		}
		switch {
		case f.kind == "bool":
			value = "true"
		case !inline:
			if i++; i == len(args) || strings.HasPrefix(args[i], "-") || !utf8.ValidString(args[i]) {
				return c, "", false
			}
			value = args[i]
		}
		if !f.set(c, value) || value == "" && f.name == "email" {
			return c, "", false
		}
	}
	switch {
	case command == "":
		command = "token"
	case argWanted, command == "exec":
		return c, "", false // no argument: kong says so
	}
	return c, command, true
}

// commandDefaults sets the defaults and variables of command's own flags,
// as kong does once the command is named.
func (c *cli) commandDefaults(command string, lookupEnv func(string) (string, bool)) bool {
	for _, f := range fastFlags {
		if f.command != command {
			continue
		}
		if f.def != "" && !f.set(c, f.def) {
			return false
		}
		if v, set := lookupEnv(f.env); f.env != "" && set && (!utf8.ValidString(v) || !f.set(c, v)) {
			return false
		}
	}
	return true
}

// findFlag finds the flag of "--name", "--name=value" or "-s".
func findFlag(arg string) (f *fastFlag, value string, inline bool) {
	name, ok := strings.CutPrefix(arg, "--")
	if !ok {
		short, size := utf8.DecodeRuneInString(arg[1:])
		if len(arg) != 1+size || short == 0 || short == utf8.RuneError {
			return nil, "", false
		}
		for i := range fastFlags {
			if fastFlags[i].short == short && fastFlags[i].global {
				return &fastFlags[i], "", false
			}
		}
		return nil, "", false
	}
	name, value, inline = strings.Cut(name, "=")
	return lookupFlag(name), value, inline
}

func lookupFlag(name string) *fastFlag {
	for i := range fastFlags {
		if fastFlags[i].name == name {
			return &fastFlags[i]
		}
	}
	return nil
}

// set stores value in c as kong's mapper for the flag's kind would; false
// for a value kong would refuse.
func (f *fastFlag) set(c *cli, value string) bool {
	if f.enum != nil && !slices.Contains(f.enum, value) {
		return false
	}
	switch p := f.field(c).(type) {
	case *string:
		*p = value
	case *bool:
		switch strings.ToLower(value) {
		case "true", "1", "yes":
			*p = true
		case "false", "0", "no":
			*p = false
		default:
			return false
		}
	case *time.Duration:
		d, err := time.ParseDuration(value)
		if err != nil {
			return false
		}
		*p = d
	default:
		return false
	}
	return true
}

// source names where a flag's value came from, for messages: the flag, if
// the command line has it, else its variable, if set, else the flag.
func source(flag string) string {
	f := lookupFlag(flag)
	if f == nil || flagGiven(flag) {
		return "--" + flag
	}
	if f.env != "" {
		if _, set := os.LookupEnv(f.env); set {
			return f.env
		}
	}
	return "--" + flag
}

// flagGiven says the command line (before any "--") gives the flag.
func flagGiven(flag string) bool {
	f := lookupFlag(flag)
	if f == nil {
		return false
	}
	for _, arg := range os.Args[1:] {
		if arg == "--" {
			break
		}
		if arg == "--"+flag || strings.HasPrefix(arg, "--"+flag+"=") || f.short != 0 && strings.HasPrefix(arg, "-"+string(f.short)) {
			return true
		}
	}
	return false
}

// checkArgs refuses, naming it, a variable kong would refuse or misname (it
// names the flag even for a value it read from a variable), an empty
// email, and a negative duration that kong would take for a flag.
func checkArgs(args []string, lookupEnv func(string) (string, bool)) error {
	for _, f := range fastFlags {
		v, set := lookupEnv(f.env)
		if f.env == "" || !set {
			continue
		}
		var scratch cli
		if !f.set(&scratch, v) {
			return helper.UsageError("%s=%q: %s", f.env, shorten(v), f.rule())
		}
	}
	if v, set := lookupEnv("AKIFLOW_EMAIL"); set && v == "" {
		return helper.UsageError("AKIFLOW_EMAIL is empty: unset it for the default account, or name one")
	}
	// Kong turns invalid UTF-8 into U+FFFD, which would name another
	// account: refused first.
	if v, set := lookupEnv("AKIFLOW_EMAIL"); set && !utf8.ValidString(v) {
		return helper.UsageError("AKIFLOW_EMAIL is not valid UTF-8")
	}
	for i, arg := range args {
		if arg == "--" {
			break
		}
		value, inline := strings.CutPrefix(arg, "--email=")
		if !inline && (arg == "-e" || arg == "--email") && i+1 < len(args) {
			value, inline = args[i+1], true
		}
		if inline && !utf8.ValidString(value) {
			return helper.UsageError("--email is not valid UTF-8")
		}
	}
	for i, arg := range args {
		if arg == "--" {
			break
		}
		if arg == "--email=" || (arg == "-e" || arg == "--email") && i+1 < len(args) && args[i+1] == "" {
			return helper.UsageError("--email is empty: leave it out for the default account, or name one")
		}
		for _, f := range fastFlags {
			if f.kind == "duration" && arg == "--"+f.name && i+1 < len(args) && strings.HasPrefix(args[i+1], "-") {
				if _, err := time.ParseDuration(args[i+1]); err == nil {
					return helper.UsageError("--%s %s: a duration must not be negative", f.name, args[i+1])
				}
			}
		}
	}
	return nil
}

// shorten cuts an outside value to a readable length for a message.
func shorten(v string) string {
	if len(v) > 64 {
		return strings.ToValidUTF8(v[:64], "") + "…"
	}
	return v
}

// rule says what values a flag takes.
func (f *fastFlag) rule() string {
	switch {
	case f.enum != nil:
		named := slices.DeleteFunc(slices.Clone(f.enum), func(v string) bool { return v == "" })
		if len(named) < len(f.enum) {
			return "must be one of " + strings.Join(named, ", ") + ", or empty"
		}
		return "must be one of " + strings.Join(f.enum, ", ")
	case f.kind == "duration":
		return "is not a duration such as 5m or 90s"
	case f.kind == "bool":
		return "must be true or false (or 1, 0, yes, no)"
	}
	return fmt.Sprintf("is not a valid --%s", f.name)
}
