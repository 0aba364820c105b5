package main

import (
	"context"
	"os"
	"time"

	"akiflow-token/helper"
	"akiflow-token/helper/format"
)

// tokenCmd prints a valid token in the format -o names: the default
// command, and what every tool runs.
type tokenCmd struct{}

func (tokenCmd) Run(c *cli) error {
	h, err := c.helper()
	if err != nil {
		return err
	}
	req := c.request()
	var execAPI string
	if c.Output == format.ExecCredential {
		info, err := format.ParseExecInfo(os.Getenv("KUBERNETES_EXEC_INFO"))
		if err != nil {
			return helper.UsageError("%v", err)
		}
		execAPI = info.APIVersion
		if !info.Interactive && req.Prompt != nil {
			req.Prompt, req.NoPrompt = nil, "kubectl's interactive: false"
		}
	}
	s, err := h.Token(context.Background(), req)
	if err != nil {
		return err
	}
	return format.Write(os.Stdout, c.Output, c.credential(s, execAPI), time.Now())
}

// credential is what the formats print of s.
func (c *cli) credential(s *helper.Session, execAPI string) format.Credential {
	return format.Credential{AccessToken: s.AccessToken, ExpiresAt: s.ExpiresAt, Email: s.Email, ClientID: s.ClientID,
		Platform: c.Platform, AppVersion: c.AppVersion, ExecAPIVersion: execAPI}
}
