package endpoint

import "testing"

func TestParseAPIURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://api.akiflow.com":                  "https://api.akiflow.com",
		"https://API.Akiflow.com/":                 "https://api.akiflow.com",
		"https://akiflow.com/api/":                 "https://akiflow.com/api",
		"https://eu.api.akiflow.com:8443":          "https://eu.api.akiflow.com:8443",
		"http://127.0.0.1:8080":                    "http://127.0.0.1:8080",
		"http://[::1]:8080/base":                   "http://[::1]:8080/base",
		"http://localhost:1":                       "http://localhost:1",
		"https://api.example.com":                  "",
		"https://akiflow.com.example.com":          "",
		"https://evilakiflow.com":                  "",
		"https://akiflow.com@example.com":          "",
		"https://u:p@api.akiflow.com":              "",
		"http://api.akiflow.com":                   "",
		"http://10.0.0.1":                          "",
		"https://127.0.0.1":                        "",
		"ftp://api.akiflow.com":                    "",
		"https://api.akiflow.com?x=1":              "",
		"https://api.akiflow.com#x":                "",
		"https://api.akiflow.com:99999":            "",
		"//api.akiflow.com":                        "",
		"api.akiflow.com":                          "",
		"":                                         "",
		"https://api.akiflow.com\\@e.com":          "",
		"https://api.akiflow.com%2f@e.com":         "",
		"https://[::1%25.akiflow.com]":             "",
		"https://[fe80::1%25eth0.akiflow.com]:443": "",
	} {
		u, err := ParseAPIURL(raw)
		switch {
		case want == "" && err == nil:
			t.Errorf("ParseAPIURL(%q) = %s, want an error", raw, u)
		case want != "" && err != nil:
			t.Errorf("ParseAPIURL(%q): %v", raw, err)
		case want != "" && u.String() != want:
			t.Errorf("ParseAPIURL(%q) = %s, want %s", raw, u, want)
		}
	}
}

func TestParseListen(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:0":     "127.0.0.1:0",
		"127.0.0.2:8080":  "127.0.0.2:8080",
		"[::1]:8080":      "[::1]:8080",
		"localhost:8080":  "127.0.0.1:8080",
		"0.0.0.0:0":       "",
		"[::]:0":          "",
		":8080":           "",
		"192.168.1.1:80":  "",
		"example.com:80":  "",
		"127.0.0.1":       "",
		"127.0.0.1:65536": "",
		"127.0.0.1:http":  "",
	} {
		got, err := ParseListen(addr)
		if want == "" && err == nil || want != "" && (err != nil || got != want) {
			t.Errorf("ParseListen(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}
