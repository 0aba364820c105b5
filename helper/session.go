package helper

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"akiflow-token/helper/akiflow"
)

// sessionFormat is the version of the cache file's format. A file with a
// newer one was written by a newer akiflow-token: it is refused, never
// overwritten.
const sessionFormat = 1

// Session is one account's cached state: the cache file's content.
type Session struct {
	Format       int       `json:"format"`
	Email        string    `json:"email"`
	BaseURL      string    `json:"base_url"`
	ClientID     string    `json:"client_id"` // Akiflow-Client-Id, kept across logins
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
}

// errNewerFormat marks a cache file from a newer akiflow-token.
var errNewerFormat = errors.New("written by a newer akiflow-token")

// ParseSession parses a cache file.
func ParseSession(data []byte) (*Session, error) {
	var s Session
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, errors.New("not a valid session file")
	}
	switch {
	case s.Format > sessionFormat:
		return nil, fmt.Errorf("%w (format %d); upgrade akiflow-token", errNewerFormat, s.Format)
	case s.Format < 1 || s.Email == "":
		return nil, errors.New("not a valid session file")
	case s.AccessToken != "" && s.ExpiresAt.IsZero():
		return nil, errors.New("not a valid session file: a token without expiry")
	}
	return &s, nil
}

func (s *Session) marshal() []byte {
	data, _ := json.MarshalIndent(s, "", "  ") // cannot fail: plain fields
	return append(data, '\n')
}

// validFor says the access token has at least ttl left at now.
func (s *Session) validFor(now time.Time, ttl time.Duration) bool {
	return s != nil && s.AccessToken != "" && s.ExpiresAt.Sub(now) >= ttl
}

// canRefresh says the session holds a refresh token.
func (s *Session) canRefresh() bool { return s != nil && s.RefreshToken != "" }

// apply takes in new tokens; a reply without a refresh token keeps ours.
func (s *Session) apply(t *akiflow.Tokens) {
	s.AccessToken = t.AccessToken
	s.ExpiresAt = t.ExpiresAt.UTC().Round(time.Second)
	if t.RefreshToken != "" {
		s.RefreshToken = t.RefreshToken
	}
}

// forget drops the tokens but keeps the account's identity and client id.
func (s *Session) forget() {
	s.AccessToken, s.RefreshToken, s.ExpiresAt = "", "", time.Time{}
}

// newClientID makes the random (version 4) UUID that identifies this
// installation to Akiflow.
func newClientID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
