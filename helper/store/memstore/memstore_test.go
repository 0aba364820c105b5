package memstore_test

import (
	"testing"

	"akiflow-token/helper/store"
	"akiflow-token/helper/store/memstore"
	"akiflow-token/helper/store/storetest"
)

// TestConformance runs the store conformance suite on a Store in memory:
// it has no record size (any one the suite picks is kept), and its locks
// cannot pass to another process (Handle is nil, Adopt refuses).
func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memstore.New() },
		storetest.Options{MaxRecord: 64 << 10, Handles: false})
}
