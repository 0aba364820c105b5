//go:build unix && !linux

package refresh

// fdDir lists the process's open descriptors (darwin; FreeBSD with fdescfs).
const fdDir = "/dev/fd"
