package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"akiflow-token/helper"
	"akiflow-token/helper/format"
)

type statusCmd struct{}

// Run prints the selected account's session, never a token: text, or JSON
// with -o json. It exits 3 when a login is needed, after printing.
func (statusCmd) Run(c *cli) error {
	switch c.Output {
	case format.Token, format.JSON: // the default (text), or json
	default:
		return helper.UsageError("status prints text or json, not %s (%s)", c.Output, source("output"))
	}
	h, err := c.helper()
	if err != nil {
		return err
	}
	st, err := h.Status(c.request())
	if st == nil {
		return err
	}
	var out bytes.Buffer
	if c.Output == format.JSON {
		data, _ := json.MarshalIndent(st, "", "  ") // plain fields: cannot fail
		out.Write(append(data, '\n'))
	} else {
		writeStatus(&out, st)
	}
	if _, werr := os.Stdout.Write(out.Bytes()); werr != nil {
		return fmt.Errorf("could not write the status: %w", werr)
	}
	return err
}

func writeStatus(w *bytes.Buffer, st *helper.AccountStatus) {
	kind := ""
	if st.Auth == "oauth" {
		kind = " (OAuth sign-in)"
	}
	if st.Email == "" {
		fmt.Fprintf(w, "account: none on %s%s\n", st.AuthHost, kind)
	} else {
		fmt.Fprintf(w, "account: %s on %s%s\n", st.Email, st.AuthHost, kind)
	}
	switch {
	case st.Expiry.IsZero():
		fmt.Fprintf(w, "access:  none\n")
	case !st.Expired:
		fmt.Fprintf(w, "access:  expires %s (in %s)\n", st.Expiry.Local().Format(time.RFC3339), time.Duration(st.ExpiresIn)*time.Second)
	default:
		fmt.Fprintf(w, "access:  expired %s\n", st.Expiry.Local().Format(time.RFC3339))
	}
	switch {
	case !st.RefreshToken:
		fmt.Fprintf(w, "refresh: none\n")
	case st.Pending:
		fmt.Fprintf(w, "refresh: held in the cache file (the keyring refused it; the next refresh moves it there)\n")
	case st.RefreshStore != helper.StoreFile:
		fmt.Fprintf(w, "refresh: held in the %s\n", st.RefreshStore)
	default:
		fmt.Fprintf(w, "refresh: held\n")
	}
	fmt.Fprintf(w, "cache:   %s\n", st.CacheFile)
	for _, other := range st.Others {
		fmt.Fprintf(w, "other:   %s\n", other)
	}
}
