package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"akiflow-token/helper"
)

// Usage errors name the flag or the environment variable the bad value
// came from, and say what would be right. Kong names the flag even for a
// value it read from a variable, so the variables are checked first, with
// the rules of the fast path's table (fastflags.go, generated from the cli
// struct).

// source names where flag's value came from: the flag, if args set it,
// else its variable, if set, else the flag.
func source(flag string, args []string) string {
	var f *fastFlag
	for i := range fastFlags {
		if fastFlags[i].name == flag {
			f = &fastFlags[i]
		}
	}
	if f == nil {
		return "--" + flag
	}
	for _, arg := range args {
		if arg == "--" {
			break
		}
		if arg == "--"+flag || strings.HasPrefix(arg, "--"+flag+"=") || f.short != 0 && strings.HasPrefix(arg, "-"+string(f.short)) {
			return "--" + flag
		}
	}
	if f.env != "" {
		if _, set := os.LookupEnv(f.env); set {
			return f.env
		}
	}
	return "--" + flag
}

// checkArgs refuses, naming it, a variable kong would refuse or misname,
// and a negative duration that kong would take for a flag.
func checkArgs(args []string, lookupEnv func(string) (string, bool)) error {
	for _, f := range fastFlags {
		v, set := lookupEnv(f.env)
		if f.env == "" || !set {
			continue
		}
		var scratch cli
		if !f.set(&scratch, v) {
			return helper.UsageError("%s=%q: %s", f.env, v, f.rule())
		}
	}
	if v, set := lookupEnv("AKIFLOW_EMAIL"); set && v == "" {
		return helper.UsageError("AKIFLOW_EMAIL is empty: unset it for the default account, or name one")
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

// rule says what values a flag takes.
func (f *fastFlag) rule() string {
	switch {
	case f.enum != nil:
		return "must be one of " + strings.Join(f.enum, ", ")
	case f.kind == "duration":
		return "is not a duration such as 5m or 90s"
	case f.kind == "bool":
		return "must be true or false (or 1, 0, yes, no)"
	}
	return fmt.Sprintf("is not a valid --%s", f.name)
}
