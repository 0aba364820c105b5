// Command supervisor runs a command through package run, as main will, for
// the package's tests:
//
//	supervisor [-exec] [-set NAME=VALUE]... CMD [ARGS...]
//
// Without -exec it runs CMD with run.Supervise, reports the Status on
// stderr ("status CODE SIGNAL") and ends as CMD ended (run.Reraise, then
// the exit status). With -exec it runs CMD with run.Exec. CMD is found
// with run.LookCommand, and its environment is ours with -set's variables
// (run.Env). A failure is reported on stderr with its exit status.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"akiflow-token/helper/run"
)

type sets map[string]string

func (s sets) String() string { return "" }

func (s sets) Set(kv string) error {
	name, value, ok := strings.Cut(kv, "=")
	if !ok {
		return errors.New("want NAME=VALUE")
	}
	s[name] = value
	return nil
}

func main() {
	doExec := flag.Bool("exec", false, "run the command with run.Exec")
	set := sets{}
	flag.Var(set, "set", "NAME=VALUE to set in the command's environment")
	flag.Parse()
	argv := flag.Args()
	path, err := run.LookCommand(argv)
	if err != nil {
		fail(err)
	}
	env := run.Env(os.Environ(), set)
	if *doExec {
		err := run.Exec(path, argv, env)
		var ended *run.ExitError
		if errors.As(err, &ended) {
			os.Exit(ended.Status.Code)
		}
		fail(err)
	}
	st, err := run.Supervise(path, argv, env)
	if err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "status %d %d\n", st.Code, int(st.Signal))
	if st.Signal != 0 {
		run.Reraise(st.Signal)
	}
	os.Exit(st.Code)
}

// fail reports err and exits with the status it calls for, as main does.
func fail(err error) {
	code := 1
	var coder interface{ ExitCode() int }
	if errors.As(err, &coder) {
		code = coder.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "supervisor: %v\n", err)
	os.Exit(code)
}
