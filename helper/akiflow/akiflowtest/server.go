// Package akiflowtest is a fake Akiflow auth server for tests, in the spirit
// of net/http/httptest. It behaves as package akiflow (doc.go) says the real one
// does: a Laravel session cookie and a URL-encoded XSRF-TOKEN cookie, both
// regenerated at login and at code verification; 419 on a missing or stale
// X-XSRF-TOKEN; signed, expiring code URLs; codes that die when a new one is
// sent; rotating refresh tokens (a reused one gets 401 invalid_grant); and a
// protected API endpoint that accepts only a live access token. It counts
// every request by route, and can be told to fail. It is also the OAuth
// authorization server and protected MCP resource of oauth.go.
package akiflowtest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Route names, for Count and Fail.
const (
	RouteCSRF    = "csrf-cookie"
	RouteLogin   = "login"
	RouteCode    = "code"
	RouteMe      = "user/me"
	RouteRefresh = "refresh"
	RouteAPI     = "api"
)

// ProtectedPath is an API endpoint that answers 200 only to a live token.
const ProtectedPath = "/v5/tasks"

const (
	sessionCookie = "akiflow_session"
	xsrfCookie    = "XSRF-TOKEN"
)

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	mu          sync.Mutex
	expiresIn   int           // seconds, for new access tokens
	codeTTL     time.Duration // lifetime of signed code URLs
	latency     time.Duration
	sessions    map[string]*session // by session cookie
	codes       map[string]string   // email → the live code
	refresh     map[string]*grant   // refresh token → its grant
	access      map[string]time.Time
	counts      map[string]int
	secrets     []string
	clientIDs   map[string]bool
	faults      map[string][]Fault
	redirectTo  string
	key         []byte
	connections int
	onCode      func(email, code string)
	lastHeader  map[string]http.Header // by route
	lastProto   map[string]string      // by route: "HTTP/1.1", "HTTP/2.0"
	oa          *oauthState            // oauth.go
	oauthEmail  map[string]string      // OAuth access token → its account
}

type session struct {
	xsrf string
	user string // email, once the code is verified
}

type grant struct {
	email  string
	client string // the OAuth client it was issued to; "" for the email-code flow's
	used   bool
}

// Fault, given to Fail, answers one request in place of the server. It may
// call s.Handle first, to have the request processed (a refresh that rotated
// the token) before its reply is lost.
type Fault func(w http.ResponseWriter, r *http.Request, s *Server)

// NewServer starts a fake on loopback over plain HTTP.
func NewServer() *Server { return start((*httptest.Server).Start) }

// NewServerOn starts a fake over plain HTTP on l (a fixed address, for a
// fake that a person runs by hand).
func NewServerOn(l net.Listener) *Server {
	return start(func(h *httptest.Server) {
		h.Listener.Close()
		h.Listener = l
		h.Start()
	})
}

// NewTLSServer starts a fake on loopback over HTTPS with a test certificate.
func NewTLSServer() *Server { return start((*httptest.Server).StartTLS) }

// NewHTTP2Server is NewTLSServer offering HTTP/2 too (by ALPN), as the
// real server does: a client that can speak it does.
func NewHTTP2Server() *Server {
	return start(func(h *httptest.Server) {
		h.EnableHTTP2 = true
		h.StartTLS()
	})
}

func start(listen func(*httptest.Server)) *Server {
	s := &Server{
		expiresIn:  1800,
		codeTTL:    15 * time.Minute,
		sessions:   map[string]*session{},
		codes:      map[string]string{},
		refresh:    map[string]*grant{},
		access:     map[string]time.Time{},
		counts:     map[string]int{},
		clientIDs:  map[string]bool{},
		oauthEmail: map[string]string{},
		faults:     map[string][]Fault{},
		key:        []byte(random(32)),
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Server.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.locked(func() { s.connections++ })
		}
	}
	listen(s.Server) // only now may handlers run and read s.URL
	return s
}

// SetExpiresIn sets the lifetime, in seconds, of the access tokens issued
// from now on.
func (s *Server) SetExpiresIn(seconds int) { s.locked(func() { s.expiresIn = seconds }) }

// SetLatency adds d to every request.
func (s *Server) SetLatency(d time.Duration) { s.locked(func() { s.latency = d }) }

// SetCodeTTL sets the lifetime of the signed code URLs issued from now on.
func (s *Server) SetCodeTTL(d time.Duration) { s.locked(func() { s.codeTTL = d }) }

// RedirectLoginTo makes the login reply send the code to another origin.
func (s *Server) RedirectLoginTo(origin string) { s.locked(func() { s.redirectTo = origin }) }

// OnCode makes f be called with each code the server "mails", as it mails
// it. f runs with the server locked: it must not call the server's methods.
func (s *Server) OnCode(f func(email, code string)) { s.locked(func() { s.onCode = f }) }

// Fail makes the next requests on route answer with the faults, in order.
func (s *Server) Fail(route string, faults ...Fault) {
	s.locked(func() { s.faults[route] = append(s.faults[route], faults...) })
}

// Code is the live code mailed to email, or "".
func (s *Server) Code(email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codes[email]
}

// Count is the number of requests route has had.
func (s *Server) Count(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[route]
}

// Connections is the number of TCP connections the server has accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// Counts is a copy of every route's count.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Secrets lists every token the server ever issued, for leak checks.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.secrets...)
}

// ClientIDs lists the Akiflow-Client-Id values refreshes were sent with.
func (s *Server) ClientIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.clientIDs {
		ids = append(ids, id)
	}
	return ids
}

// Revoke kills every refresh token of email, as a logout elsewhere would.
func (s *Server) Revoke(email string) {
	s.locked(func() {
		for _, g := range s.refresh {
			if g.email == email {
				g.used = true
			}
		}
	})
}

// Valid says token is a live access token.
func (s *Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.access[token]
	return ok && time.Now().Before(exp)
}

func (s *Server) locked(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	route := routeOf(r)
	s.mu.Lock()
	s.counts[route]++
	if s.lastHeader == nil {
		s.lastHeader = map[string]http.Header{}
	}
	s.lastHeader[route] = r.Header.Clone()
	if s.lastProto == nil {
		s.lastProto = map[string]string{}
	}
	s.lastProto[route] = r.Proto
	latency := s.latency
	var fault Fault
	if f := s.faults[route]; len(f) > 0 {
		fault, s.faults[route] = f[0], f[1:]
	}
	s.mu.Unlock()
	time.Sleep(latency)
	if fault != nil {
		fault(w, r, s)
		return
	}
	s.Handle(route, w, r)
}

// LastHeader is the header name of the last request to route.
func (s *Server) LastHeader(route, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastHeader[route].Get(name)
}

// ValidRefresh says refresh is a live refresh token.
func (s *Server) ValidRefresh(refresh string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.refresh[refresh]
	return g != nil && !g.used
}

// LastProto is the protocol of the last request to route ("HTTP/1.1").
func (s *Server) LastProto(route string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastProto[route]
}

// Handle answers r as the healthy server would; faults may call it.
func (s *Server) Handle(route string, w http.ResponseWriter, r *http.Request) {
	if route == RouteMCP && r.Method == http.MethodGet && r.URL.Path == MCPPath {
		s.mcpStream(w, r) // it streams without the lock
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch route {
	case RouteCSRF:
		s.newSession(w, "")
		w.WriteHeader(http.StatusNoContent)
	case RouteLogin:
		s.login(w, r)
	case RouteCode:
		s.verifyCode(w, r)
	case RouteMe:
		sess := s.session(r)
		if sess == nil || sess.user == "" {
			reply(w, http.StatusUnauthorized, map[string]any{"message": "Unauthenticated."})
			return
		}
		data := s.issue(sess.user)
		data["email"], data["name"], data["id"] = sess.user, "Test User", 4242
		reply(w, http.StatusOK, map[string]any{"data": data})
	case RouteRefresh:
		s.refreshToken(w, r)
	case RouteResourceMetadata, RouteServerMetadata, RouteRegister, RouteAuthorize, RouteToken, RouteRevoke, RouteMCP:
		s.handleOAuth(route, w, r)
	case RouteAPI:
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if exp, live := s.access[token]; !ok || !live || time.Now().After(exp) {
			reply(w, http.StatusUnauthorized, map[string]any{"message": "Unauthenticated."})
			return
		}
		reply(w, http.StatusOK, map[string]any{"success": true, "data": []any{}})
	default:
		reply(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
	}
}

func routeOf(r *http.Request) string {
	if route := oauthRoute(r); route != "" {
		return route
	}
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && p == "/csrf-cookie":
		return RouteCSRF
	case r.Method == http.MethodPost && p == "/auth/login":
		return RouteLogin
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/auth/email/"):
		return RouteCode
	case r.Method == http.MethodGet && p == "/user/me":
		return RouteMe
	case r.Method == http.MethodPost && p == "/oauth/refreshToken":
		return RouteRefresh
	case strings.HasPrefix(p, "/v5/") || strings.HasPrefix(p, "/api") || p == "/version":
		return RouteAPI
	}
	return "other"
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.checkXSRF(w, r) {
		return
	}
	var body struct {
		Email string `json:"email"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || !plausibleEmail(body.Email) {
		reply(w, http.StatusUnprocessableEntity, map[string]any{"success": false, "message": "The email must be a valid email address."})
		return
	}
	code := fmt.Sprintf("%06d", must(rand.Int(rand.Reader, big.NewInt(1e6))))
	s.codes[body.Email] = code // a new code kills the old one
	if s.onCode != nil {
		s.onCode(body.Email, code)
	}
	s.newSession(w, "")
	origin := s.URL
	if s.redirectTo != "" {
		origin = s.redirectTo
	}
	path := "/auth/email/" + url.PathEscape(body.Email)
	q := url.Values{"expires": {strconv.FormatInt(time.Now().Add(s.codeTTL).Unix(), 10)}, "salt": {random(8)}}
	q.Set("signature", s.sign(path, q))
	reply(w, http.StatusOK, map[string]any{"success": true, "message": "We sent you a code.", "redirect": origin + path + "?" + q.Encode()})
}

func (s *Server) verifyCode(w http.ResponseWriter, r *http.Request) {
	if !s.checkXSRF(w, r) {
		return
	}
	q := r.URL.Query()
	sig := q.Get("signature")
	q.Del("signature")
	exp, _ := strconv.ParseInt(q.Get("expires"), 10, 64)
	if !hmac.Equal([]byte(sig), []byte(s.sign(r.URL.EscapedPath(), q))) || time.Now().Unix() > exp {
		reply(w, http.StatusForbidden, map[string]any{"message": "Invalid signature."})
		return
	}
	email, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/auth/email/"))
	var body struct {
		Email string `json:"email"`
		Code  string `json:"code"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	if want := s.codes[email]; want == "" || body.Email != email || body.Code != want {
		reply(w, http.StatusUnprocessableEntity, map[string]any{"success": false, "message": "Invalid authentication code."})
		return
	}
	delete(s.codes, email)
	s.newSession(w, email)
	reply(w, http.StatusOK, map[string]any{"success": true})
}

func (s *Server) refreshToken(w http.ResponseWriter, r *http.Request) {
	if !s.checkXSRF(w, r) {
		return
	}
	var body struct {
		ClientID     string `json:"client_id"`
		RefreshToken string `json:"refresh_token"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	g := s.refresh[body.RefreshToken]
	if body.ClientID != "10" || g == nil || g.used || g.client != "" {
		reply(w, http.StatusUnauthorized, map[string]any{"error": "invalid_grant",
			"error_description": "The refresh token is invalid.", "message": "The refresh token is invalid."})
		return
	}
	g.used = true
	if id := r.Header.Get("Akiflow-Client-Id"); id != "" {
		s.clientIDs[id] = true
	}
	data := s.issue(g.email)
	data["token_type"] = "Bearer"
	reply(w, http.StatusOK, data)
}

// issue makes a new token pair for email.
func (s *Server) issue(email string) map[string]any {
	exp := time.Now().Add(time.Duration(s.expiresIn) * time.Second)
	claims, _ := json.Marshal(map[string]any{"sub": email, "iat": time.Now().Unix(), "exp": exp.Unix(), "jti": random(8)})
	access := b64(`{"typ":"JWT","alg":"RS256"}`) + "." + b64(string(claims)) + "." + b64(random(32))
	refresh := "def50200" + hex.EncodeToString([]byte(random(200)))
	s.access[access] = exp
	s.refresh[refresh] = &grant{email: email}
	s.secrets = append(s.secrets, access, refresh)
	return map[string]any{"access_token": access, "refresh_token": refresh, "expires_in": s.expiresIn}
}

// newSession starts a Laravel-like session (regenerated at each step).
func (s *Server) newSession(w http.ResponseWriter, user string) {
	id := random(20)
	xsrf := base64.StdEncoding.EncodeToString([]byte(random(32))) // has + / =
	s.sessions[hex.EncodeToString([]byte(id))] = &session{xsrf: xsrf, user: user}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: hex.EncodeToString([]byte(id)), Path: "/", HttpOnly: true})
	// Laravel URL-encodes the value; Go's cookie writer would quote it.
	w.Header().Add("Set-Cookie", xsrfCookie+"="+url.QueryEscape(xsrf)+"; Path=/")
}

func (s *Server) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return s.sessions[c.Value]
}

// checkXSRF answers 419, as Laravel does, unless the header matches the
// session's current XSRF value.
func (s *Server) checkXSRF(w http.ResponseWriter, r *http.Request) bool {
	sess := s.session(r)
	if sess == nil || r.Header.Get("X-XSRF-TOKEN") != sess.xsrf {
		reply(w, 419, map[string]any{"message": "CSRF token mismatch."})
		return false
	}
	return true
}

func (s *Server) sign(path string, q url.Values) string {
	mac := hmac.New(sha256.New, s.key)
	fmt.Fprintf(mac, "%s?expires=%s&salt=%s", path, q.Get("expires"), q.Get("salt"))
	return hex.EncodeToString(mac.Sum(nil))
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func plausibleEmail(e string) bool {
	at := strings.IndexByte(e, '@')
	return at > 0 && at < len(e)-1 && !strings.ContainsAny(e, " \t\r\n")
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return string(b)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
