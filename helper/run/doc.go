// Package run runs the command that "akiflow-token exec" is given.
//
// Plain exec replaces this process with the command (Exec): the command
// gets the process's stdin, stdout, stderr, signals and parent, and its
// exit status is the one the caller sees. exec --serve instead keeps this
// process alive as the command's parent while the local endpoint serves
// (Supervise): the command gets our stdin, stdout and stderr, the signals
// a service manager sends us (SIGTERM, SIGHUP) are passed on, and on Linux
// it gets SIGTERM if we die first; on Windows it runs in a job object that
// kills it, and what it started, when we die.
//
// Nothing here exits the process. Failures are *Error values whose
// ExitCode method gives the status a shell would use (127 not found, 126
// cannot run, 80 usage). Supervise returns the command's Status, and main
// ends as the command ended:
//
//	st, err := run.Supervise(path, argv, env)
//	if err != nil {
//		return err // 126 or 127, through ExitCode
//	}
//	if st.Signal != 0 {
//		run.Reraise(st.Signal) // dies of the same signal, if it can
//	}
//	os.Exit(st.Code) // 128+signal if it could not
//
// Where a process cannot be replaced (Windows), Exec runs the command as a
// child and returns an *ExitError carrying its Status, which main handles
// in the same way, without printing it.
package run
