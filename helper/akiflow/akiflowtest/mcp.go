package akiflowtest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
)

// The fake's MCP-like resource at MCPPath: the Streamable HTTP transport
// of the MCP specification (2025-06-18), as little of it as a client of
// the proxy needs, and as strict as the specification is about it:
//
//   - every request needs a live OAuth access token, else 401 with
//     WWW-Authenticate: Bearer resource_metadata="…";
//   - POST takes one JSON-RPC message as application/json (else 415),
//     and its Accept must list both application/json and
//     text/event-stream (else 406); initialize
//     answers with an Mcp-Session-Id header, which every later request
//     must carry (none: 400; unknown or ended: 404); a notification or a
//     response gets 202; tools/list answers JSON, tools/call an event
//     stream of one event;
//   - GET with Accept: text/event-stream opens the session's event
//     stream: MCPEvents events, spaced out by mcpEventInterval, or, after
//     GateMCPEvents, each after the first sent only when the test says;
//     then the stream ends;
//   - DELETE ends the session.

// MCPProtocolVersion is the MCP version the fake speaks.
const MCPProtocolVersion = "2025-06-18"

// MCPEvents is the number of events of a GET's event stream.
const MCPEvents = 3

// mcpEventInterval spaces out the events of a stream without a gate.
const mcpEventInterval = 300 * time.Millisecond

// mcpSession is one MCP session: the account whose token started it.
type mcpSession struct{ email string }

// MCPTools are the names of the tools tools/list lists.
var MCPTools = []string{"list_tasks", "create_task"}

// GateMCPEvents makes the event streams opened from now on send each
// event after the first only once the test sends a value on the channel
// returned (one value, one event): so that a test sees whether each event
// reached it before the next one was even sent.
func (s *Server) GateMCPEvents() chan<- struct{} {
	gate := make(chan struct{})
	s.locked(func() { s.oauth().gate = gate })
	return gate
}

// MCPSessions is the number of live MCP sessions.
func (s *Server) MCPSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.oauth().mcpSessions)
}

// mcpAccount is the account of the request's live OAuth access token,
// or false after a 401 with where the resource's metadata are. With s.mu
// held.
func (s *Server) mcpAccount(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	email, issued := s.oauthEmail[token]
	if exp, live := s.access[token]; !issued || !live || time.Now().After(exp) {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+s.URL+"/.well-known/oauth-protected-resource"+MCPPath+`"`)
		reply(w, http.StatusUnauthorized, map[string]any{"error": "invalid_token"})
		return "", false
	}
	return email, true
}

// accepts says the request's Accept header lists the media type.
func accepts(r *http.Request, mediaType string) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			if t, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && t == mediaType {
				return true
			}
		}
	}
	return false
}

// mcpSessionOf checks the request's Mcp-Session-Id: none is 400, one
// that is not a live session of email's is 404. With s.mu held.
func (s *Server) mcpSessionOf(w http.ResponseWriter, r *http.Request, email string) (string, bool) {
	id := r.Header.Get("Mcp-Session-Id")
	if id == "" {
		rpcError(w, http.StatusBadRequest, nil, -32000, "Bad Request: Mcp-Session-Id header is required")
		return "", false
	}
	if sess := s.oauth().mcpSessions[id]; sess == nil || sess.email != email {
		rpcError(w, http.StatusNotFound, nil, -32001, "Session not found")
		return "", false
	}
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" && v != MCPProtocolVersion && v != "2025-03-26" {
		rpcError(w, http.StatusBadRequest, nil, -32000, "Bad Request: unsupported MCP-Protocol-Version")
		return "", false
	}
	return id, true
}

func rpcError(w http.ResponseWriter, status int, id any, code int, message string) {
	reply(w, status, map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": message}})
}

// mcpPost answers a POST to the resource, with s.mu held.
func (s *Server) mcpPost(w http.ResponseWriter, r *http.Request) {
	email, ok := s.mcpAccount(w, r)
	if !ok {
		return
	}
	if !accepts(r, "application/json") || !accepts(r, "text/event-stream") {
		rpcError(w, http.StatusNotAcceptable, nil, -32000, "Not Acceptable: Client must accept both application/json and text/event-stream")
		return
	}
	if t, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); t != "application/json" {
		rpcError(w, http.StatusUnsupportedMediaType, nil, -32000, "Unsupported Media Type: Content-Type must be application/json")
		return
	}
	var msg struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  string          `json:"method"`
		Params  json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || msg.JSONRPC != "2.0" {
		rpcError(w, http.StatusBadRequest, nil, -32700, "Parse error")
		return
	}
	if msg.Method == "initialize" {
		id := hex.EncodeToString([]byte(random(16)))
		s.oauth().mcpSessions[id] = &mcpSession{email: email}
		w.Header().Set("Mcp-Session-Id", id)
		reply(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": msg.ID, "result": map[string]any{
			"protocolVersion": MCPProtocolVersion,
			"capabilities":    map[string]any{"tools": map[string]any{}},
			"serverInfo":      map[string]any{"name": "fake-akiflow-mcp", "version": "1.0.0"},
		}})
		return
	}
	if _, ok := s.mcpSessionOf(w, r, email); !ok {
		return
	}
	if msg.ID == nil { // a notification, or a response: accepted, nothing to say
		w.WriteHeader(http.StatusAccepted)
		return
	}
	switch msg.Method {
	case "tools/list":
		var tools []map[string]any
		for _, name := range MCPTools {
			tools = append(tools, map[string]any{"name": name, "description": "A fake " + name + ".",
				"inputSchema": map[string]any{"type": "object"}})
		}
		reply(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": msg.ID, "result": map[string]any{"tools": tools}})
	case "tools/call":
		// The answer as an event stream of one event, as a server may.
		data, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": msg.ID, "result": map[string]any{
			"content": []any{map[string]any{"type": "text", "text": "no tasks"}}}})
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		fmt.Fprintf(w, "event: message\ndata: %s\n\n", data)
	default:
		rpcError(w, http.StatusOK, msg.ID, -32601, "Method not found")
	}
}

// mcpDelete ends a session, with s.mu held.
func (s *Server) mcpDelete(w http.ResponseWriter, r *http.Request) {
	email, ok := s.mcpAccount(w, r)
	if !ok {
		return
	}
	if id, ok := s.mcpSessionOf(w, r, email); ok {
		delete(s.oauth().mcpSessions, id)
		w.WriteHeader(http.StatusOK)
	}
}

// mcpStream answers a GET: the session's event stream. It takes s.mu for
// its checks only, not while it streams.
func (s *Server) mcpStream(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	email, ok := s.mcpAccount(w, r)
	switch {
	case !ok:
	case !accepts(r, "text/event-stream"):
		ok = false
		rpcError(w, http.StatusNotAcceptable, nil, -32000, "Not Acceptable: Client must accept text/event-stream")
	default:
		_, ok = s.mcpSessionOf(w, r, email)
	}
	gate := s.oauth().gate
	s.mu.Unlock()
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	for i := 1; i <= MCPEvents; i++ {
		if i > 1 {
			next := time.After(mcpEventInterval)
			if gate != nil {
				next = nil
			}
			select {
			case <-gate:
			case <-next:
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second): // so that the server can close
				return
			}
		}
		data, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/message",
			"params": map[string]any{"level": "info", "data": fmt.Sprintf("event %d of %d", i, MCPEvents)}})
		fmt.Fprintf(w, "id: %d\nevent: message\ndata: %s\n\n", i, data)
		if rc.Flush() != nil {
			return
		}
	}
}
