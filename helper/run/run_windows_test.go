package run

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// testAs, in this test binary's environment, makes it a program of these
// tests instead (no Go toolchain is at hand under Wine to build them):
//   - "exit N": exits with status N;
//   - "env NAME VALUE": exits 3 if $NAME is VALUE, else 4;
//   - "interrupted DIR": writes DIR\ready, then exits 7 once it gets
//     Ctrl-C or Ctrl-Break (as a command at the console would), or 1
//     once DIR\stop exists;
//   - "supervise MODE...": runs itself with testAs=MODE... through
//     Supervise, prints "status CODE" and exits with it, as main does;
//   - "sleep FILE": writes its pid to FILE, then waits a minute;
//   - "leave DIR" (or "leave-breakaway DIR"): starts "sleep DIR\leftover"
//     (with CREATE_BREAKAWAY_FROM_JOB), waits until it has written its pid,
//     then exits 0, leaving it running;
//   - "hold DIR": starts "sleep DIR\leftover", writes its own pid to
//     DIR\command, then waits a minute.
const testAs = "AKIFLOW_RUN_TEST_AS"

func TestMain(m *testing.M) {
	if as, ok := os.LookupEnv(testAs); ok {
		os.Exit(actAs(strings.Fields(as)))
	}
	os.Exit(m.Run())
}

func actAs(args []string) int {
	switch args[0] {
	case "exit":
		n, _ := strconv.Atoi(args[1])
		return n
	case "env":
		if os.Getenv(args[1]) == args[2] {
			return 3
		}
		return 4
	case "interrupted":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt)
		os.WriteFile(filepath.Join(args[1], "ready"), nil, 0o600)
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			select {
			case <-sigs:
				return 7
			case <-time.After(10 * time.Millisecond):
			}
			if _, err := os.Stat(filepath.Join(args[1], "stop")); err == nil {
				break
			}
		}
		return 1
	case "sleep":
		tmp := args[1] + ".tmp"
		os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o600)
		os.Rename(tmp, args[1])
		time.Sleep(time.Minute)
		return 0
	case "leave", "leave-breakaway", "hold":
		leftover := filepath.Join(args[1], "leftover")
		exe, _ := os.Executable()
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), testAs+"=sleep "+leftover)
		if args[0] == "leave-breakaway" {
			cmd.SysProcAttr = &windows.SysProcAttr{CreationFlags: windows.CREATE_BREAKAWAY_FROM_JOB}
		}
		if err := cmd.Start(); err != nil {
			fmt.Print(err)
			return 98
		}
		if args[0] == "hold" {
			tmp := filepath.Join(args[1], "command.tmp")
			os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o600)
			os.Rename(tmp, filepath.Join(args[1], "command"))
			time.Sleep(time.Minute)
			return 0
		}
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(leftover); err == nil {
				return 0
			}
		}
		return 97
	case "supervise":
		exe, _ := os.Executable()
		st, err := Supervise(exe, []string{exe}, Env(os.Environ(), map[string]string{testAs: strings.Join(args[1:], " ")}))
		if err != nil {
			fmt.Print(err)
			return 99
		}
		fmt.Printf("status %d", st.Code)
		return st.Code
	}
	return 2
}

// self is this test binary, run as the program that as says.
func self(t *testing.T, as string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), testAs+"="+as)
	return cmd
}

// Supervise and Exec return the command's exit status, whole: Windows's
// are 32 bits (0xC000013A is a command ended by Ctrl-C).
func TestSuperviseStatus(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{0, 7, 255, 256, 0xC000013A} {
		env := Env(os.Environ(), map[string]string{testAs: fmt.Sprintf("exit %d", code)})
		st, err := Supervise(exe, []string{exe}, env)
		if err != nil || st != (Status{Code: code}) {
			t.Errorf("Supervise of a command that exits %d = %+v, %v", code, st, err)
		}
		err = Exec(exe, []string{exe}, env)
		var ended *ExitError
		if !errors.As(err, &ended) || ended.Status != (Status{Code: code}) {
			t.Errorf("Exec of a command that exits %d = %v, want an *ExitError with its status", code, err)
		}
	}
	st, err := Supervise(exe, []string{exe}, Env(os.Environ(), map[string]string{testAs: "env RUN_TEST_X yz", "RUN_TEST_X": "yz"}))
	if err != nil || st.Code != 3 {
		t.Errorf("Supervise with an environment = %+v, %v", st, err)
	}
	_, err = Supervise(filepath.Join(t.TempDir(), "missing.exe"), []string{"missing"}, nil)
	if got := exitCode(err); got != ExitNotFound || err.Error() != "missing: command not found" {
		t.Errorf("Supervise of a missing file = %v (exit status %d), want %d", err, got, ExitNotFound)
	}
}

// Ctrl-Break at the console reaches the command, which is in the same
// process group, and not the supervisor, which waits for the command and
// ends with its status.
func TestSuperviseLetsTheCommandTakeCtrlBreak(t *testing.T) {
	// A console of our own, if we have none, for the supervisor and its
	// command to share with us: console events go through a console.
	procAllocConsole.Call()
	dir := t.TempDir()
	cmd := self(t, "supervise interrupted "+dir)
	cmd.SysProcAttr = &windows.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		os.WriteFile(filepath.Join(dir, "stop"), nil, 0o600) // the command, left waiting
		cmd.Process.Kill()
		cmd.Wait()
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not start")
		}
	}
	if err := windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(cmd.Process.Pid)); err != nil {
		// A console's event needs a console: Wine without one has none.
		t.Skipf("cannot send Ctrl-Break here: %v", err)
	}
	err := cmd.Wait()
	if cmd.ProcessState.ExitCode() != 7 || out.String() != "status 7" {
		t.Errorf("after Ctrl-Break the supervisor ended with %v, saying %q; want exit status 7, status 7 (the command's)", err, out.String())
	}
}

var (
	procAllocConsole   = windows.NewLazySystemDLL("kernel32.dll").NewProc("AllocConsole")
	procIsProcessInJob = windows.NewLazySystemDLL("kernel32.dll").NewProc("IsProcessInJob")
)

// waitForProcess opens the process whose pid file appears, once it has.
func waitForProcess(t *testing.T, file string) windows.Handle {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(file)
		if err == nil {
			pid, _ := strconv.Atoi(string(b))
			h, err := windows.OpenProcess(windows.SYNCHRONIZE|windows.PROCESS_TERMINATE|windows.PROCESS_QUERY_INFORMATION, false, uint32(pid))
			if err != nil {
				t.Fatalf("opening process %d: %v", pid, err)
			}
			t.Cleanup(func() {
				windows.TerminateProcess(h, 1)
				windows.CloseHandle(h)
			})
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after a minute", file)
		}
	}
}

// ended says whether the process h has ended within d.
func ended(h windows.Handle, d time.Duration) bool {
	ev, _ := windows.WaitForSingleObject(h, uint32(d.Milliseconds()))
	return ev == windows.WAIT_OBJECT_0
}

// The command runs in a job object that kills it, and what it started,
// when the supervisor dies without a chance to do anything (here
// TerminateProcess: the job's handle closes with the process).
func TestSuperviseCommandDiesWithUs(t *testing.T) {
	dir := t.TempDir()
	supervisor := self(t, "supervise hold "+dir)
	if err := supervisor.Start(); err != nil {
		t.Fatal(err)
	}
	command := waitForProcess(t, filepath.Join(dir, "command"))
	leftover := waitForProcess(t, filepath.Join(dir, "leftover"))
	var inJob int32
	if r, _, err := procIsProcessInJob.Call(uintptr(command), 0, uintptr(unsafe.Pointer(&inJob))); r == 0 || inJob == 0 {
		t.Errorf("the command is not in a job (%v)", err)
	}
	if ended(command, 300*time.Millisecond) || ended(leftover, 0) {
		t.Fatal("the command or what it started ended before the supervisor")
	}
	supervisor.Process.Kill()
	supervisor.Wait()
	if !ended(command, 10*time.Second) {
		t.Error("the command still runs 10 s after its supervisor died")
	}
	if !ended(leftover, 10*time.Second) {
		t.Error("what the command started still runs 10 s after the supervisor died")
	}
}

// What the command leaves running is killed once Supervise returns
// (exec --serve: nothing that holds the endpoint's URLs outlives it),
// unless it left the job (CREATE_BREAKAWAY_FROM_JOB, as a refresh would);
// after Exec it lives on, as it would after execve on Unix.
func TestSuperviseLeftovers(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(mode string, exec bool) windows.Handle {
		dir := t.TempDir()
		env := Env(os.Environ(), map[string]string{testAs: mode + " " + dir})
		if exec {
			var ended *ExitError
			if err := Exec(exe, []string{exe}, env); !errors.As(err, &ended) || ended.Status.Code != 0 {
				t.Fatalf("Exec of %s: %v", mode, err)
			}
		} else if st, err := Supervise(exe, []string{exe}, env); err != nil || st.Code != 0 {
			t.Fatalf("Supervise of %s: %+v, %v", mode, st, err)
		}
		return waitForProcess(t, filepath.Join(dir, "leftover"))
	}
	if !ended(run("leave", false), 10*time.Second) {
		t.Error("what the command left running after Supervise still runs 10 s later")
	}
	if ended(run("leave-breakaway", false), time.Second) {
		t.Error("what the command started outside the job (CREATE_BREAKAWAY_FROM_JOB) ended with Supervise")
	}
	if ended(run("leave", true), time.Second) {
		t.Error("what the command left running after Exec ended with it")
	}
}
