package helper

import (
	"bytes"
	"strings"
	"testing"
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
