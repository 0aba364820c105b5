package helper

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// decodeRecord is json.Unmarshal of a session record, for what records
// are: one flat object of strings and whole numbers, in marshal's own
// form. It runs on every cache hit, where encoding/json's reflection costs
// more than the rest of the read. Anything it is not sure to read as
// encoding/json would (an escape in a string, another type of value, a key
// that matches a field only without regard to case, a number that is not
// a plain integer), it declines, and the caller falls back on
// encoding/json: the two agree on every record it accepts (FuzzRecord).
func decodeRecord(data []byte, s *Session) bool {
	d := recordDecoder{data: data}
	d.space()
	if !d.byte('{') {
		return false
	}
	d.space()
	if d.byte('}') {
		return d.end()
	}
	for {
		key, ok := d.string()
		if !ok {
			return false
		}
		d.space()
		if !d.byte(':') {
			return false
		}
		d.space()
		if !d.field(key, s) {
			return false
		}
		d.space()
		if d.byte('}') {
			return d.end()
		}
		if !d.byte(',') {
			return false
		}
		d.space()
	}
}

type recordDecoder struct {
	data []byte
	i    int
}

func (d *recordDecoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *recordDecoder) byte(c byte) bool {
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end says nothing but white space follows.
func (d *recordDecoder) end() bool {
	d.space()
	return d.i == len(d.data)
}

// string reads a string without escapes or controls, of valid UTF-8.
func (d *recordDecoder) string() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.data) {
		switch c := d.data[d.i]; {
		case c == '"':
			s := string(d.data[start:d.i])
			d.i++
			return s, utf8.ValidString(s)
		case c == '\\' || c < ' ':
			return "", false
		}
		d.i++
	}
	return "", false
}

// integer reads a plain integer that fits an int64.
func (d *recordDecoder) integer() (int64, bool) {
	start := d.i
	if d.i < len(d.data) && d.data[d.i] == '-' {
		d.i++
	}
	for d.i < len(d.data) && '0' <= d.data[d.i] && d.data[d.i] <= '9' {
		d.i++
	}
	text := string(d.data[start:d.i])
	if d.i < len(d.data) && strings.IndexByte(".eE", d.data[d.i]) >= 0 {
		return 0, false // a float: encoding/json's business
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || len(text) > 1 && (text[0] == '0' || strings.HasPrefix(text, "-0")) {
		return 0, false
	}
	return n, true
}

// field reads the value of key into s. A key of no field is declined
// unless it is plainly not one of them (encoding/json matches keys without
// regard to case).
func (d *recordDecoder) field(key string, s *Session) bool {
	var str *string
	var num *int64
	var when *time.Time
	switch key {
	case "format":
		n, ok := d.integer()
		if !ok || int64(int(n)) != n {
			return false
		}
		s.Format = int(n)
		return true
	case "email":
		str = &s.Email
	case "base_url":
		str = &s.BaseURL
	case "client_id":
		str = &s.ClientID
	case "access_token":
		str = &s.AccessToken
	case "refresh_token":
		str = &s.RefreshToken
	case "refresh_in":
		str = &s.RefreshIn
	case "oauth_client":
		str = &s.OAuthClient
	case "token_url":
		str = &s.TokenURL
	case "resource":
		str = &s.Resource
	case "expires_at":
		when = &s.ExpiresAt
	case "logged_in_at":
		when = &s.LoggedInAt
	case "lifetime":
		num = &s.Lifetime
	case "generation":
		num = &s.Generation
	default:
		return false
	}
	switch {
	case str != nil:
		v, ok := d.string()
		*str = v
		return ok
	case num != nil:
		n, ok := d.integer()
		*num = n
		return ok
	}
	v, ok := d.string()
	return ok && when.UnmarshalText([]byte(v)) == nil
}
