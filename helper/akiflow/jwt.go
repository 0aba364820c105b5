package akiflow

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// jwtLifetime reads, without checking the signature, how long a JWT was
// issued for: exp - iat, which no clock skew between us and the server
// changes. Without iat it gives exp alone, as a time.
func jwtLifetime(token string) (lifetime time.Duration, exp time.Time, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return 0, time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return 0, time.Time{}, false
	}
	var claims struct {
		Exp float64 `json:"exp"`
		Iat float64 `json:"iat"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp <= 0 || claims.Exp > 1e11 {
		return 0, time.Time{}, false
	}
	exp = time.Unix(int64(claims.Exp), 0)
	if claims.Iat > 0 && claims.Iat < claims.Exp {
		lifetime = time.Duration(claims.Exp-claims.Iat) * time.Second
	}
	return lifetime, exp, true
}

// EmailClaim is the email a JWT's claims name (unverified: the token came
// from the token endpoint over TLS); "" when it names none, or says it is
// not verified.
func EmailClaim(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.EmailVerified != nil && !*claims.EmailVerified {
		return ""
	}
	return claims.Email
}
