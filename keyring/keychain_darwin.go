package keyring

import (
	"context"
	"errors"

	gokeyring "github.com/zalando/go-keyring"
)

// The login keychain, through zalando/go-keyring, which runs
// /usr/bin/security with the secret on its standard input (never in its
// arguments, where other processes could see it) and needs no cgo, so
// that the release is cross-built. Any process of the same user that
// runs /usr/bin/security may read the item too (docs/keyring.md).

func platform() backend { return keychain{} }

type keychain struct{}

func (keychain) name() string { return "the login keychain" }

// serviceOf names an item's service: the keychain keys items by service
// and account.
func serviceOf(it item) string { return service + ":" + it.host + ":" + it.storeID() }

func (keychain) get(_ context.Context, it item) (string, error) {
	token, err := gokeyring.Get(serviceOf(it), it.account)
	if errors.Is(err, gokeyring.ErrNotFound) {
		return "", nil
	}
	return token, explainKeychain(err)
}

func (keychain) set(_ context.Context, it item, token string) error {
	return explainKeychain(gokeyring.Set(serviceOf(it), it.account, token))
}

func (keychain) remove(_ context.Context, it item) error {
	err := gokeyring.Delete(serviceOf(it), it.account)
	if errors.Is(err, gokeyring.ErrNotFound) {
		return nil
	}
	return explainKeychain(err)
}

// explainKeychain drops what /usr/bin/security printed (go-keyring's
// errors may carry it) for a message of our own.
func explainKeychain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gokeyring.ErrSetDataTooBig):
		return &problem{msg: "the refresh token is too large for the keychain's command line", fix: "log in with --store file"}
	}
	return &problem{msg: "/usr/bin/security failed", fix: "log in with --store file, or unlock the login keychain: security unlock-keychain"}
}
