package akiflowtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"
)

// Reply answers with status, a body and a content type: a JSON error, an
// HTML error page, a truncated body.
func Reply(status int, contentType, body string) Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
}

// RetryAfter answers status with a Retry-After header of secs seconds.
func RetryAfter(status, secs int) Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		reply(w, status, map[string]any{"message": http.StatusText(status)})
	}
}

// Hang accepts the request and never answers, until the client gives up
// (or, so that the server can close, ten seconds pass).
func Hang() Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		io.Copy(io.Discard, r.Body) // so that the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
}

// Reset closes the connection without a reply.
func Reset() Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		hijackAndClose(w)
	}
}

// ProcessedThenLost processes the request (a refresh rotates the token),
// then closes the connection before the reply.
func ProcessedThenLost(route string) Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		s.Handle(route, httptest.NewRecorder(), r)
		hijackAndClose(w)
	}
}

// ProcessedThenAborted processes the request (a refresh rotates the
// token), then aborts its answer: over HTTP/2, the stream is reset
// (RST_STREAM); over HTTP/1.1, the connection is closed.
func ProcessedThenAborted(route string) Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		s.Handle(route, httptest.NewRecorder(), r)
		panic(http.ErrAbortHandler)
	}
}

// RewriteBody processes the request, then answers its reply's bytes with
// edit applied: a byte-order mark, trailing bytes, a key given twice.
func RewriteBody(route string, edit func(body []byte) []byte) Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		rec := httptest.NewRecorder()
		s.Handle(route, rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		body := edit(rec.Body.Bytes())
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body)
	}
}

// Delayed processes the request (a refresh rotates the token), then
// answers after d: a reply that arrives after the client's deadline.
func Delayed(route string, d time.Duration) Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		rec := httptest.NewRecorder()
		s.Handle(route, rec, r)
		time.Sleep(d)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}
}

// Redirect answers with a redirect to location.
func Redirect(status int, location string) Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		http.Redirect(w, r, location, status)
	}
}

func hijackAndClose(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

// Rewrite processes the request (a refresh rotates the token), then
// answers its reply with edit applied to the JSON: a hostile or empty
// access token beside a good new refresh token, a missing expiry.
func Rewrite(route string, edit func(reply map[string]any)) Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		rec := httptest.NewRecorder()
		s.Handle(route, rec, r)
		var body map[string]any
		if json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		edit(body)
		reply(w, rec.Code, body)
	}
}

// ProcessedThenHeld processes the request (a refresh rotates the token),
// calls held (nil: nothing), then holds the reply until release is
// closed: the client has sent its request, and its answer exists but has
// not left. Then it sends the reply, flushed to the connection, and calls
// sent (nil: nothing). A client that gives up meanwhile gets nothing, and
// sent is not called.
func ProcessedThenHeld(route string, release <-chan struct{}, held, sent func()) Fault {
	return func(w http.ResponseWriter, r *http.Request, s *Server) {
		rec := httptest.NewRecorder()
		s.Handle(route, rec, r)
		if held != nil {
			held()
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		if http.NewResponseController(w).Flush() == nil && sent != nil {
			sent()
		}
	}
}
