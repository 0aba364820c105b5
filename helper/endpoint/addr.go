package endpoint

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultAPIURL is the Akiflow API the proxy forwards to.
const DefaultAPIURL = "https://api.akiflow.com"

// DefaultListen lets the system pick a free port on loopback.
const DefaultListen = "127.0.0.1:0"

// ParseAPIURL accepts the proxy's upstream: https on akiflow.com or one of
// its subdomains, or plain http on loopback (a fake, in tests). The access
// token goes nowhere else. A path is kept as the prefix of every forwarded
// path.
func ParseAPIURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 512 || u.Host == "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("not a URL such as %s", DefaultAPIURL)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme == "https" && dnsName(host) && (host == "akiflow.com" || strings.HasSuffix(host, ".akiflow.com")):
	case u.Scheme == "http" && isLoopback(host):
	case u.Scheme == "https" || u.Scheme == "http":
		return nil, errors.New("the access token goes only to akiflow.com or its subdomains over https (or to this machine over http, for tests)")
	default:
		return nil, errors.New("must start with https://")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not a port number", port)
		}
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// dnsName says host is a DNS name: letters, digits, hyphens and dots, so
// that no IP literal (an IPv6 zone may end in ".akiflow.com") passes for
// one.
func dnsName(host string) bool {
	return host != "" && !strings.ContainsFunc(host, func(r rune) bool {
		return !(r == '.' || r == '-' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9')
	})
}

// ParseListen checks a listen address: an IP address of this machine's
// loopback (or localhost, taken as 127.0.0.1) and a port (0: any free one).
// It returns the address to listen on.
func ParseListen(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("not a host:port such as %s", DefaultListen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("port %q is not a port number", port)
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", errors.New("the endpoint listens on loopback only (127.0.0.1, ::1): other machines must not reach it")
	}
	return net.JoinHostPort(ip.String(), port), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
