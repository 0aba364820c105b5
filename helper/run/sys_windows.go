package run

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// childProcAttr starts the command suspended: it runs nothing until tie
// has put it in its job, so that nothing it starts escapes the job.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: windows.CREATE_SUSPENDED}
}

// reraise does nothing: this system has no signals that kill a process.
func reraise(sig syscall.Signal) {}

// tie puts the command p, started suspended, in a job object of its own
// with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, then lets it run. The job's one
// handle is this process's, not inheritable: when this process ends,
// however it ends (TerminateProcess, a crash), Windows closes it and kills
// the command and whatever it started that is still in the job.
//
// This is exec --serve's guard on Windows, in place of Unix's listening
// socket kept open in the command (Go cannot pass a socket on there:
// TCPListener.File is not supported): the port is not kept bound once we
// are gone, so nothing that holds the endpoint's URLs outlives it, and no
// other user's program that takes the port can collect their requests.
//
// JOB_OBJECT_LIMIT_BREAKAWAY_OK lets a process that asks for it
// (CREATE_BREAKAWAY_FROM_JOB) start outside the job: a refresh started by
// an akiflow-token that the command runs must finish whatever happens to
// its parent.
//
// untie closes the job once the command has ended: with leftoversDie,
// what the command left running dies then (exec --serve: the URLs die
// with the endpoint); without, the kill is lifted first and it lives on,
// as after Unix's execve (exec).
func tie(name string, p *os.Process) (untie func(leftoversDie bool), err error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err == nil {
		err = setJobLimits(job, windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE|windows.JOB_OBJECT_LIMIT_BREAKAWAY_OK)
		if err == nil {
			err = assign(job, p.Pid)
		}
		if err == nil {
			err = resume(p.Pid)
		}
		if err != nil {
			windows.CloseHandle(job)
		}
	}
	if err != nil {
		return nil, withCode(ExitCannotRun, "%s: cannot run it in a job object that ends with this process: %w", name, err)
	}
	return func(leftoversDie bool) {
		if !leftoversDie {
			setJobLimits(job, windows.JOB_OBJECT_LIMIT_BREAKAWAY_OK)
		}
		windows.CloseHandle(job)
	}, nil
}

func setJobLimits(job windows.Handle, flags uint32) error {
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{LimitFlags: flags},
	}
	_, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
	if err != nil {
		return fmt.Errorf("SetInformationJobObject: %w", err)
	}
	return nil
}

// assign puts process pid, our child (whose handle os/exec holds: the pid
// cannot name another process meanwhile), in job.
func assign(job windows.Handle, pid int) error {
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return fmt.Errorf("OpenProcess: %w", err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		return fmt.Errorf("AssignProcessToJobObject: %w", err)
	}
	return nil
}

// resume starts the suspended process pid's thread: os/exec closes the
// thread handle CreateProcess gave, so it is found among the system's
// threads.
func resume(pid int) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return fmt.Errorf("CreateToolhelp32Snapshot: %w", err)
	}
	defer windows.CloseHandle(snap)
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	resumed := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != uint32(pid) {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return fmt.Errorf("OpenThread: %w", err)
		}
		_, err = windows.ResumeThread(th)
		windows.CloseHandle(th)
		if err != nil {
			return fmt.Errorf("ResumeThread: %w", err)
		}
		resumed++
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		return fmt.Errorf("Thread32Next: %w", err)
	}
	if resumed == 0 {
		return errors.New("the command's thread is not among the system's")
	}
	return nil
}
