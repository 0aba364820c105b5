package keyring

import (
	"strings"
	"testing"
)

// Credential Manager keeps one credential per account, host and cache
// store (under Wine too, which keeps larger blobs than Windows: the size
// is checked before the call, TestBlobSize).
func TestCredentialManager(t *testing.T) {
	k := Open()
	const host, account = "test.akiflow-token.invalid", "alice@example.com"
	stores := []string{`C:\Users\alice\AppData\Local\cache\akiflow-token\h`, `D:\sandbox\cache\akiflow-token\h`}
	t.Cleanup(func() {
		for _, s := range stores {
			k.Delete(host, s, account)
		}
	})
	if got, err := k.Get(host, stores[0], account); got != "" || err != nil {
		t.Fatalf("Get of nothing = %q, %v", got, err)
	}
	for i, s := range stores {
		if err := k.Set(host, s, account, "token-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := k.Get(host, stores[0], account); got != "token-a" || err != nil {
		t.Errorf("Get = %q, %v", got, err)
	}
	if err := k.Delete(host, stores[0], account); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.Get(host, stores[0], account); got != "" {
		t.Error("Get after Delete found a token")
	}
	if got, _ := k.Get(host, stores[1], account); got != "token-b" {
		t.Errorf("the other store's token: %q", got)
	}
	if err := k.Delete(host, stores[0], account); err != nil {
		t.Errorf("Delete of nothing: %v", err)
	}
	err := k.Set(host, stores[0], account, strings.Repeat("x", maxBlob+1))
	if err == nil || !strings.Contains(err.Error(), "more than the 2560 Credential Manager keeps") {
		t.Errorf("Set of %d bytes: %v", maxBlob+1, err)
	}
}
