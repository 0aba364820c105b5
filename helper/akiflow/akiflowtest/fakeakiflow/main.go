// Command fakeakiflow runs the tests' fake Akiflow server (package
// akiflowtest) on loopback, so that akiflow-token can be tried offline:
//
//	go run ./helper/akiflow/akiflowtest/fakeakiflow > /tmp/tryit/env
//
// It prints on stdout the shell lines that point akiflow-token at it
// (AKIFLOW_BASE_URL, XDG_CACHE_HOME set to a fresh temporary folder so
// that the real cache is untouched, and AKIFLOW_MCP_URL, its MCP resource,
// for --oauth), prints each code it "mails" on stderr,
// and serves until interrupted, when it removes that folder. It is not part
// of the installed akiflow-token.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode"

	"akiflow-token/helper/akiflow/akiflowtest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "serve on this loopback `address` (port 0: a free one)")
	expiresIn := flag.Duration("expires-in", 30*time.Minute, "lifetime of the access tokens it issues (Akiflow's: 30m); a short one, such as 60s, shows a refresh soon")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: fakeakiflow [--listen ADDR] [--expires-in DURATION]\n\n"+
			"Runs a fake Akiflow auth server on loopback until Ctrl-C, prints on stdout\n"+
			"the shell lines that point akiflow-token at it, and prints on stderr each\n"+
			"code it \"mails\".\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fail(2, "unexpected argument %q", flag.Arg(0))
	}
	if *expiresIn < time.Second {
		fail(2, "--expires-in %v: want at least 1s", *expiresIn)
	}
	if err := checkLoopback(*listen); err != nil {
		fail(2, "--listen %s: %v", *listen, err)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fail(1, "%v", err)
	}
	cache, err := os.MkdirTemp("", "fakeakiflow-cache-")
	if err != nil {
		l.Close()
		fail(1, "%v", err)
	}

	srv := akiflowtest.NewServerOn(l)
	srv.SetExpiresIn(int(expiresIn.Round(time.Second) / time.Second))
	srv.OnCode(func(email, code string) {
		fmt.Fprintf(os.Stderr, "code for %s: %s\n", printable(email), code)
	})
	// Stop only on a signal, and clean up whatever it is.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)

	fmt.Printf("export AKIFLOW_BASE_URL=%s\n", shellQuote(srv.URL))
	fmt.Printf("export XDG_CACHE_HOME=%s\n", shellQuote(cache))
	fmt.Printf("export AKIFLOW_MCP_URL=%s\n", shellQuote(srv.MCPURL()))
	fmt.Printf("# the codes this fake \"mails\" appear on its stderr; Ctrl-C stops it and removes XDG_CACHE_HOME\n")
	fmt.Fprintf(os.Stderr, "fake Akiflow on %s (tokens live %v); Ctrl-C stops it\n", srv.URL, expiresIn.Round(time.Second))

	sig := <-stop
	signal.Stop(stop)
	srv.CloseClientConnections()
	srv.Close()
	if err := os.RemoveAll(cache); err != nil {
		fail(1, "%v", err)
	}
	fmt.Fprintf(os.Stderr, "fake Akiflow stopped (%v); removed %s\n", sig, cache)
}

// checkLoopback refuses an address that is not on loopback: the fake hands
// out codes to anyone who asks, and akiflow-token speaks plain http only to
// localhost.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("the fake serves on loopback only (127.0.0.1:PORT, [::1]:PORT)")
	}
	return nil
}

// shellQuote quotes s for a POSIX shell, when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+=,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printable drops what a terminal would interpret from text a client sent.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsGraphic(r) {
			return r
		}
		return -1
	}, s)
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fakeakiflow: "+format+"\n", args...)
	os.Exit(code)
}
