// Command floor-refresh is the floor of a refresh: the same two exchanges
// as akiflow-token's (a csrf cookie, then the refresh with its XSRF header)
// and an fsynced, atomic save of the new tokens, in a bare Go process.
//
//	floor-refresh SESSION.json
package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

func main() {
	path := os.Args[1]
	data, err := os.ReadFile(path)
	if err != nil {
		os.Exit(1)
	}
	var s map[string]any
	if json.Unmarshal(data, &s) != nil {
		os.Exit(1)
	}
	base, _ := s["base_url"].(string)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	resp, err := c.Get(base + "/csrf-cookie")
	if err != nil {
		os.Exit(4)
	}
	resp.Body.Close()
	u, _ := url.Parse(base)
	var xsrf string
	for _, k := range jar.Cookies(u) {
		if k.Name == "XSRF-TOKEN" {
			xsrf, _ = url.QueryUnescape(k.Value)
		}
	}
	body, _ := json.Marshal(map[string]string{"client_id": "10", "refresh_token": s["refresh_token"].(string)})
	req, _ := http.NewRequest("POST", base+"/oauth/refreshToken", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-XSRF-TOKEN", xsrf)
	resp, err = c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		os.Exit(4)
	}
	var t struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
	}
	if json.NewDecoder(resp.Body).Decode(&t) != nil {
		os.Exit(4)
	}
	resp.Body.Close()
	s["access_token"], s["refresh_token"] = t.AccessToken, t.RefreshToken
	s["expires_at"] = time.Now().Add(time.Duration(t.ExpiresIn) * time.Second).UTC().Format(time.RFC3339)
	out, _ := json.MarshalIndent(s, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".floor")
	if err != nil {
		os.Exit(1)
	}
	tmp.Write(out)
	if tmp.Sync() != nil || tmp.Close() != nil || os.Rename(tmp.Name(), path) != nil {
		os.Exit(1)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	os.Stdout.WriteString(t.AccessToken + "\n")
}
