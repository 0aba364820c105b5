package main

import (
	"fmt"
	"os"
	"testing"

	"akiflow-token/helper"
)

// envNames are the variables either parser reads.
var envNames = []string{"AKIFLOW_EMAIL", "AKIFLOW_OUTPUT", "AKIFLOW_MIN_TTL", "AKIFLOW_BASE_URL",
	"AKIFLOW_TIMEOUT", "AKIFLOW_NON_INTERACTIVE", "KUBERNETES_EXEC_INFO"}

// kongConfig is what the full command line makes of args and env, and
// whether it runs the default command with no operation.
func kongConfig(t testing.TB, args []string, env map[string]string) (helper.Config, bool) {
	for _, name := range envNames {
		if v, ok := env[name]; ok {
			os.Setenv(name, v)
		} else {
			os.Unsetenv(name)
		}
	}
	var c cli
	ctx, err := newParser(&c).Parse(args)
	if err != nil {
		return helper.Config{}, false
	}
	return c.config(), ctx.Command() == "token"
}

// hitFields are the Config fields a cache hit depends on.
func hitFields(c helper.Config) string {
	return fmt.Sprintf("email=%q output=%q min-ttl=%s base-url=%q exec-info=%q", c.Email, c.Output, c.MinTTL, c.BaseURL, c.ExecInfo)
}

func quick(args []string, env map[string]string) (helper.Config, bool) {
	return quickConfig(args, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

// checkAgrees fails if the fast path takes args and env differently from
// kong; it says whether the fast path took them.
func checkAgrees(t testing.TB, args []string, env map[string]string) bool {
	t.Helper()
	got, ok := quick(args, env)
	if !ok {
		return false
	}
	want, isToken := kongConfig(t, args, env)
	if !isToken {
		t.Errorf("%q %v: the fast path takes what kong does not run as the token command", args, env)
	} else if hitFields(got) != hitFields(want) {
		t.Errorf("%q %v: fast path %s, kong %s", args, env, hitFields(got), hitFields(want))
	}
	return true
}

func TestQuickConfigAgreesWithKong(t *testing.T) {
	saveEnv(t)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want bool // the fast path takes it
	}{
		{nil, nil, true},
		{[]string{"-o", "json"}, nil, true},
		{[]string{"--output=header"}, nil, true},
		{[]string{"-e", "a@b.c", "--min-ttl", "10m"}, nil, true},
		{[]string{"--base-url", "http://127.0.0.1:1", "-o", "exec-credential"}, map[string]string{"KUBERNETES_EXEC_INFO": "{}"}, true},
		{nil, map[string]string{"AKIFLOW_OUTPUT": "curl", "AKIFLOW_MIN_TTL": "1m", "AKIFLOW_EMAIL": "x@y.z"}, true},
		{[]string{"-o", "header"}, map[string]string{"AKIFLOW_OUTPUT": "json"}, true},
		{nil, map[string]string{"AKIFLOW_TIMEOUT": "3s", "AKIFLOW_NON_INTERACTIVE": "true"}, true},
		{[]string{"-o", "yaml"}, nil, false},
		{[]string{"--min-ttl", "abc"}, nil, false},
		{nil, map[string]string{"AKIFLOW_MIN_TTL": "abc"}, false},
		{nil, map[string]string{"AKIFLOW_TIMEOUT": "soon"}, false},
		{nil, map[string]string{"AKIFLOW_NON_INTERACTIVE": "perhaps"}, false},
		{[]string{"status"}, nil, false},
		{[]string{"get"}, nil, false},
		{[]string{"-v"}, nil, false},
		{[]string{"--help"}, nil, false},
		{[]string{"-o"}, nil, false},
		{[]string{"-e", "-o", "json"}, nil, false},
		{[]string{"--email", "a@b.c", "extra"}, nil, false},
		{[]string{"--force-refresh"}, nil, false},
	} {
		if got := checkAgrees(t, tc.args, tc.env); got != tc.want {
			t.Errorf("%q %v: fast path %v, want %v", tc.args, tc.env, got, tc.want)
		}
	}
}

// FuzzQuickConfig: whatever arguments the fast path takes, kong takes the
// same way.
func FuzzQuickConfig(f *testing.F) {
	saveEnv(f)
	f.Add("-o", "json", "--min-ttl", "1m", "")
	f.Add("--email=a@b.c", "-o", "token", "--base-url", "https://x")
	f.Add("--output", "curl", "-e", "x@y", "--min-ttl=0s")
	f.Fuzz(func(t *testing.T, a, b, c, d, minTTLEnv string) {
		var env map[string]string
		if minTTLEnv != "" {
			env = map[string]string{"AKIFLOW_MIN_TTL": minTTLEnv}
		}
		checkAgrees(t, []string{a, b, c, d}, env)
	})
}

// saveEnv restores the variables kongConfig changes.
func saveEnv(tb testing.TB) {
	for _, name := range envNames {
		if v, ok := os.LookupEnv(name); ok {
			tb.Cleanup(func() { os.Setenv(name, v) })
		} else {
			tb.Cleanup(func() { os.Unsetenv(name) })
		}
	}
}
