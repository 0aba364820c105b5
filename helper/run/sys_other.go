//go:build !unix && !windows

package run

import "syscall"

// childProcAttr: no parent-death signal here.
func childProcAttr() *syscall.SysProcAttr { return nil }

// reraise does nothing: this system has no signals that kill a process.
func reraise(sig syscall.Signal) {}
