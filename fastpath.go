package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"akiflow-token/helper"
)

// cacheHit serves the commonest call without kong: the default command,
// with at most -e, -o, --min-ttl and --base-url (or their environment
// variables), and a cached token that is still good. Building kong's model
// costs more than all the rest of a cache hit (see README, Performance).
// Anything else, and any miss, returns false and goes through kong, which
// also reports every error: this path never does.
func cacheHit(args []string) (status int, ok bool) {
	cfg, ok := quickConfig(args, os.LookupEnv)
	if !ok {
		return 0, false
	}
	h, err := newHelper(cfg)
	if err != nil {
		return 0, false
	}
	s, ok := h.Cached()
	if !ok {
		return 0, false
	}
	if err := h.Write(os.Stdout, s); err != nil {
		fmt.Fprintf(os.Stderr, "akiflow-token: %v\n", err)
		return helper.ExitCode(err), true
	}
	return helper.ExitOK, true
}

// quickConfig is the Config kong would make of args and the environment,
// for the few arguments cacheHit serves; false for anything else or any
// value kong would reject. main_test.go checks that the two agree.
func quickConfig(args []string, lookupEnv func(string) (string, bool)) (helper.Config, bool) {
	cfg := helper.Config{Output: helper.FormatToken, MinTTL: helper.DefaultMinTTL,
		Timeout: helper.DefaultTimeout, BaseURL: helper.DefaultBaseURL, Stderr: os.Stderr}
	minTTL := helper.DefaultMinTTL.String()
	values := map[string]*string{"email": &cfg.Email, "output": &cfg.Output, "min-ttl": &minTTL, "base-url": &cfg.BaseURL}
	envs := map[string]string{"AKIFLOW_EMAIL": "email", "AKIFLOW_OUTPUT": "output", "AKIFLOW_MIN_TTL": "min-ttl", "AKIFLOW_BASE_URL": "base-url"}
	for env, name := range envs {
		if v, set := lookupEnv(env); set {
			if !utf8.ValidString(v) {
				return cfg, false // kong would change it
			}
			*values[name] = v
		}
	}
	// Kong checks every variable, even one a flag overrides, and even one
	// that does not matter to a cache hit.
	if v, set := lookupEnv("AKIFLOW_MIN_TTL"); set {
		if _, err := time.ParseDuration(v); err != nil {
			return cfg, false
		}
	}
	if v, set := lookupEnv("AKIFLOW_OUTPUT"); set && !slices.Contains(helper.Formats, v) {
		return cfg, false
	}
	if v, set := lookupEnv("AKIFLOW_TIMEOUT"); set {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return cfg, false
		}
	}
	if v, set := lookupEnv("AKIFLOW_NON_INTERACTIVE"); set {
		if _, err := strconv.ParseBool(v); err != nil {
			return cfg, false
		}
	}
	short := map[string]string{"-e": "email", "-o": "output"}
	for i := 0; i < len(args); i++ {
		if !utf8.ValidString(args[i]) {
			return cfg, false
		}
		name, value, inline := strings.Cut(strings.TrimPrefix(args[i], "--"), "=")
		if long, ok := short[args[i]]; ok {
			name = long
		} else if !strings.HasPrefix(args[i], "--") {
			return cfg, false
		}
		target, ok := values[name]
		if !ok {
			return cfg, false
		}
		if !inline {
			if i++; i == len(args) || strings.HasPrefix(args[i], "-") {
				return cfg, false
			}
			if value = args[i]; !utf8.ValidString(value) {
				return cfg, false
			}
		}
		*target = value
	}
	d, err := time.ParseDuration(minTTL)
	if err != nil {
		return cfg, false
	}
	cfg.MinTTL = d
	if !slices.Contains(helper.Formats, cfg.Output) {
		return cfg, false
	}
	if cfg.Output == helper.FormatExecCredential {
		cfg.ExecInfo, _ = lookupEnv("KUBERNETES_EXEC_INFO")
	}
	return cfg, true
}
