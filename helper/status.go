package helper

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// AccountStatus is what status reports: never a token.
type AccountStatus struct {
	Email        string   `json:"email"` // "" when no account is selected
	AuthHost     string   `json:"auth_host"`
	ExpiresAt    string   `json:"expires_at,omitempty"`
	ExpiresIn    int64    `json:"expires_in"` // seconds the access token has left
	RefreshToken bool     `json:"refresh_token"`
	LoggedIn     bool     `json:"logged_in"` // a token can be had without asking
	CacheFile    string   `json:"cache_file"`
	Others       []string `json:"other_accounts"`
}

// Status reports the selected account, and lists the others that have not
// been logged out, on w: text, or JSON with -o json. Accounts are named by
// their keys (accountKey). It returns an exit-3 error when a login is
// needed.
func (h *Helper) Status(w io.Writer) error {
	email, err := h.account()
	if err != nil {
		return err
	}
	s, err := h.load(email)
	if err != nil {
		return err
	}
	accounts, err := h.accounts()
	if err != nil {
		return err
	}
	now := h.now()
	st := AccountStatus{Email: email, AuthHost: h.base.Host, CacheFile: h.store.Dir(), Others: []string{},
		RefreshToken: s.canRefresh(), LoggedIn: s.canRefresh() || s.validFor(now, 0), ExpiresIn: int64(h.left(s) / time.Second)}
	if email != "" {
		st.CacheFile = h.store.Path(email)
	}
	if s != nil && s.AccessToken != "" {
		st.ExpiresAt = rfc3339(s.ExpiresAt)
	}
	for _, other := range accounts {
		if other == email {
			continue
		}
		// A logged-out account (no token at all) is no other account to
		// switch to; one whose file cannot be read is listed all the same.
		if o, err := h.peek(other); err == nil && o != nil && !o.hasTokens() {
			continue
		}
		st.Others = append(st.Others, other)
	}
	var out bytes.Buffer
	if h.cfg.Output == FormatJSON {
		out.Write(marshalLine(st))
	} else {
		writeStatus(&out, &st, s, now)
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("could not write the status: %w", err)
	}
	switch {
	case st.Email == "" && len(st.Others) > 1:
		return withCode(ExitLoginNeeded, "no account is selected (several are cached): name one with -e EMAIL, or log in to make it the default")
	case !st.LoggedIn && st.Email == "":
		return loginNeeded(fmt.Sprintf("no account is logged in to %s", h.base.Host))
	case !st.LoggedIn:
		return loginNeeded(fmt.Sprintf("%s is not logged in to %s", h.shown(st.Email), h.base.Host))
	}
	return nil
}

func writeStatus(w io.Writer, st *AccountStatus, s *Session, now time.Time) {
	if st.Email == "" {
		fmt.Fprintf(w, "account: none on %s\n", st.AuthHost)
	} else {
		fmt.Fprintf(w, "account: %s on %s\n", st.Email, st.AuthHost)
	}
	switch {
	case st.ExpiresAt == "":
		fmt.Fprintf(w, "access:  none\n")
	case now.Before(s.ExpiresAt):
		fmt.Fprintf(w, "access:  expires %s (in %s)\n", s.ExpiresAt.Local().Format(time.RFC3339), time.Duration(st.ExpiresIn)*time.Second)
	default:
		fmt.Fprintf(w, "access:  expired %s\n", s.ExpiresAt.Local().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "refresh: %s\n", map[bool]string{true: "held", false: "none"}[st.RefreshToken])
	fmt.Fprintf(w, "cache:   %s\n", st.CacheFile)
	for _, other := range st.Others {
		fmt.Fprintf(w, "other:   %s\n", other)
	}
}
