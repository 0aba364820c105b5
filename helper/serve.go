package helper

import (
	"context"
	"io"
)

// What the local endpoint of exec --serve and serve (package
// helper/endpoint) needs of the flow, beyond Token and Cached. The endpoint
// calls Token and Renew one at a time, and Cached (which only reads the
// store and the Helper's settings) from any goroutine, also while one of
// them runs.

// Renew returns a good session whose access token is not stale, a token
// the API refused before its expiry (revoked early): the cached one, if
// another call replaced stale meanwhile, else a refreshed one, taken as
// Token takes it (the account's lock, the refresh process). Without a
// refresh token it logs in as Token would, which a non-interactive Helper
// refuses (ExitLoginNeeded). When the refresh fails but stale has not
// expired, stale is returned with a warning, as Token does.
func (h *Helper) Renew(ctx context.Context, stale string) (*Session, error) {
	if s, ok := h.Cached(); ok && s.AccessToken != stale {
		return s, nil
	}
	force, prev := h.cfg.ForceRefresh, h.stale
	h.cfg.ForceRefresh, h.stale = true, stale
	defer func() { h.cfg.ForceRefresh, h.stale = force, prev }()
	return h.Token(ctx)
}

// WriteJSON writes s as -o json prints it, whatever the Helper's output
// format. It reads nothing that Token or Renew change.
func (h *Helper) WriteJSON(w io.Writer, s *Session) error {
	j := &Helper{cfg: Config{Output: FormatJSON, Now: h.cfg.Now}}
	return j.Write(w, s)
}
