//go:build unix && !linux

package helper

// fdDir lists the process's open descriptors (darwin; FreeBSD with fdescfs).
const fdDir = "/dev/fd"
