// Command floor-http is floor with an HTTP client: the least a helper that
// can refresh must carry. On a cache hit it does what floor does, with
// net/http linked and initialised; on a stale token it refreshes.
//
//	floor-http SESSION.json
package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	var s struct {
		AccessToken  string    `json:"access_token"`
		RefreshToken string    `json:"refresh_token"`
		ExpiresAt    time.Time `json:"expires_at"`
		BaseURL      string    `json:"base_url"`
	}
	if json.Unmarshal(data, &s) != nil {
		os.Exit(1)
	}
	if time.Until(s.ExpiresAt) < 5*time.Minute {
		resp, err := http.PostForm(s.BaseURL+"/oauth/refreshToken", url.Values{"refresh_token": {s.RefreshToken}})
		if err != nil {
			os.Exit(4)
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&s) != nil {
			os.Exit(4)
		}
	}
	os.Stdout.WriteString(s.AccessToken + "\n")
}
