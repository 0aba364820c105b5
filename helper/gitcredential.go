package helper

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Git credential helper operations (gitcredentials(7)).
const (
	GitGet        = "get"
	GitStore      = "store"
	GitErase      = "erase"
	GitCapability = "capability"
)

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
	Password             string // erase: the rejected password
	Credential           string // erase: the rejected credential (authtype form)
	Capabilities         []string
}

// canBearer says git understands the authtype=Bearer answer (git >= 2.46).
func (r *GitRequest) canBearer() bool {
	for _, c := range r.Capabilities {
		if c == "authtype" {
			return true
		}
	}
	return false
}

// ParseGitRequest reads key=value lines up to a blank line or the end.
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
			return nil, fmt.Errorf("git sent a %s with a NUL byte", oneLine(key))
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

// isAkiflow says the request is for Akiflow: https on akiflow.com or one of
// its subdomains, or the auth host itself. A helper configured for every
// host must not hand an Akiflow token to any other site.
func (h *Helper) isAkiflow(req *GitRequest) bool {
	if !isDNSHost(req.Host) {
		return false // evil.com/.akiflow.com, evil.com#.akiflow.com, …
	}
	host := strings.ToLower(req.Host)
	if req.Protocol == h.base.Scheme && host == strings.ToLower(h.base.Host) {
		return true
	}
	name := strings.TrimSuffix(host, ":443")
	return req.Protocol == "https" && (name == "akiflow.com" || strings.HasSuffix(name, ".akiflow.com"))
}

// GitCredential answers one git credential helper operation. It writes to
// out only on success (git parses stdout whatever the exit status); an
// unknown operation, a store, or a request for another host gets nothing.
func (h *Helper) GitCredential(ctx context.Context, op string, in io.Reader, out io.Writer) error {
	switch op {
	case GitCapability:
		_, err := io.WriteString(out, "version 0\ncapability authtype\n")
		return err
	case GitGet, GitErase:
	case GitStore:
		io.Copy(io.Discard, io.LimitReader(in, 1<<20)) // git writes it all; keep its pipe from breaking
		return nil
	default:
		return nil
	}
	req, err := ParseGitRequest(in)
	if err != nil {
		return err
	}
	if !h.isAkiflow(req) {
		h.logf("git asked for %s://%s, which is not Akiflow: no answer", oneLine(req.Protocol), oneLine(req.Host))
		return nil
	}
	if req.Username != "" && CheckEmail(req.Username) == nil {
		h.cfg.Email = req.Username
	}
	if op == GitErase {
		return h.dropAccessToken(ctx, orDefault(req.Credential, req.Password))
	}
	s, err := h.Token(ctx)
	if err != nil {
		return err
	}
	expiry := fmt.Sprintf("password_expiry_utc=%d\n", s.ExpiresAt.Unix())
	var answer string
	if req.canBearer() {
		answer = "capability[]=authtype\nauthtype=Bearer\ncredential=" + s.AccessToken + "\nephemeral=1\n" + expiry
	} else {
		answer = "username=" + s.Email + "\npassword=" + s.AccessToken + "\n" + expiry
	}
	_, err = io.WriteString(out, answer)
	return err
}

// dropAccessToken forgets the cached access token when it is the one git
// says was rejected, so that the next get refreshes. The refresh token stays.
func (h *Helper) dropAccessToken(ctx context.Context, rejected string) error {
	email, err := h.account()
	if err != nil || email == "" || rejected == "" {
		return err
	}
	lock, err := h.lock(ctx, email)
	if err != nil {
		return err
	}
	defer lock.Close()
	s, err := h.load(email)
	if err != nil || s == nil || s.AccessToken != rejected {
		return err
	}
	s.AccessToken, s.ExpiresAt = "", time.Time{}
	h.logf("git rejected the cached token of %s: dropped it", email)
	return h.save(s)
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
