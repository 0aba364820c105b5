package helper

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"akiflow-token/helper/store/memstore"
)

// The unit tests of New and of what a Config or a Request may hold.

func TestParseBaseURL(t *testing.T) {
	for good, host := range map[string]string{
		"https://web.akiflow.com":          "web.akiflow.com",
		"https://staging.example.com/":     "staging.example.com",
		"https://Web.Akiflow.COM:443/path": "web.akiflow.com",
		"https://web.akiflow.com:8443":     "web.akiflow.com:8443",
		"http://127.0.0.1:8080":            "127.0.0.1:8080",
		"http://localhost:1":               "localhost:1",
		"http://LOCALHOST:80":              "localhost",
		"http://[::1]:2":                   "[::1]:2",
	} {
		u, err := ParseBaseURL(good)
		if err != nil {
			t.Errorf("ParseBaseURL(%q): %v", good, err)
			continue
		}
		if u.Host != host || strings.HasSuffix(u.Path, "/") {
			t.Errorf("ParseBaseURL(%q): host %q, path %q; want host %q, no trailing slash", good, u.Host, u.Path, host)
		}
	}
	for _, bad := range []string{"", "web.akiflow.com", "http://web.akiflow.com", "ftp://x", "https://u:p@x", "https://x?q=1",
		"https://x#f", "http://127.0.0.1.evil.com", "https://" + strings.Repeat("a", 512) + ".com"} {
		if _, err := ParseBaseURL(bad); err == nil {
			t.Errorf("ParseBaseURL(%q) accepted", bad)
		}
		if bad == "" {
			continue // Config's empty base URL is the default one
		}
		_, err := New(Config{BaseURL: bad, Timeout: time.Second}, func(string) Store { return memstore.New() })
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "base-url" || ExitCode(err) != ExitUsage ||
			!strings.HasPrefix(fe.Named("AKIFLOW_BASE_URL"), "AKIFLOW_BASE_URL ") || !strings.HasPrefix(err.Error(), "--base-url ") {
			t.Errorf("New with the base URL %q: got %v, want a usage error naming where it came from", bad, err)
		}
	}
}

// New refuses a Config value that cannot be used with a FieldError that
// names the field, so that the caller can say where the value came from;
// it opens no store then.
func TestNewNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"plain http", Config{BaseURL: "http://web.akiflow.com", Timeout: time.Second}, "base-url"},
		{"no timeout", Config{}, "timeout"},
		{"negative timeout", Config{Timeout: -time.Second}, "timeout"},
		{"too long a timeout", Config{Timeout: MaxTimeout + time.Second}, "timeout"},
		{"app version with a space", Config{Timeout: time.Second, AppVersion: "2 0"}, "app-version"},
		{"app version with a line break", Config{Timeout: time.Second, AppVersion: "2.0\nX-Evil: 1"}, "app-version"},
		{"long app version", Config{Timeout: time.Second, AppVersion: strings.Repeat("1", 33)}, "app-version"},
		{"platform with a slash", Config{Timeout: time.Second, Platform: "mac/arm"}, "platform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opened := false
			h, err := New(tc.cfg, func(string) Store { opened = true; return memstore.New() })
			var fe *FieldError
			if h != nil || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("New: a Helper %v, %v; want a FieldError for %q", h != nil, err, tc.field)
			}
			env := "AKIFLOW_" + strings.ToUpper(strings.ReplaceAll(tc.field, "-", "_"))
			if named := fe.Named(env); !strings.HasPrefix(named, env+" ") || strings.Contains(named, "--"+tc.field) || strings.Contains(named, "\n") {
				t.Errorf("Named(%q) = %q", env, named)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "--"+tc.field+" ") {
				t.Errorf("Error() = %q, want it to start with --%s", msg, tc.field)
			}
			if ExitCode(err) != ExitUsage {
				t.Errorf("exit %d, want %d", ExitCode(err), ExitUsage)
			}
			if opened {
				t.Errorf("New opened a store")
			}
		})
	}
	h, err := New(Config{Timeout: MaxTimeout}, func(string) Store { return memstore.New() })
	if err != nil {
		t.Fatalf("New with the defaults and the longest timeout: %v", err)
	}
	if h.BaseURL().String() != DefaultBaseURL {
		t.Errorf("the default base URL: %q, want %q", h.BaseURL(), DefaultBaseURL)
	}
}

// New opens the store of the auth host: its host in lower case, without
// the scheme's default port.
func TestNewOpensTheStoreOfTheHost(t *testing.T) {
	var hosts []string
	h, err := New(Config{BaseURL: "https://Web.Akiflow.COM:443/", Timeout: time.Second}, func(host string) Store {
		hosts = append(hosts, host)
		return memstore.New()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || hosts[0] != "web.akiflow.com" || h.Host() != "web.akiflow.com" {
		t.Errorf("opened %q, Host() %q; want web.akiflow.com once", hosts, h.Host())
	}
	// BaseURL is a copy: changing it changes nothing.
	h.BaseURL().Host = "evil.example"
	if h.Host() != "web.akiflow.com" {
		t.Errorf("Host() after changing BaseURL's copy: %q", h.Host())
	}
}

// Each call checks its Request: a value that cannot be used is a
// FieldError naming it, before the store is read.
func TestRequestIsChecked(t *testing.T) {
	f := newFlow(t, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		req   Request
		field string
	}{
		{Request{Account: "ada"}, "email"},
		{Request{Account: "ada@example.com\n"}, "email"},
		{Request{Account: "-e"}, "email"},
		{Request{Account: "a\u202e@b.c"}, "email"},
		{Request{Account: flowEmail, MinTTL: -time.Second}, "min-ttl"},
	} {
		f.resetCounts()
		for name, call := range map[string]func() error{
			"Token":  func() error { _, err := f.h.Token(ctx, tc.req); return err },
			"Login":  func() error { _, err := f.h.Login(ctx, tc.req); return err },
			"Logout": func() error { _, err := f.h.Logout(tc.req, false); return err },
			"Status": func() error { _, err := f.h.Status(tc.req); return err },
			"Switch": func() error { return f.h.Switch(tc.req) },
			"Drop":   func() error { return f.h.DropAccessToken(ctx, tc.req, "a.b.c") },
		} {
			var fe *FieldError
			if err := call(); !errors.As(err, &fe) || fe.Field != tc.field || ExitCode(err) != ExitUsage {
				t.Errorf("%s(%+q): %v, want a FieldError for %q", name, tc.req.Account, err, tc.field)
			}
		}
		if f.store.Reads != 0 {
			t.Errorf("%+q: %d store reads", tc.req.Account, f.store.Reads)
		}
	}
	f.wantRequests(nil)
	f.wantStderr()
}

// The login command a message suggests names the account as one shell
// word (an OAuth account comes from the server's email claim), and ends
// the message as it is, so that pasting it runs that command alone.
func TestLoginCommandQuotesTheAccount(t *testing.T) {
	h := &Helper{cfg: Config{OAuth: true}}
	for account, want := range map[string]string{
		"":                   "akiflow-token login --oauth",
		"ada@example.com":    "akiflow-token login --oauth -e ada@example.com",
		"$(id>&2)@evil.test": "akiflow-token login --oauth -e '$(id>&2)@evil.test'",
	} {
		if got := h.LoginCommand(account); got != want {
			t.Errorf("LoginCommand(%q) = %s, want %s", account, got, want)
		}
	}
	if runtime.GOOS == "windows" {
		return // no sh: format's tests check PowerShell's quoting
	}
	for _, account := range []string{"ada@example.com", "o'neil@example.com", "a'$(touch pwned)'@x.com", "`id`@x.com", `a\"b@x.com`} {
		msg := h.loginNeeded("a login is needed", account).Error()
		_, pasted, ok := strings.Cut(msg, "in a terminal, run: ")
		if !ok {
			t.Fatalf("the message names no command: %s", msg)
		}
		// What a person pastes, with an akiflow-token that prints its
		// arguments.
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "akiflow-token"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", pasted)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.Output()
		if want := "login\n--oauth\n-e\n" + account + "\n"; err != nil || string(out) != want {
			t.Errorf("pasted %s: sh ran it as %q (%v), want %q", pasted, out, err, want)
		}
	}
}
