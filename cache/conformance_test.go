package cache

import (
	"testing"

	"akiflow-token/helper/store"
	"akiflow-token/helper/store/storetest"
)

// TestConformance runs the store conformance suite on a Store in a fresh
// XDG cache home for each of its subtests (the folders are made by the
// store itself, as on a first run): records of up to the store's record
// size, and locks whose Handle a child process inherits and Adopts.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		skipConformance(t)
		useTempCache(t)
		return Open("127.0.0.1:8080", testRecordSize)
	}, storetest.Options{MaxRecord: testRecordSize, Handles: true})
}
