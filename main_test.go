package main

import (
	"github.com/alecthomas/kong"

	"bytes"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestFastFlagsAreCurrent fails when fastflags.go no longer matches the
// cli struct; go generate rewrites it.
func TestFastFlagsAreCurrent(t *testing.T) {
	want, err := renderFastFlags()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("fastflags.go")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("fastflags.go is stale (%v): run go generate", err)
	}
}

// kongParse is what kong makes of args and env: the cli struct and the
// command, or ok false when kong refuses them.
func kongParse(args []string, env map[string]string) (c cli, command string, ok bool) {
	setEnv(env)
	parser := newParser(&c)
	parser.Exit = func(int) { panic(kongExited{}) } // --help, --version
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ctx, err := parser.Parse(args)
	if err != nil {
		return c, "", false
	}
	return c, ctx.Command(), true
}

type kongExited struct{}

// envNames are the variables of the cli struct, from kong's model.
func envNames() []string {
	var names []string
	var c cli
	model := newParser(&c).Model
	seen := map[string]bool{}
	for _, node := range append([]*kong.Node{model.Node}, model.Children...) {
		for _, f := range node.Flags {
			for _, e := range f.Envs {
				if !seen[e] {
					seen[e] = true
					names = append(names, e)
				}
			}
		}
	}
	return append(names, "KUBERNETES_EXEC_INFO")
}

// setEnv sets exactly env's variables among envNames.
func setEnv(env map[string]string) {
	for _, name := range envNames() {
		if v, ok := env[name]; ok {
			os.Setenv(name, v)
		} else {
			os.Unsetenv(name)
		}
	}
}

// checkAgrees fails if the fast path takes args and env differently from
// kong; it says whether the fast path took them.
func checkAgrees(t testing.TB, args []string, env map[string]string) bool {
	t.Helper()
	got, gotCommand, ok := fastParse(args, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if !ok {
		return false
	}
	want, wantCommand, kongOK := kongParse(args, env)
	switch {
	case !kongOK:
		t.Errorf("%q %v: the fast path takes what kong refuses", args, env)
	case gotCommand != wantCommand:
		t.Errorf("%q %v: fast path runs %q, kong %q", args, env, gotCommand, wantCommand)
	case got.GitCredential != want.GitCredential || got.Switch != want.Switch || got.Logout != want.Logout:
		t.Errorf("%q %v: fast path %+v %+v %+v, kong %+v %+v %+v", args, env, got.GitCredential, got.Switch, got.Logout,
			want.GitCredential, want.Switch, want.Logout)
	}
	if strings.HasPrefix(gotCommand, "exec") && !reflect.DeepEqual(got.Exec, want.Exec) {
		t.Errorf("%q %v: fast path exec %+v, kong %+v", args, env, got.Exec, want.Exec)
	}
	for _, f := range fastFlags {
		if g, w := reflect.ValueOf(f.field(got)).Elem().Interface(), reflect.ValueOf(f.field(&want)).Elem().Interface(); f.global && g != w {
			t.Errorf("%q %v: --%s: fast path %v, kong %v", args, env, f.name, g, w)
		}
	}
	return true
}

func TestFastPathAgreesWithKong(t *testing.T) {
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
		{nil, map[string]string{"AKIFLOW_NON_INTERACTIVE": "yes"}, true},
		{nil, map[string]string{"AKIFLOW_NON_INTERACTIVE": "No"}, true},
		{nil, map[string]string{"AKIFLOW_NON_INTERACTIVE": "t"}, false},
		{[]string{"get"}, nil, false},
		{[]string{"git-credential", "get"}, nil, true},
		{[]string{"git-credential", "frobnicate", "-e", "a@b.c"}, nil, true},
		{[]string{"-v", "git-credential", "capability"}, nil, true},
		{[]string{"git-credential"}, nil, false},
		{[]string{"git-credential", "get", "extra"}, nil, false},
		{[]string{"tokne"}, nil, false},
		{[]string{"--app-version", "2.80.1", "--platform", "mac"}, map[string]string{"AKIFLOW_APP_VERSION": "3"}, true},
		{[]string{"-e", "a@b.c", "git-credential", "erase"}, nil, true},
		{[]string{"git-credential", "capability", "--insecure"}, nil, true},
		{[]string{"--force-refresh", "-v"}, nil, true},
		{[]string{"token", "--timeout", "2s"}, nil, true},
		{[]string{"-o", "yaml"}, nil, false},
		{[]string{"--min-ttl", "abc"}, nil, false},
		{nil, map[string]string{"AKIFLOW_MIN_TTL": "abc"}, false},
		{nil, map[string]string{"AKIFLOW_TIMEOUT": "soon"}, false},
		{nil, map[string]string{"AKIFLOW_NON_INTERACTIVE": "perhaps"}, false},
		{[]string{"status"}, nil, true},
		{[]string{"-o", "json", "status"}, nil, true},
		{[]string{"status", "-e", "a@b.c"}, nil, true},
		{[]string{"status", "extra"}, nil, false},
		{[]string{"logout"}, nil, true},
		{[]string{"logout", "--all"}, nil, true},
		{[]string{"--all", "logout"}, nil, false},
		{[]string{"status", "--all"}, nil, false},
		{[]string{"logout", "--all=true"}, nil, false},
		{[]string{"switch", "a@b.c"}, nil, true},
		{[]string{"switch", "token"}, nil, true},
		{[]string{"switch"}, nil, false},
		{[]string{"switch", "a@b.c", "x@y.z"}, nil, false},
		{[]string{"exec", "--", "true"}, nil, true},
		{[]string{"exec", "true"}, nil, true},
		{[]string{"exec", "--env", "X", "sh", "-c", "echo $X"}, nil, true},
		{[]string{"exec", "--env=X", "--serve", "--", "sh", "--env", "Y"}, nil, true},
		{[]string{"-v", "exec", "-e", "a@b.c", "--", "ls", "-l"}, nil, true},
		{[]string{"exec", "ls", "--", "x"}, nil, true},
		{[]string{"exec", "--", "--", "x"}, nil, true},
		{[]string{"exec"}, nil, false},
		{[]string{"exec", "--"}, nil, true}, // Run says exec needs a command
		{[]string{"exec", "--api-url", "https://x", "--", "ls"}, map[string]string{"AKIFLOW_API_URL": "https://y"}, true},
		{[]string{"exec", "--", "ls"}, map[string]string{"AKIFLOW_API_URL": "https://y"}, true},
		{[]string{"exec", "--bogus", "ls"}, nil, false},
		{[]string{"--env", "X", "exec", "ls"}, nil, false},
		{[]string{"logout", "--api-url", "https://x"}, nil, false},
		{[]string{"get", "store"}, nil, false},
		{[]string{"--force-refresh=true"}, nil, false},
		{[]string{"--help"}, nil, false},
		{[]string{"--version"}, nil, false},
		{[]string{"-o"}, nil, false},
		{[]string{"-e", "-o", "json"}, nil, false},
		{[]string{"--email", "a@b.c", "extra"}, nil, false},
		{[]string{"--", "token"}, nil, false},
		{[]string{"-\x00", "1h"}, nil, false}, // flags without a short name have short 0
	} {
		if got := checkAgrees(t, tc.args, tc.env); got != tc.want {
			t.Errorf("%q %v: fast path %v, want %v", tc.args, tc.env, got, tc.want)
		}
	}
}

// FuzzFastPath: whatever arguments and variables the fast path takes, kong
// takes the same way. Every variable of the cli struct gets a value.
func FuzzFastPath(f *testing.F) {
	saveEnv(f)
	f.Add("-o", "json", "--min-ttl", "1m", "", 0)
	f.Add("--email=a@b.c", "-o", "token", "--base-url", "https://x", 1)
	f.Add("--output", "curl", "-e", "x@y", "0s", 2)
	f.Add("get", "-v", "--timeout", "1s", "yes", 5)
	f.Add("--non-interactive", "--force-refresh", "erase", "--insecure", "", 7)
	f.Add("switch", "a@b.c", "-o", "json", "", 1)
	f.Add("logout", "--all", "status", "-v", "", 2)
	f.Add("exec", "--env", "X", "--", "", 3)
	f.Add("exec", "-v", "ls", "-l", "https://x", 8)
	names := envNames()
	f.Fuzz(func(t *testing.T, a, b, c, d, value string, which int) {
		env := map[string]string{}
		if which >= 0 {
			env[names[which%len(names)]] = value
		}
		if strings.ContainsRune(value, 0) {
			return // no environment holds a NUL: os.Setenv refuses it
		}
		checkAgrees(t, []string{a, b, c, d}, env)
		checkAgrees(t, slices.DeleteFunc([]string{a, b, c, d}, func(s string) bool { return s == "" }), env)
	})
}

// TestEveryVariableIsFuzzed: each variable of the cli struct, set to a
// valid value and an invalid one, is taken alike by both parsers.
func TestEveryVariableIsFuzzed(t *testing.T) {
	saveEnv(t)
	for _, name := range envNames() {
		for _, value := range []string{"", "0", "1", "yes", "t", "json", "1m", "-1m", "a@b.c", "http://127.0.0.1:1", "\xff"} {
			checkAgrees(t, nil, map[string]string{name: value})
			checkAgrees(t, []string{"git-credential", "get"}, map[string]string{name: value})
		}
	}
}

// saveEnv restores the variables kongParse changes.
func saveEnv(tb testing.TB) {
	for _, name := range envNames() {
		if v, ok := os.LookupEnv(name); ok {
			tb.Cleanup(func() { os.Setenv(name, v) })
		} else {
			tb.Cleanup(func() { os.Unsetenv(name) })
		}
	}
}

// FuzzCompletion: whatever line and cursor the shell sends (COMP_LINE and
// COMP_POINT are outside input), completion answers without a panic, one
// candidate per line, each starting with the word being completed.
func FuzzCompletion(f *testing.F) {
	for _, line := range []string{"akiflow-token ", "akiflow-token st", "akiflow-token -o ", "akiflow-token exec -- ls -", "akiflow-token git-credential --v", "akiflow-token completion z"} {
		f.Add(line, "")
	}
	f.Add("akiflow-token -o json", "-5")
	f.Add("akiflow-token", "999")
	var c cli
	parser := newParser(&c)
	f.Fuzz(func(t *testing.T, line, point string) {
		var out bytes.Buffer
		answerCompletion(&out, parser, line, point)
		for _, candidate := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if strings.ContainsAny(candidate, " \t") {
				t.Errorf("completing %q: candidate %q has a space", line, candidate)
			}
		}
	})
}

// An email that is not valid UTF-8 is refused before kong, which would
// turn it into U+FFFD: another account's name.
func TestInvalidUTF8EmailIsAUsageError(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"-e", "\xffa@b.c"}, nil},
		{[]string{"--email=\xffa@b.c", "status"}, nil},
		{nil, map[string]string{"AKIFLOW_EMAIL": "\xffa@b.c"}},
	} {
		err := checkArgs(tc.args, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		if err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
			t.Errorf("checkArgs(%q, %q) = %v, want a usage error", tc.args, tc.env, err)
		}
	}
}
