package helper

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the parsers of outside input that package helper keeps
// (git's request, kubectl's exec info and the output formats are package
// helper/format's). Their seeds run in every go test; run one for longer
// with, for example:
//   go test ./helper -run '^$' -fuzz FuzzParseSession -fuzztime 2m

func FuzzParseSession(f *testing.F) {
	f.Add([]byte(`{"format":1,"email":"a@b.c","client_id":"x","access_token":"t","refresh_token":"r","expires_at":"2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"format":2,"email":"a@b.c"}`))
	f.Add([]byte(`{"format":1,"email":"a@b.c","expires_at":"not a time"}`))
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSession(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		// What parses survives a save and a load unchanged.
		again, err := ParseSession(s.marshal())
		if err != nil {
			t.Fatalf("a parsed session does not parse again: %v", err)
		}
		if !bytes.Equal(again.marshal(), s.marshal()) {
			t.Errorf("round trip changed the session")
		}
	})
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "123-456", "12345", "１２３４５６"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		code, ok := NormalizeCode(in)
		if ok && (len(code) != 6 || strings.Trim(code, "0123456789") != "") {
			t.Errorf("NormalizeCode(%q) = %q", in, code)
		}
	})
}

// FuzzRecord: the record decoder of the cache hit reads what
// encoding/json reads, or declines.
func FuzzRecord(f *testing.F) {
	s := &Session{Format: 1, Email: "a@b.c", BaseURL: "https://web.akiflow.com", ClientID: "id-1",
		AccessToken: "eyJ.x.y", RefreshToken: "def50200ab", ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		Lifetime: 1800, Generation: 7, LoggedInAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.Add(s.marshal())
	f.Add([]byte(`{"format":1,"email":"a@b.c","expires_at":"2030-01-02T03:04:05.5+02:00","generation":-3}`))
	f.Add([]byte(`{"Email":"x@y.z","format":1}`))
	f.Add([]byte(`{"format":01,"email":"a\u0040b.c"}`))
	f.Add([]byte(`{"format":1e0} trailing`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast Session
		if !decodeRecord(data, &fast) {
			return
		}
		var slow Session
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("decodeRecord accepted what encoding/json refuses (%v): %q", err, data)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("decodeRecord read %+v, encoding/json %+v, from %q", fast, slow, data)
		}
	})
}
