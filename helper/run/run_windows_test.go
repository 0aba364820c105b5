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
//     Supervise, prints "status CODE" and exits with it, as main does.
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

var procAllocConsole = windows.NewLazySystemDLL("kernel32.dll").NewProc("AllocConsole")
