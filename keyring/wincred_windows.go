package keyring

import (
	"context"
	"errors"
	"fmt"

	"github.com/danieljoos/wincred"
)

// Credential Manager, through danieljoos/wincred: a generic credential
// per account and host, readable by the user's own processes.

func platform() backend { return credentialManager{} }

type credentialManager struct{}

func (credentialManager) name() string { return "Credential Manager" }

// targetOf names the credential of an account on host.
func targetOf(host, account string) string { return service + ":" + host + ":" + account }

func (credentialManager) get(_ context.Context, host, account string) (string, error) {
	c, err := wincred.GetGenericCredential(targetOf(host, account))
	if errors.Is(err, wincred.ErrElementNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w", err)
	}
	return string(c.CredentialBlob), nil
}

func (credentialManager) set(_ context.Context, host, account, token string) error {
	if err := checkBlobSize(token); err != nil {
		return err
	}
	c := wincred.NewGenericCredential(targetOf(host, account))
	c.UserName = account
	c.CredentialBlob = []byte(token)
	c.Persist = wincred.PersistLocalMachine
	return c.Write()
}

func (credentialManager) remove(_ context.Context, host, account string) error {
	c, err := wincred.GetGenericCredential(targetOf(host, account))
	if errors.Is(err, wincred.ErrElementNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.Delete()
}
