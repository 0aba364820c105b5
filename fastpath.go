package main

//go:generate go test -run ^TestFastFlagsAreCurrent$ -update .

import (
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The commands that run on every call of a tool (the token, and git's
// credential operations) are parsed here without kong: building kong's
// model costs more than all the rest of a cache hit (see README,
// Performance). The rules come from the cli struct itself: fastFlags, in
// fastflags.go, is generated from kong's model of it, and main_test.go
// fails when it is stale and checks, by fuzzing every flag and variable,
// that this parser takes nothing differently from kong. Anything it does
// not take for sure, it leaves to kong, which also reports every error:
// this parser never does.

// fastCommands are the commands the fast path runs: "git-credential" takes
// one argument, the operation.
var fastCommands = []string{"token", "git-credential"}

// A fastFlag is one of cli's global flags, as kong reads it.
type fastFlag struct {
	name  string
	short rune
	env   string
	kind  string   // "string", "bool" or "duration"
	def   string   // the default, as kong's tag has it
	enum  []string // the values allowed, if limited
	field func(c *cli) any
}

// runFast runs args without kong when it can; false when it did not.
func runFast(args []string) (status int, ok bool) {
	c, command, ok := fastParse(args, os.LookupEnv)
	if !ok {
		return 0, false
	}
	h, err := newHelper(c.config(args))
	if err != nil {
		return exitStatus(err), true
	}
	switch {
	case command == "token":
		return exitStatus(tokenCmd{}.Run(h)), true
	}
	return exitStatus(gitCredential(h, c.GitCredential.Operation)), true
}

// fastParse is what kong would make of args and the environment, for the
// commands and flags it is sure of; false for anything else.
func fastParse(args []string, lookupEnv func(string) (string, bool)) (c *cli, command string, ok bool) {
	c = new(cli) // on the heap: the cache hit's stack stays small
	for _, f := range fastFlags {
		if f.def != "" && !f.set(c, f.def) {
			return c, "", false
		}
	}
	// Kong reads every variable, even one a flag overrides.
	for _, f := range fastFlags {
		v, set := lookupEnv(f.env)
		if f.env != "" && set && (!utf8.ValidString(v) || !f.set(c, v)) {
			return c, "", false // kong would refuse it, or change it
		}
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !utf8.ValidString(arg) {
			return c, "", false
		}
		if !strings.HasPrefix(arg, "-") {
			switch {
			case command == "git-credential":
				c.GitCredential.Operation = arg
				command += " <operation>" // as kong names it
			case command != "" || !slices.Contains(fastCommands, arg):
				return c, "", false
			default:
				command = arg
			}
			continue
		}
		f, value, inline := findFlag(arg)
		if f == nil || f.kind == "bool" && inline {
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
		if !f.set(c, value) {
			return c, "", false
		}
	}
	switch command {
	case "":
		command = "token"
	case "git-credential":
		return c, "", false // no operation: kong says so
	}
	return c, command, true
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
			if fastFlags[i].short == short {
				return &fastFlags[i], "", false
			}
		}
		return nil, "", false
	}
	name, value, inline = strings.Cut(name, "=")
	for i := range fastFlags {
		if fastFlags[i].name == name {
			return &fastFlags[i], value, inline
		}
	}
	return nil, "", false
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
