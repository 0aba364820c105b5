package keyring

import "fmt"

// maxBlob is the largest secret Windows' Credential Manager keeps
// (CRED_MAX_CREDENTIAL_BLOB_SIZE, 5 * 512 bytes): a larger one is refused
// before any call, with a message that says so, rather than by the API.
const maxBlob = 2560

// checkBlobSize refuses a secret Credential Manager would refuse.
func checkBlobSize(secret string) error {
	if len(secret) > maxBlob {
		return &problem{msg: fmt.Sprintf("the refresh token is %d bytes, more than the %d Credential Manager keeps", len(secret), maxBlob),
			fix: "log in with --store file"}
	}
	return nil
}
