package akiflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Akiflow's official sign-in (doc.go, OAuth): discovery, registration,
// the authorization code with PKCE, and the token endpoint's two grants.
// Every request goes through Client.do, with the same rules as the
// email-code flow: HTTP/1.1, each request sent once, replies bounded and
// read leniently, errors without a reply's body or a secret.

// DefaultMCPURL is Akiflow's MCP server: the protected resource whose
// metadata names the authorization server.
const DefaultMCPURL = "https://mcp.akiflow.com/mcp"

// ClientName is the name akiflow-token registers under.
const ClientName = "akiflow-token"

// EndpointToken names an OAuth token endpoint in ServerError.Endpoint:
// its path is the server's metadata's to say.
const EndpointToken = "token endpoint"

// maxOAuthLifetime bounds an OAuth access token's lifetime: nobody knows
// what Akiflow issues, so not the email-code flow's day, but not a value
// that cannot be one (expires_in in milliseconds, of a token with no exp).
const maxOAuthLifetime = 366 * 24 * time.Hour

// Discovery is what the metadata say about signing in to a resource.
type Discovery struct {
	Resource string   // the resource indicator (RFC 8707), as its metadata name it
	Scopes   []string // the resource's scopes_supported: what the sign-in asks for
	Server   ServerMetadata
}

// ResourceMetadata is a protected resource's metadata (RFC 9728).
type ResourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

// ServerMetadata is an authorization server's metadata (RFC 8414), the
// fields akiflow-token uses.
type ServerMetadata struct {
	Issuer                        string   `json:"issuer"`
	AuthorizationEndpoint         string   `json:"authorization_endpoint"`
	TokenEndpoint                 string   `json:"token_endpoint"`
	RegistrationEndpoint          string   `json:"registration_endpoint"`
	UserinfoEndpoint              string   `json:"userinfo_endpoint"`
	RevocationEndpoint            string   `json:"revocation_endpoint"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	GrantTypesSupported           []string `json:"grant_types_supported"`
	ResponseTypesSupported        []string `json:"response_types_supported"`
}

// ResourceMetadataURL is where a resource publishes its metadata: the
// well-known path between its host and its path (RFC 9728, 3.1).
func ResourceMetadataURL(resource *url.URL) string {
	return wellKnown(resource, "oauth-protected-resource")
}

// ServerMetadataURL is where an issuer publishes its metadata (RFC 8414,
// 3.1).
func ServerMetadataURL(issuer *url.URL) string {
	return wellKnown(issuer, "oauth-authorization-server")
}

func wellKnown(u *url.URL, name string) string {
	w := url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/.well-known/" + name + strings.TrimRight(u.Path, "/")}
	return w.String()
}

// Discover reads the resource's metadata, then its authorization
// server's. The server must be the client's auth host (its base URL):
// the sessions it issues are kept under that host's name.
func (c *Client) Discover(ctx context.Context, resource *url.URL) (*Discovery, error) {
	data, err := c.getJSON(ctx, "discovery", ResourceMetadataURL(resource))
	if err != nil {
		return nil, err
	}
	rm, err := ParseResourceMetadata(data, resource.String())
	if err != nil {
		return nil, fmt.Errorf("the metadata of %s: %w", resource.Redacted(), err)
	}
	issuer := ""
	for _, as := range rm.AuthorizationServers {
		if u, err := url.Parse(as); err == nil && c.sameHost(u) {
			issuer = as
			break
		}
	}
	if issuer == "" {
		return nil, fmt.Errorf("the metadata of %s name the authorization server %s, not the auth host %s: set --base-url to it",
			resource.Redacted(), oneLine(strings.Join(rm.AuthorizationServers, ", ")), c.base.Host)
	}
	issuerURL, _ := url.Parse(issuer)
	data, err = c.getJSON(ctx, "discovery", ServerMetadataURL(issuerURL))
	if err != nil {
		return nil, err
	}
	sm, err := ParseServerMetadata(data, issuer)
	if err != nil {
		return nil, fmt.Errorf("the metadata of the authorization server %s: %w", c.base.Host, err)
	}
	return &Discovery{Resource: rm.Resource, Scopes: rm.ScopesSupported, Server: *sm}, nil
}

// getJSON fetches a JSON document (the metadata): its bytes, for a parser
// of its own.
func (c *Client) getJSON(ctx context.Context, op, rawURL string) ([]byte, error) {
	var raw json.RawMessage
	if err := c.do(ctx, op, http.MethodGet, rawURL, nil, nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// ParseResourceMetadata parses a protected resource's metadata, which
// must name resource itself (RFC 9728, 3.3) and an authorization server.
func ParseResourceMetadata(data []byte, resource string) (*ResourceMetadata, error) {
	var m ResourceMetadata
	if err := DecodeReply(data, &m); err != nil {
		return nil, err
	}
	switch {
	case strings.TrimRight(m.Resource, "/") != strings.TrimRight(resource, "/"):
		return nil, fmt.Errorf("they are of the resource %q, not this one", oneLine(m.Resource))
	case len(m.AuthorizationServers) == 0:
		return nil, errors.New("they name no authorization server")
	}
	for _, s := range m.ScopesSupported {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' || r == '\\' }) {
			return nil, errors.New("a scope is not a word of printable ASCII")
		}
	}
	return &m, nil
}

// ParseServerMetadata parses an authorization server's metadata, which
// must be issuer's (RFC 8414, 3.3) and offer what akiflow-token needs: the
// authorization code with PKCE S256, and dynamic registration, on https
// endpoints (plain http only on this machine) of the issuer's own origin.
// RFC 8414 lets an endpoint be elsewhere; akiflow-token does not follow
// it there: the code, its verifier and every refresh token go to the
// token endpoint, and the issuer is the one host checked to be Akiflow's
// (--base-url).
func ParseServerMetadata(data []byte, issuer string) (*ServerMetadata, error) {
	var m ServerMetadata
	if err := DecodeReply(data, &m); err != nil {
		return nil, err
	}
	if strings.TrimRight(m.Issuer, "/") != strings.TrimRight(issuer, "/") {
		return nil, fmt.Errorf("they are of the issuer %q, not %q", oneLine(m.Issuer), oneLine(issuer))
	}
	for _, e := range []struct {
		name, value string
		required    bool
	}{
		{"authorization_endpoint", m.AuthorizationEndpoint, true},
		{"token_endpoint", m.TokenEndpoint, true},
		{"registration_endpoint", m.RegistrationEndpoint, true},
		{"userinfo_endpoint", m.UserinfoEndpoint, false},
		{"revocation_endpoint", m.RevocationEndpoint, false},
	} {
		if e.value == "" && !e.required {
			continue
		}
		if e.value == "" {
			return nil, fmt.Errorf("they have no %s (akiflow-token registers itself, RFC 7591)", e.name)
		}
		u, err := CheckEndpoint(e.value)
		if err != nil {
			return nil, fmt.Errorf("their %s: %w", e.name, err)
		}
		if !sameOrigin(u, issuer) {
			return nil, fmt.Errorf("their %s %q is not on the issuer's host, %s", e.name, oneLine(e.value), oneLine(issuer))
		}
	}
	switch {
	case !slices.Contains(m.CodeChallengeMethodsSupported, "S256"):
		return nil, errors.New("they do not offer PKCE with S256, which akiflow-token requires")
	case m.ResponseTypesSupported != nil && !slices.Contains(m.ResponseTypesSupported, "code"):
		return nil, errors.New("they do not offer the authorization code")
	case m.GrantTypesSupported != nil && !slices.Contains(m.GrantTypesSupported, "authorization_code"):
		return nil, errors.New("they do not offer the authorization_code grant")
	}
	return &m, nil
}

// CheckEndpoint accepts an absolute https URL, or plain http to this
// machine, without credentials or a fragment.
func CheckEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || len(raw) > 2048:
		return nil, fmt.Errorf("%q is not an absolute URL", oneLine(raw))
	case u.Scheme == "https":
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
	default:
		return nil, fmt.Errorf("%q is not https", oneLine(raw))
	}
	return u, nil
}

// sameOrigin says u has issuer's scheme, host and port (a scheme's
// default port spelt out or not).
func sameOrigin(u *url.URL, issuer string) bool {
	iu, err := url.Parse(issuer)
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return map[string]string{"https": "443", "http": "80"}[strings.ToLower(u.Scheme)]
	}
	return err == nil && strings.EqualFold(u.Scheme, iu.Scheme) && strings.EqualFold(u.Hostname(), iu.Hostname()) && port(u) == port(iu)
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Register registers akiflow-token as a public client (RFC 7591) that
// redirects to redirectURI, and returns its client id.
func (c *Client) Register(ctx context.Context, endpoint, redirectURI string) (string, error) {
	body := map[string]any{
		"client_name":                ClientName,
		"redirect_uris":              []string{redirectURI},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	}
	var raw json.RawMessage
	if err := c.do(ctx, "registration", http.MethodPost, endpoint, body, nil, &raw); err != nil {
		return "", err
	}
	id, err := ParseRegistration(raw)
	if err != nil {
		return "", &ServerError{Op: "registration", Status: http.StatusOK, Message: err.Error()}
	}
	return id, nil
}

// maxClientIDSize bounds a registered client id: it goes into URLs and a
// record.
const maxClientIDSize = 512

// ParseRegistration reads the client id from a registration's reply.
func ParseRegistration(data []byte) (string, error) {
	var reply struct {
		ClientID lenient `json:"client_id"`
	}
	if err := DecodeReply(data, &reply); err != nil {
		return "", err
	}
	id := reply.ClientID.text()
	if err := CheckClientID(id); err != nil {
		return "", fmt.Errorf("the reply's client id is not usable: %w", err)
	}
	return id, nil
}

// CheckClientID accepts a registered client id: printable ASCII without
// spaces, within maxClientIDSize.
func CheckClientID(id string) error {
	switch {
	case id == "":
		return errors.New("it is empty")
	case len(id) > maxClientIDSize:
		return fmt.Errorf("it is longer than %d bytes", maxClientIDSize)
	case strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }):
		return errors.New("it has spaces, control or non-ASCII characters")
	}
	return nil
}

// NewVerifier makes a PKCE code verifier (RFC 7636, 4.1): 32 random
// bytes, base64url, 43 characters. It is a secret until the code is
// exchanged.
func NewVerifier() string { return randomWord(32) }

// NewState makes the state that ties a callback to this sign-in.
func NewState() string { return randomWord(16) }

func randomWord(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Challenge is the S256 code challenge of verifier (RFC 7636, 4.2).
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Authorization is one sign-in's request to the authorization endpoint.
type Authorization struct {
	ClientID    string
	RedirectURI string
	State       string
	Verifier    string // sent as its challenge only
	Resource    string
	Scopes      []string
}

// URL is the authorization endpoint's URL for a, which the browser opens:
// it holds no secret (the verifier only as its hash).
func (a Authorization) URL(endpoint string) (string, error) {
	u, err := CheckEndpoint(endpoint)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", a.ClientID)
	q.Set("redirect_uri", a.RedirectURI)
	q.Set("state", a.State)
	q.Set("code_challenge", Challenge(a.Verifier))
	q.Set("code_challenge_method", "S256")
	q.Set("resource", a.Resource)
	if len(a.Scopes) > 0 {
		q.Set("scope", strings.Join(a.Scopes, " "))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// ExchangeCode trades the authorization code for tokens, at the token
// endpoint: once, never again (a code is used up).
func (c *Client) ExchangeCode(ctx context.Context, tokenURL string, a Authorization, code string) (*Tokens, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {a.RedirectURI},
		"client_id": {a.ClientID}, "code_verifier": {a.Verifier}, "resource": {a.Resource}}
	return c.grant(ctx, "login", tokenURL, form)
}

// RefreshOAuth trades an OAuth refresh token for new tokens at the token
// endpoint. It is tried again only as Refresh is: when the server cannot
// have used it (a refused connection, a 429 or 503).
func (c *Client) RefreshOAuth(ctx context.Context, tokenURL, clientID, refreshToken, resource string) (*Tokens, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {clientID}}
	if resource != "" {
		form.Set("resource", resource)
	}
	return c.retrying(ctx, func(ctx context.Context) (*Tokens, bool, error) {
		tokens, err := c.grant(ctx, "refresh", tokenURL, form)
		return tokens, true, err
	})
}

// grant posts a grant to the token endpoint and reads its tokens, with
// the email its ID or access token names.
func (c *Client) grant(ctx context.Context, op, tokenURL string, form url.Values) (*Tokens, error) {
	if _, err := CheckEndpoint(tokenURL); err != nil {
		return nil, fmt.Errorf("the token endpoint: %w", err)
	}
	sent := c.now()
	var reply oauthReply
	if err := c.do(ctx, op, http.MethodPost, tokenURL, form, nil, &reply); err != nil {
		return nil, err
	}
	tokens, err := reply.tokensWithin(op, sent, maxOAuthLifetime)
	if tokens != nil {
		tokens.Email = EmailClaim(reply.IDToken.text())
		if tokens.Email == "" {
			tokens.Email = EmailClaim(tokens.AccessToken)
		}
	}
	return tokens, err
}

// oauthReply is a token endpoint's reply: the token fields, and an ID
// token that may name the account.
type oauthReply struct {
	tokenReply
	IDToken lenient `json:"id_token"`
}

// Userinfo asks the userinfo endpoint which email the access token is
// of; "" when it does not say.
func (c *Client) Userinfo(ctx context.Context, endpoint, accessToken string) (string, error) {
	var reply struct {
		Email         lenient `json:"email"`
		EmailVerified *bool   `json:"email_verified"`
	}
	header := http.Header{"Authorization": {"Bearer " + accessToken}}
	if err := c.do(ctx, "userinfo", http.MethodGet, endpoint, nil, header, &reply); err != nil {
		return "", err
	}
	if reply.EmailVerified != nil && !*reply.EmailVerified {
		return "", nil
	}
	return reply.Email.text(), nil
}

// Revoke asks the revocation endpoint (RFC 7009) to revoke a refresh
// token of the public client clientID. A 200 is success, whatever the
// token was (RFC 7009, 2.2).
func (c *Client) Revoke(ctx context.Context, endpoint, clientID, refreshToken string) error {
	if _, err := CheckEndpoint(endpoint); err != nil {
		return fmt.Errorf("the revocation endpoint: %w", err)
	}
	form := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {clientID}}
	return c.do(ctx, "revocation", http.MethodPost, endpoint, form, nil, nil)
}

// answeredBy names the endpoint that answered u for ServerError, so that
// only the very request that carried a grant can reject it: nothing after a
// redirect (a 302 or 303 turns the POST into a GET with no body, which any
// endpoint may refuse), EndpointToken for an OAuth grant, else one of the
// fixed paths, else "". The request itself is compared, not its URL's
// spelling (HTTP:// and http:// are one endpoint).
func answeredBy(base, u *url.URL, redirected bool, in any) string {
	if redirected {
		return ""
	}
	if form, ok := in.(url.Values); ok && form.Get("grant_type") != "" {
		return EndpointToken
	}
	return endpointOf(base, u)
}
