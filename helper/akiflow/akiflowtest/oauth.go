package akiflowtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// The fake's OAuth side, as Akiflow's official sign-in is published
// (package akiflow, doc.go): a protected MCP-like resource at MCPPath and
// its metadata (RFC 9728), the authorization server's metadata (RFC 8414),
// dynamic registration of public clients (RFC 7591), an authorization
// endpoint that acts as the browser of a person already signed in and
// consenting, and a token endpoint with the authorization code (PKCE S256
// checked) and rotating refresh tokens (a spent one gets invalid_grant).

// Route names of the OAuth side, for Count and Fail.
const (
	RouteResourceMetadata = "oauth-protected-resource"
	RouteServerMetadata   = "oauth-authorization-server"
	RouteRegister         = "oauth/register"
	RouteAuthorize        = "oauth/authorize"
	RouteToken            = "oauth/token"
	RouteRevoke           = "oauth/revoke"
	RouteMCP              = "mcp"
)

// MCPPath is the protected resource's path: the fake's MCPURL.
const MCPPath = "/mcp"

// DefaultOAuthUser is the person signed in at the fake's authorization
// endpoint until SetOAuthUser says another.
const DefaultOAuthUser = "oauth@example.com"

// oauthState is the OAuth side's state, under Server.mu.
type oauthState struct {
	clients      map[string][]string // client id → its redirect URIs
	codes        map[string]*authCode
	user         string
	noEmailClaim bool
	userinfo     bool
	deny         bool
	noRevocation bool
	revocations  int
	mcpSessions  map[string]*mcpSession // mcp.go
	gate         chan struct{}          // GateMCPEvents
}

type authCode struct {
	clientID, redirectURI, challenge, resource, email string
	expires                                           time.Time
	used                                              bool
}

func (s *Server) oauth() *oauthState {
	if s.oa == nil {
		s.oa = &oauthState{clients: map[string][]string{}, codes: map[string]*authCode{}, user: DefaultOAuthUser,
			mcpSessions: map[string]*mcpSession{}}
	}
	return s.oa
}

// MCPURL is the protected resource's URL: what --mcp-url names.
func (s *Server) MCPURL() string { return s.URL + MCPPath }

// SetOAuthUser signs email in at the authorization endpoint.
func (s *Server) SetOAuthUser(email string) { s.locked(func() { s.oauth().user = email }) }

// SetEmailClaim says whether the access tokens it issues by OAuth name
// their account's email (they do by default).
func (s *Server) SetEmailClaim(on bool) { s.locked(func() { s.oauth().noEmailClaim = !on }) }

// SetUserinfo makes the metadata offer a userinfo endpoint (they do not
// by default, as Akiflow's do not).
func (s *Server) SetUserinfo(on bool) { s.locked(func() { s.oauth().userinfo = on }) }

// DenyConsent makes the person at the authorization endpoint refuse
// (access_denied), or consent again.
func (s *Server) DenyConsent(deny bool) { s.locked(func() { s.oauth().deny = deny }) }

// SetRevocation says whether the metadata offer a revocation endpoint
// (RFC 7009; they do by default).
func (s *Server) SetRevocation(on bool) { s.locked(func() { s.oauth().noRevocation = !on }) }

// Revocations is the number of refresh tokens revoked at the revocation
// endpoint.
func (s *Server) Revocations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oauth().revocations
}

// ForgetClients forgets every registered client, as a server that lost
// its registrations would: their refresh tokens get invalid_client.
func (s *Server) ForgetClients() { s.locked(func() { clear(s.oauth().clients) }) }

// Clients is the number of registered clients.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.oauth().clients)
}

// oauthRoute is the route of an OAuth request, or "".
func oauthRoute(r *http.Request) string {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && p == "/.well-known/oauth-protected-resource"+MCPPath:
		return RouteResourceMetadata
	case r.Method == http.MethodGet && p == "/.well-known/oauth-authorization-server":
		return RouteServerMetadata
	case r.Method == http.MethodPost && p == "/oauth/register":
		return RouteRegister
	case r.Method == http.MethodGet && p == "/oauth/authorize":
		return RouteAuthorize
	case r.Method == http.MethodPost && p == "/oauth/token":
		return RouteToken
	case r.Method == http.MethodPost && p == "/oauth/revoke":
		return RouteRevoke
	case p == MCPPath || p == "/oauth/userinfo":
		return RouteMCP
	}
	return ""
}

// handleOAuth answers an OAuth route, with s.mu held.
func (s *Server) handleOAuth(route string, w http.ResponseWriter, r *http.Request) {
	o := s.oauth()
	switch route {
	case RouteResourceMetadata:
		reply(w, http.StatusOK, map[string]any{"resource": s.MCPURL(), "authorization_servers": []string{s.URL},
			"scopes_supported": []string{"mcp:read", "mcp:write"}, "bearer_methods_supported": []string{"header"}})
	case RouteServerMetadata:
		m := map[string]any{"issuer": s.URL, "authorization_endpoint": s.URL + "/oauth/authorize",
			"token_endpoint": s.URL + "/oauth/token", "registration_endpoint": s.URL + "/oauth/register",
			"jwks_uri": s.URL + "/.well-known/jwks.json", "response_types_supported": []string{"code"},
			"grant_types_supported":            []string{"authorization_code", "refresh_token"},
			"code_challenge_methods_supported": []string{"S256"}, "token_endpoint_auth_methods_supported": []string{"none"},
			"scopes_supported": []string{"mcp:read", "mcp:write"}}
		if o.userinfo {
			m["userinfo_endpoint"] = s.URL + "/oauth/userinfo"
		}
		if !o.noRevocation {
			m["revocation_endpoint"] = s.URL + "/oauth/revoke"
		}
		reply(w, http.StatusOK, m)
	case RouteRegister:
		s.register(w, r)
	case RouteAuthorize:
		s.authorize(w, r)
	case RouteToken:
		s.token(w, r)
	case RouteRevoke:
		s.revoke(w, r)
	case RouteMCP:
		s.mcp(w, r)
	}
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RedirectURIs []string `json:"redirect_uris"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
		ClientName   string   `json:"client_name"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || len(body.RedirectURIs) == 0 || body.AuthMethod != "none" {
		reply(w, http.StatusBadRequest, map[string]any{"error": "invalid_client_metadata", "error_description": "a public client with redirect URIs"})
		return
	}
	for _, u := range body.RedirectURIs {
		if !loopbackRedirect(u) {
			reply(w, http.StatusBadRequest, map[string]any{"error": "invalid_redirect_uri", "error_description": "loopback http redirect URIs only"})
			return
		}
	}
	id := hex.EncodeToString([]byte(random(16)))
	s.oauth().clients[id] = body.RedirectURIs
	reply(w, http.StatusCreated, map[string]any{"client_id": id, "client_name": body.ClientName, "redirect_uris": body.RedirectURIs,
		"token_endpoint_auth_method": "none", "client_id_issued_at": time.Now().Unix()})
}

// loopbackRedirect says u is http://127.0.0.1[:port]/path or [::1].
func loopbackRedirect(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// redirectAllowed says uri is one of the registered ones, any port on
// loopback (RFC 8252, 7.3).
func redirectAllowed(registered []string, uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || !loopbackRedirect(uri) {
		return false
	}
	return slices.ContainsFunc(registered, func(r string) bool {
		ru, err := url.Parse(r)
		return err == nil && ru.Hostname() == u.Hostname() && ru.Path == u.Path
	})
}

// authorize is a browser whose person is signed in: it checks the
// request, then sends the browser back to the client with a code (or
// access_denied when DenyConsent says so). A request that cannot be sent
// back (an unknown client, a redirect URI not registered) gets a page.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	o := s.oauth()
	q := r.URL.Query()
	uris, known := o.clients[q.Get("client_id")]
	redirect := q.Get("redirect_uri")
	if !known || !redirectAllowed(uris, redirect) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte("<html>unknown client or redirect URI</html>\n"))
		return
	}
	back := func(params url.Values) {
		params.Set("state", q.Get("state"))
		http.Redirect(w, r, redirect+"?"+params.Encode(), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE S256 and state are required"}})
	case q.Get("resource") != s.MCPURL():
		back(url.Values{"error": {"invalid_target"}, "error_description": {"unknown resource"}})
	case o.deny:
		back(url.Values{"error": {"access_denied"}, "error_description": {"The user denied the request."}})
	default:
		code := hex.EncodeToString([]byte(random(24)))
		o.codes[code] = &authCode{clientID: q.Get("client_id"), redirectURI: redirect, challenge: q.Get("code_challenge"),
			resource: q.Get("resource"), email: o.user, expires: time.Now().Add(time.Minute)}
		s.secrets = append(s.secrets, code)
		back(url.Values{"code": {code}})
	}
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	reply(w, status, map[string]any{"error": code, "error_description": description})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	o := s.oauth()
	if r.ParseForm() != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "a form is expected")
		return
	}
	f := r.PostForm
	client := f.Get("client_id")
	if _, known := o.clients[client]; !known {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	var email string
	switch f.Get("grant_type") {
	case "authorization_code":
		c := o.codes[f.Get("code")]
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		switch {
		case c == nil || c.used || time.Now().After(c.expires) || c.clientID != client:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The authorization code is invalid.")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			c.used = true
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The code verifier does not match.")
			return
		case f.Get("redirect_uri") != c.redirectURI || f.Get("resource") != c.resource:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The redirect URI or resource does not match.")
			return
		}
		c.used, email = true, c.email
	case "refresh_token":
		g := s.refresh[f.Get("refresh_token")]
		if g == nil || g.used || g.client != client {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The refresh token is invalid.")
			return
		}
		g.used, email = true, g.email
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	data := s.issueOAuth(email, client)
	data["token_type"] = "Bearer"
	reply(w, http.StatusOK, data)
}

// issueOAuth makes a new token pair for email, issued to client: a JWT
// access token with an email claim (unless SetEmailClaim(false)) and a
// rotating refresh token.
func (s *Server) issueOAuth(email, client string) map[string]any {
	exp := time.Now().Add(time.Duration(s.expiresIn) * time.Second)
	claims := map[string]any{"sub": "user-4242", "iat": time.Now().Unix(), "exp": exp.Unix(), "jti": random(8),
		"iss": s.URL, "aud": s.MCPURL(), "client_id": client, "scope": "mcp:read mcp:write"}
	if !s.oauth().noEmailClaim {
		claims["email"] = email
	}
	data, _ := json.Marshal(claims)
	access := b64(`{"typ":"JWT","alg":"RS256"}`) + "." + b64(string(data)) + "." + b64(random(32))
	refresh := hex.EncodeToString([]byte(random(40)))
	s.access[access] = exp
	s.oauthEmail[access] = email
	s.refresh[refresh] = &grant{email: email, client: client}
	s.secrets = append(s.secrets, access, refresh)
	return map[string]any{"access_token": access, "refresh_token": refresh, "expires_in": s.expiresIn}
}

// revoke is the revocation endpoint (RFC 7009): a public client's
// refresh token is revoked (an unknown or spent one too: 200 all the
// same); an unknown client gets invalid_client.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	o := s.oauth()
	if r.ParseForm() != nil || r.PostForm.Get("token") == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "a form with the token is expected")
		return
	}
	client := r.PostForm.Get("client_id")
	if _, known := o.clients[client]; !known {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	if g := s.refresh[r.PostForm.Get("token")]; g != nil && g.client == client && !g.used {
		g.used = true
		o.revocations++
	}
	w.WriteHeader(http.StatusOK)
}

// mcp is the protected resource (mcp.go) and the userinfo endpoint: a
// live OAuth access token, or 401 with where its metadata are, as
// Akiflow's MCP server answers.
func (s *Server) mcp(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == MCPPath {
		switch r.Method {
		case http.MethodPost:
			s.mcpPost(w, r)
		case http.MethodDelete:
			s.mcpDelete(w, r)
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
		return
	}
	email, ok := s.mcpAccount(w, r)
	if ok {
		reply(w, http.StatusOK, map[string]any{"sub": "user-4242", "email": email, "email_verified": true})
	}
}
