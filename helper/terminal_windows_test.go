package helper

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// terminalProbe, set in the environment of this test binary, makes it
// open the terminal as OpenTerminal does, read a line from it, print what
// it got on stdout, and exit (TestMain).
const terminalProbe = "AKIFLOW_TEST_TERMINAL_PROBE"

func TestMain(m *testing.M) {
	if os.Getenv(terminalProbe) != "" {
		f, err := OpenTerminal()
		if err != nil {
			os.Stdout.WriteString("error: " + err.Error())
			os.Exit(0)
		}
		line, err := bufio.NewReader(f).ReadString('\n')
		f.Close()
		os.Stdout.WriteString("line: " + strings.TrimSpace(line))
		if err != nil {
			os.Stdout.WriteString(" error: " + err.Error())
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Without a console (a detached process), OpenTerminal fails, and the
// flow then says there is no terminal to ask (login_test.go).
func TestOpenTerminalWithoutAConsole(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), terminalProbe+"=1")
	cmd.SysProcAttr = &windows.SysProcAttr{CreationFlags: windows.DETACHED_PROCESS}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the probe: %v", err)
	}
	if !strings.HasPrefix(string(out), "error: open CONIN$") {
		t.Errorf("OpenTerminal in a process without a console: %q, want an error opening CONIN$", out)
	}
}

// With a console, OpenTerminal reads what is typed there: the probe runs
// in a console of its own, and this process types a code into it.
func TestOpenTerminalReadsTheConsole(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), terminalProbe+"=1")
	cmd.SysProcAttr = &windows.SysProcAttr{CreationFlags: windows.CREATE_NEW_CONSOLE}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if err := typeInto(cmd.Process.Pid, "123 456\r"); err != nil {
		// Wine without a display gives a new console no input: only
		// real Windows (or a Wine with one) can run this.
		t.Skipf("cannot type into a new console here: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the probe: %v", err)
	}
	if out.String() != "line: 123 456" {
		t.Errorf("OpenTerminal in a console where 123 456 was typed: %q, want the line", out.String())
	}
}

// typeInto types text into the console of process pid, as key presses.
func typeInto(pid int, text string) error {
	procFreeConsole.Call() // this process's own, if any: one console at a time
	var err error
	for range 200 { // the console is there once the process has started
		if err = attachConsole(uint32(pid)); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("attaching to the probe's console: %w", err)
	}
	defer procFreeConsole.Call()
	name, _ := windows.UTF16PtrFromString("CONIN$")
	in, err := windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return fmt.Errorf("opening the probe's CONIN$: %w", err)
	}
	defer windows.CloseHandle(in)
	type keyEvent struct {
		eventType       uint16
		_               uint16
		keyDown         int32
		repeatCount     uint16
		virtualKeyCode  uint16
		virtualScanCode uint16
		char            uint16
		controlKeyState uint32
	}
	var events []keyEvent
	for _, r := range text {
		for _, down := range []int32{1, 0} {
			events = append(events, keyEvent{eventType: 1, keyDown: down, repeatCount: 1, char: uint16(r)})
		}
	}
	var written uint32
	r, _, err := procWriteConsoleInputW.Call(uintptr(in), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(unsafe.Pointer(&written)))
	if r == 0 || int(written) != len(events) {
		return fmt.Errorf("WriteConsoleInput: wrote %d of %d: %w", written, len(events), err)
	}
	return nil
}

var (
	kernel32               = windows.NewLazySystemDLL("kernel32.dll")
	procAttachConsole      = kernel32.NewProc("AttachConsole")
	procFreeConsole        = kernel32.NewProc("FreeConsole")
	procWriteConsoleInputW = kernel32.NewProc("WriteConsoleInputW")
)

func attachConsole(pid uint32) error {
	if r, _, err := procAttachConsole.Call(uintptr(pid)); r == 0 {
		return err
	}
	return nil
}
