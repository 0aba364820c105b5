//go:build darwin || windows

package keyring

import (
	"crypto/sha256"
	"encoding/hex"
)

// storeID is a short, stable name of a store's folder, for the backends
// whose items have only a name (the keychain's service, Credential
// Manager's target).
func (it item) storeID() string {
	sum := sha256.Sum256([]byte(it.store))
	return hex.EncodeToString(sum[:6])
}
