// Package akiflow speaks Akiflow's web authentication protocol: the
// exchanges of the login with an emailed code, and of the silent refresh.
// It knows nothing of caches, terminals or the command line, and imports no
// other package of akiflow-token. Its fake, for tests, is akiflowtest.
//
// Akiflow does not document this protocol. What follows is what this
// package relies on, learnt from the web app and from the public programs
// that talk to the same server; where the real server differs, it wins, and
// this package is the one place to change.
//
// # The server
//
// The auth host (DefaultBaseURL, https://web.akiflow.com) is a Laravel
// application. It keeps a session cookie and an XSRF-TOKEN cookie whose
// value is URL-encoded; every state-changing request sends the decoded
// value back in the X-XSRF-TOKEN header, with the cookies. A missing or
// stale value is answered with HTTP 419, and the request was not used. The
// server regenerates both cookies after the login call and after the code
// is checked, so the XSRF value is read from the cookie jar afresh before
// each request. Every request also says Akiflow-Platform (Platform) and
// Akiflow-Version (AppVersion, which the server does not check strictly),
// and an honest User-Agent: a CDN in front of the server may turn away
// clients it does not recognise, with a 403 ("error code: 1010") that says
// nothing about the session.
//
// Redirects are followed only on the auth host itself: Go re-sends a POST
// body and its headers on a 307 or 308, which could carry a code elsewhere.
//
// # Login
//
//  1. GET /csrf-cookie sets the session and XSRF cookies.
//  2. POST /auth/login with {"email": E, "remember": true} answers
//     {"success": true, "redirect": URL}; the server mails a 6-digit code,
//     and asking again mails a new one and kills the old. A refusal has
//     "success": false and a human "message" (HTTP 422 for a bad email).
//  3. The code is posted, as {"email": E, "code": C}, to the redirect URL
//     exactly as given: a signed URL on the auth host
//     (/auth/email/E?expires=…&signature=…), never anywhere else. A wrong
//     code answers "success": false (or 401/422); a 403 means the signed
//     URL has expired (after about 15 minutes) and a new code is needed.
//  4. GET /user/me answers {"data": {"access_token", "refresh_token",
//     "expires_in", …}}. A reply without a refresh token is refused as
//     broken: saved, it would replace a session that can refresh.
//
// # Refresh
//
//  1. GET /csrf-cookie.
//  2. POST /oauth/refreshToken with {"client_id": "10", "refresh_token": R}
//     and the Akiflow-Client-Id header (a UUID naming this installation,
//     kept per account) answers {"access_token", "refresh_token",
//     "expires_in"}.
//
// The refresh token rotates: once a refresh has reached the server, the
// old token is spent, even if the reply is lost. So a refresh is tried
// again only when the server cannot have used it: a failure before it was
// sent (the csrf step), a refused connection, or a 429 or 503, which say
// "not now". A reply without a refresh token keeps the one we had. A
// refresh token the server refuses (expired, revoked, already used) comes
// back as 400 or 401 with an OAuth error such as invalid_grant: only then
// is a new login needed (ServerError.Rejected). A 419 gets one retry with
// a fresh csrf step. Public clients report that the csrf step is not
// needed for a refresh; it is kept, as the web app does it, but its
// failure never means the refresh token was refused.
//
// # Retries: which requests may be sent again, by whom, and why
//
// A request that can spend something is sent once by the transport: the
// refresh (it rotates the refresh token), the code (it is used up), and
// the login call (asking again mails a new code and kills the old). They
// are POSTs, which Go's HTTP/1.1 transport never sends again by itself;
// the client speaks HTTP/1.1 only, since Go's HTTP/2 client re-sends a
// request whose stream the server reset, or whose connection went away,
// when it can rewind its body. A 307 or 308 redirect on the auth host
// sends one again where the server asked: it did not use it. Only this package sends one of
// them again, and only when the server cannot have used it: the refresh as
// said above; the login call and the code never (the person is asked
// again instead). GET /csrf-cookie and GET /user/me spend nothing: Go's
// transport may retry them on a connection that closed before it answered,
// and a retry of the whole refresh re-runs its csrf step.
//
// # OAuth: the official sign-in (oauth.go)
//
// Akiflow's MCP server (DefaultMCPURL) is a protected resource whose
// metadata (RFC 9728, at /.well-known/oauth-protected-resource/mcp on its
// host) name the authorization server, the auth host, and the scopes;
// that server's metadata (RFC 8414) name its endpoints. Nothing else is
// assumed: discovery, then dynamic registration of a public client (RFC
// 7591: no secret, token_endpoint_auth_method none, a loopback redirect
// URI as RFC 8252 allows, any port), then the authorization code with
// PKCE S256, state and the resource indicator (RFC 8707), exchanged at
// the token endpoint, whose refresh_token grant then refreshes. The token
// endpoint's requests are forms, sent through the same client with the
// same rules: once, HTTP/1.1, bounded, read leniently. Its refusals are
// RFC 6749's: invalid_grant rejects the grant (Rejected); invalid_client
// says the registration is gone (ClientUnknown). An access token's
// lifetime is bounded by its JWT's exp, but not by a day: nobody knows
// what these tokens live. Whether api.akiflow.com accepts them is not
// known.
//
// # Tokens
//
// The access token is a JWT (RS256) that lives about 30 minutes
// (expires_in 1800). Its expiry is counted from the moment the request was
// sent, as the earliest of expires_in, the JWT's own lifetime (exp - iat)
// and its exp; a value that cannot be an access token's lifetime (under a
// second, over a day: expires_in in milliseconds, an exp centuries away)
// is ignored, and with none left the token lives UnknownLifetime, a
// minute. The refresh token is an
// opaque string (def50200…) that lives for months. Both are secrets: no
// error or log line of this package holds either. The API
// (https://api.akiflow.com/v5/…) takes the access token as a Bearer token.
package akiflow
