// Command floor is the least a token helper can do on a cache hit: read a
// JSON file with a token and its expiry, check it, print the token. The
// benchmarks measure akiflow-token's cache hit against it.
//
//	floor SESSION.json
package main

import (
	"encoding/json"
	"os"
	"time"
)

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	var s struct {
		AccessToken string    `json:"access_token"`
		ExpiresAt   time.Time `json:"expires_at"`
	}
	if json.Unmarshal(data, &s) != nil || time.Until(s.ExpiresAt) < 5*time.Minute {
		os.Exit(1)
	}
	os.Stdout.WriteString(s.AccessToken + "\n")
}
