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

// targetOf names the credential of an item.
func targetOf(it item) string { return service + ":" + it.host + ":" + it.account + ":" + it.storeID() }

func (credentialManager) get(_ context.Context, it item) (string, error) {
	c, err := wincred.GetGenericCredential(targetOf(it))
	if errors.Is(err, wincred.ErrElementNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w", err)
	}
	return string(c.CredentialBlob), nil
}

func (credentialManager) set(_ context.Context, it item, token string) error {
	if err := checkBlobSize(token); err != nil {
		return err
	}
	c := wincred.NewGenericCredential(targetOf(it))
	c.UserName = it.account
	c.CredentialBlob = []byte(token)
	c.Persist = wincred.PersistLocalMachine
	return c.Write()
}

func (credentialManager) remove(_ context.Context, it item) error {
	c, err := wincred.GetGenericCredential(targetOf(it))
	if errors.Is(err, wincred.ErrElementNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.Delete()
}
