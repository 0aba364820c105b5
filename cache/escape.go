package cache

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// escape turns a name (an email, a host:port) into a file name that is the
// same on every system: letters, digits and "@._+-" stay, anything else
// (and a leading dot) becomes %XX. On Windows, so does the first byte of a
// name that Windows would take for a device (con, nul.x@y.z: see
// windowsDevice), and a last dot, which Windows drops.
func escape(name string) string { return escapeFor(name, runtime.GOOS == "windows") }

// escapeFor is escape, with Windows' rules or without.
func escapeFor(name string, windows bool) string {
	device := windows && windowsDevice(name)
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isPlain(c) && !(i == 0 && c == '.') && !(i == 0 && device) && !(windows && i == len(name)-1 && c == '.') {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// windowsDevice says Windows takes a file named name (with any extension
// after it: .json, .lock) for a device: CON, PRN, AUX, NUL, COM0-9 or
// LPT0-9 in any case, alone or before a dot (nul.x@y.z.json is NUL).
// Windows 11 dropped some of these rules; all are kept, for Windows 10.
func windowsDevice(name string) bool {
	stem, _, _ := strings.Cut(name, ".")
	stem = strings.TrimRight(stem, " ")
	switch strings.ToUpper(stem) {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(stem) == 4 {
		prefix := strings.ToUpper(stem[:3])
		return (prefix == "COM" || prefix == "LPT") && '0' <= stem[3] && stem[3] <= '9'
	}
	return false
}

func isPlain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '@' || c == '.' || c == '_' || c == '+' || c == '-'
}

// unescape reverses escape.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}
