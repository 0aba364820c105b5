package format

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Git credential helper operations (gitcredentials(7)), the word after
// git-credential.
const (
	GitGet        = "get"
	GitStore      = "store"
	GitErase      = "erase"
	GitCapability = "capability"
)

// GitCapabilities is the whole answer to the capability operation: this
// helper understands authtype (the Bearer form of WriteGitAnswer).
const GitCapabilities = "version 0\ncapability authtype\n"

// Limits on what git may send: its own limit for a line, and a bound on the
// number of lines so that a runaway writer cannot make us read forever.
const (
	gitMaxLine  = 65535
	gitMaxLines = 1000
)

// GitRequest is what git sends a credential helper on stdin.
type GitRequest struct {
	Protocol, Host, Path string
	Username             string
	Password             string   // erase: the rejected password
	Credential           string   // erase: the rejected credential (authtype form)
	Capabilities         []string // capability[] lines: what this git understands
}

// CanBearer says git understands the authtype=Bearer answer (git >= 2.46).
func (r *GitRequest) CanBearer() bool {
	return r != nil && slices.Contains(r.Capabilities, "authtype")
}

// Rejected is the secret that an erase says was rejected: the credential
// in the authtype form, otherwise the password.
func (r *GitRequest) Rejected() string {
	if r == nil {
		return ""
	}
	return orDefault(r.Credential, r.Password)
}

// ParseGitRequest reads key=value lines up to a blank line or the end,
// CRLF or LF. Keys it does not know are skipped; a line longer than 65535
// bytes, more than 1000 lines, a line without "=" or with an empty key, or
// a value with a NUL is an error.
func ParseGitRequest(in io.Reader) (*GitRequest, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 4096), gitMaxLine+1)
	req := &GitRequest{}
	for n := 0; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			break
		}
		if n >= gitMaxLines {
			return nil, fmt.Errorf("git sent more than %d lines", gitMaxLines)
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			return nil, errors.New("git sent a line that is not key=value")
		}
		if strings.ContainsRune(value, 0) {
			return nil, fmt.Errorf("git sent a %s with a NUL byte", OneLine(key))
		}
		switch key {
		case "protocol":
			req.Protocol = value
		case "host":
			req.Host = value
		case "path":
			req.Path = value
		case "username":
			req.Username = value
		case "password":
			req.Password = value
		case "credential":
			req.Credential = value
		case "capability[]":
			req.Capabilities = append(req.Capabilities, value)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("git sent a line longer than %d bytes", gitMaxLine)
		}
		return nil, fmt.Errorf("could not read git's request: %w", err)
	}
	return req, nil
}

// WriteGitAnswer writes the answer to a get for c, in one write: the
// authtype=Bearer form (ephemeral, no password) to a git that can take it,
// otherwise the email as username and the token as password; both with
// password_expiry_utc. It refuses, writing nothing, what Write refuses.
func WriteGitAnswer(w io.Writer, req *GitRequest, c Credential) error {
	if err := c.check(); err != nil {
		return err
	}
	expiry := "password_expiry_utc=" + strconv.FormatInt(c.ExpiresAt.Unix(), 10) + "\n"
	var answer string
	if req.CanBearer() {
		answer = "capability[]=authtype\nauthtype=Bearer\ncredential=" + c.AccessToken + "\nephemeral=1\n" + expiry
	} else {
		answer = "username=" + c.Email + "\npassword=" + c.AccessToken + "\n" + expiry
	}
	if _, err := io.WriteString(w, answer); err != nil {
		return fmt.Errorf("could not write the answer to git: %w", err)
	}
	return nil
}

// IsAkiflowHost says the request is for Akiflow: https on akiflow.com or
// one of its subdomains (with :443 or no port), or the auth host itself
// with its scheme (authScheme and authHost as a URL has them: lower case,
// without the scheme's default port). A helper configured for every host
// must not hand an Akiflow token to any other site; a host that is not a
// DNS name or an IPv4 address with a port is never Akiflow.
func IsAkiflowHost(req *GitRequest, authScheme, authHost string) bool {
	if req == nil || !isDNSHost(req.Host) {
		return false // evil.com/.akiflow.com, evil.com#.akiflow.com, …
	}
	host := strings.ToLower(req.Host)
	if req.Protocol == authScheme && host == strings.ToLower(authHost) {
		return true
	}
	name := strings.TrimSuffix(host, ":443")
	return req.Protocol == "https" && (name == "akiflow.com" || strings.HasSuffix(name, ".akiflow.com"))
}

// isDNSHost accepts a host as git sends it: a DNS name (letters, digits,
// hyphens and dots) or an IPv4 address, with an optional port.
func isDNSHost(host string) bool {
	name, port, hasPort := strings.Cut(host, ":")
	if name == "" || hasPort && (port == "" || len(port) > 5 || strings.ContainsFunc(port, func(r rune) bool { return r < '0' || r > '9' })) {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool {
		return !(r == '-' || r == '.' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	})
}
