package helper

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"akiflow-token/helper/akiflow"
	"akiflow-token/helper/format"
)

// sessionFormat is the version of the cache file's format. A file with a
// newer one was written by a newer akiflow-token: it is refused, never
// overwritten.
const sessionFormat = 1

// Session is one account's cached state: the cache file's content.
type Session struct {
	Format       int    `json:"format"`
	Email        string `json:"email"`
	BaseURL      string `json:"base_url"`
	ClientID     string `json:"client_id"` // Akiflow-Client-Id, kept across logins
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// RefreshIn names the Vault that holds the refresh token, when the
	// record does not.
	RefreshIn string    `json:"refresh_in,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Lifetime is how long, in seconds, Akiflow issued the access token
	// for: the effective --min-ttl is at most half of it (minTTL).
	Lifetime int64 `json:"lifetime,omitempty"`
	// Generation counts the saves of this record, so that a leftover of a
	// killed save is put in place only if it is newer (Helper.salvage).
	Generation int64 `json:"generation,omitempty"`
	// LoggedInAt is when the session's login was (UTC, to the second):
	// logout makes the account that logged in last the default. Sessions
	// saved before it was kept have none.
	LoggedInAt time.Time `json:"logged_in_at,omitzero"`
	// An OAuth session's (Config.OAuth): the client it was issued to, the
	// token endpoint that refreshes it and the resource it is for, as
	// the login found them, so that a refresh needs no discovery.
	OAuthClient string `json:"oauth_client,omitempty"`
	TokenURL    string `json:"token_url,omitempty"`
	Resource    string `json:"resource,omitempty"`

	// inVault says RefreshIn's vault holds the refresh token as it is
	// (RefreshToken is that token, or "" when it was not fetched): a save
	// leaves the vault alone.
	inVault bool
}

// MaxRecordSize bounds a session record, for the store (which reserves
// that much before a refresh is sent) and for reading one back: the one
// size bound of what is saved. The access token (at most
// akiflow.MaxTokenSize of printable ASCII, which JSON writes in at most
// twice as many bytes) and the small fields take under 20 KiB; the rest is
// room for the refresh token, which maxReply bounds.
const MaxRecordSize = 100 << 10

// maxReply bounds a refresh's reply to what a record can hold whatever it
// says: JSON writes a byte of a token in at most six (a control as
// \u00XX). A larger reply is refused whole, not taken and then lost.
const maxReply = (MaxRecordSize - 4<<10) / 6

// errNewerFormat marks a cache file from a newer akiflow-token. Every
// path that would write or remove a record reads it first, and stops at
// this error (exit 1, as for any record the store refuses to use).
var errNewerFormat = errors.New("written by a newer akiflow-token")

// newerFormat is the error of a record of the given, newer format: one
// line that names both formats and says to upgrade.
func newerFormat(format int) error {
	return fmt.Errorf("%w (format %d; this one knows format %d); upgrade akiflow-token", errNewerFormat, format, sessionFormat)
}

// ParseSession parses a cache file.
func ParseSession(data []byte) (*Session, error) {
	var s Session
	if !decodeRecord(data, &s) {
		s = Session{}
		if err := json.Unmarshal(data, &s); err != nil {
			// A newer format may change what its fields hold: its
			// format, which every format keeps, says so before the rest.
			var v struct {
				Format int `json:"format"`
			}
			if json.Unmarshal(data, &v) == nil && v.Format > sessionFormat {
				return nil, newerFormat(v.Format)
			}
			return nil, errors.New("not a valid session file")
		}
	}
	switch {
	case s.Format > sessionFormat:
		return nil, newerFormat(s.Format)
	case s.Format < 1 || s.Email == "":
		return nil, errors.New("not a valid session file")
	case s.AccessToken != "" && s.ExpiresAt.IsZero():
		return nil, errors.New("not a valid session file: a token without expiry")
	case CheckEmail(s.Email) != nil:
		return nil, errors.New("not a valid session file: its email is not one")
	case s.AccessToken != "" && akiflow.CheckAccessToken(s.AccessToken) != nil:
		return nil, errors.New("not a valid session file: its access token is not printable")
	case !format.ValidClientID(s.ClientID):
		return nil, errors.New("not a valid session file: its client id is not one")
	case len(s.RefreshIn) > 32 || strings.Trim(s.RefreshIn, "abcdefghijklmnopqrstuvwxyz") != "":
		return nil, errors.New("not a valid session file: its refresh_in is not a store's name")
	case s.OAuthClient != "" && akiflow.CheckClientID(s.OAuthClient) != nil:
		return nil, errors.New("not a valid session file: its oauth_client is not a client id")
	case s.TokenURL != "" && !validURL(s.TokenURL), s.Resource != "" && !validURL(s.Resource):
		return nil, errors.New("not a valid session file: its token_url or resource is not an https URL")
	}
	// A refresh token in the record beside refresh_in is one the vault
	// refused: it is newer than the vault's.
	s.inVault = s.RefreshIn != "" && s.RefreshToken == ""
	return &s, nil
}

// validURL says an OAuth session's URL may be sent a refresh token.
func validURL(raw string) bool {
	_, err := akiflow.CheckEndpoint(raw)
	return err == nil
}

func (s *Session) marshal() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // no \u003c for "<": a record stays within MaxRecordSize
	enc.SetIndent("", "  ")
	enc.Encode(s) // cannot fail: plain fields
	return b.Bytes()
}

// validFor says the access token has at least ttl left at now, and has
// not expired.
func (s *Session) validFor(now time.Time, ttl time.Duration) bool {
	return s != nil && s.AccessToken != "" && s.ExpiresAt.After(now) && s.ExpiresAt.Sub(now) >= ttl
}

// canRefresh says the session holds a refresh token, or names the vault
// that does.
func (s *Session) canRefresh() bool { return s != nil && (s.RefreshToken != "" || s.RefreshIn != "") }

// apply takes in new tokens; a reply without a refresh token keeps ours,
// and one without an access token (refused, beside a new refresh token)
// leaves none. The expiry is rounded down: never later than the real one.
func (s *Session) apply(t *akiflow.Tokens) {
	s.AccessToken = t.AccessToken
	s.ExpiresAt = t.ExpiresAt.UTC().Truncate(time.Second)
	s.Lifetime = int64(t.Lifetime / time.Second)
	if t.AccessToken == "" {
		s.ExpiresAt, s.Lifetime = time.Time{}, 0
	}
	if t.RefreshToken != "" {
		s.RefreshToken, s.inVault = t.RefreshToken, false
	}
}

// forget drops the tokens but keeps the account's identity and client id.
func (s *Session) forget() {
	s.AccessToken, s.RefreshToken, s.ExpiresAt, s.Lifetime = "", "", time.Time{}, 0
	s.inVault = false // and a save removes it from the vault
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
