package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"
)

// memStore is a Store in memory, for the unit tests of the flow. It counts
// what the flow asks of it, and can be told that records cannot be saved.
type memStore struct {
	mu         sync.Mutex
	records    map[string][]byte
	locks      map[string]chan struct{}
	reads      int
	lockings   int
	unsaveable error // when set, Replace fails before asking for content
	failCommit error // when set, Replace fails after it (a copy-on-write disk)
	// onLock, when set, runs as Lock is called, before the lock is taken:
	// what another process holding the lock would have done meanwhile (it
	// may call Replace).
	onLock func(name string)
	// onReplace, when set, runs as Replace is called, before the record is
	// prepared: what another process did just before (it may call Replace).
	onReplace func(name string)
	// ignoreCase makes names match without regard to case, as on macOS's
	// and Windows' file systems: a record keeps the spelling it was first
	// saved under (spelt), and a lock is one for every spelling.
	ignoreCase bool
	spelt      map[string]string
	locked     []string // every name Lock was called with, in order
}

func newMemStore() *memStore {
	return &memStore{records: map[string][]byte{}, locks: map[string]chan struct{}{}, spelt: map[string]string{}}
}

// key is the map key of the record or lock name.
func (m *memStore) key(name string) string {
	if m.ignoreCase {
		return strings.ToLower(name)
	}
	return name
}

func (m *memStore) Read(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	data, ok := m.records[m.key(name)]
	if !ok {
		return nil, fmt.Errorf("no record %s: %w", name, fs.ErrNotExist)
	}
	return append([]byte(nil), data...), nil
}

func (m *memStore) Replace(name string, content func() ([]byte, error)) error {
	m.mu.Lock()
	unsaveable, onReplace := m.unsaveable, m.onReplace
	m.mu.Unlock()
	if onReplace != nil {
		onReplace(name)
	}
	if unsaveable != nil {
		return unsaveable
	}
	data, err := content()
	if err != nil {
		return err
	}
	if m.failCommit != nil {
		return m.failCommit
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.key(name)
	if _, ok := m.records[k]; !ok {
		m.spelt[k] = name
	}
	m.records[k] = append([]byte(nil), data...)
	return nil
}

func (m *memStore) Lock(ctx context.Context, name string) (io.Closer, error) {
	m.mu.Lock()
	m.lockings++
	m.locked = append(m.locked, name)
	ch, ok := m.locks[m.key(name)]
	if !ok {
		ch = make(chan struct{}, 1)
		m.locks[m.key(name)] = ch
	}
	onLock := m.onLock
	m.mu.Unlock()
	if onLock != nil {
		onLock(name)
	}
	select {
	case ch <- struct{}{}:
		return memLock{ch}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type memLock struct{ ch chan struct{} }

func (l memLock) Close() error { <-l.ch; return nil }

func (m *memStore) Salvage(name string, keep func([]byte) bool) (bool, error) {
	return false, nil // a memory store leaves nothing behind
}

func (m *memStore) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, m.key(name))
	delete(m.spelt, m.key(name))
	return nil
}

func (m *memStore) Names() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for k := range m.records {
		names = append(names, m.spelt[k])
	}
	sort.Strings(names)
	return names, nil
}

// record returns the record name as it is, without counting a read.
func (m *memStore) record(name string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.records[m.key(name)]
	return append([]byte(nil), data...), ok
}

func (m *memStore) Path(name string) string { return "memory:" + name }
func (m *memStore) Dir() string             { return "memory" }

var _ Store = (*memStore)(nil)
var errUnsaveable = errors.New("the disk is full")
