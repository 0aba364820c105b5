// Package memstore is a store.Store in memory, for the tests of every
// package that needs one: its locks are channels (they cannot pass to
// another process), and it counts what it is asked, and can be told to fail
// as a full disk would.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"

	"akiflow-token/helper/store"
)

// Store is a store.Store in memory. Set its fields before use, or under
// Do.
type Store struct {
	mu      sync.Mutex
	records map[string][]byte
	locks   map[string]chan struct{}
	open    map[string]int // the Pendings of each record not yet committed or discarded

	Reads    int      // calls of Read
	Lockings int      // calls of Lock
	Locked   []string // every name Lock was called with, in order
	Staged   int      // calls of Pending.Stage
	// Unsaveable, when set, makes Prepare fail (a full disk).
	Unsaveable error
	// FailCommit, when set, makes Commit fail (a copy-on-write disk, where
	// no space can be reserved).
	FailCommit error
	// OnLock, when set, runs as Lock is called, before the lock is taken:
	// what another process holding the lock did meanwhile.
	OnLock func(name string)
	// OnPrepare, when set, runs as Prepare is called: what another process
	// did just before.
	OnPrepare func(name string)
}

// New returns an empty Store.
func New() *Store {
	return &Store{records: map[string][]byte{}, locks: map[string]chan struct{}{}, open: map[string]int{}}
}

// Do runs f with the store's fields locked against its methods.
func (m *Store) Do(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
}

func (m *Store) Read(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Reads++
	data, ok := m.records[name]
	if !ok {
		return nil, fmt.Errorf("no record %s: %w", name, fs.ErrNotExist)
	}
	return append([]byte(nil), data...), nil
}

// Record returns the record name as it is, without counting a read.
func (m *Store) Record(name string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.records[name]
	return append([]byte(nil), data...), ok
}

// Put sets the record name, as another process would.
func (m *Store) Put(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[name] = append([]byte(nil), data...)
}

func (m *Store) Prepare(name string) (store.Pending, error) {
	m.mu.Lock()
	unsaveable, onPrepare := m.Unsaveable, m.OnPrepare
	m.mu.Unlock()
	if onPrepare != nil {
		onPrepare(name)
	}
	if unsaveable != nil {
		return nil, unsaveable
	}
	m.mu.Lock()
	m.open[name]++
	m.mu.Unlock()
	return &pending{m: m, name: name}, nil
}

type pending struct {
	m    *Store
	name string
	done bool // committed or discarded: as cache's, it is used once
}

// Stage keeps nothing: a process of the tests is never killed between
// Stage and Commit, and Recover has no leftovers here.
func (p *pending) Stage(data []byte) error {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	if p.done {
		return errors.New("memstore: a replacement committed or discarded already")
	}
	p.m.Staged++
	return nil
}

func (p *pending) Commit(data []byte) error {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	switch {
	case p.done:
		return errors.New("memstore: a replacement committed or discarded already")
	case p.m.FailCommit != nil:
		return p.m.FailCommit
	}
	p.finish()
	p.m.records[p.name] = append([]byte(nil), data...)
	return nil
}

func (p *pending) Discard() {
	p.m.mu.Lock()
	p.finish()
	p.m.mu.Unlock()
}

// finish marks p used, with p.m.mu held.
func (p *pending) finish() {
	if !p.done {
		p.done = true
		p.m.open[p.name]--
	}
}

func (p *pending) Alone() error {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	if p.m.open[p.name] > 1 || p.done && p.m.open[p.name] > 0 {
		return store.ErrBusy
	}
	return nil
}

func (m *Store) Lock(ctx context.Context, name string) (store.Lock, error) {
	m.mu.Lock()
	m.Lockings++
	m.Locked = append(m.Locked, name)
	ch, ok := m.locks[name]
	if !ok {
		ch = make(chan struct{}, 1)
		m.locks[name] = ch
	}
	onLock := m.OnLock
	m.mu.Unlock()
	if onLock != nil {
		onLock(name)
	}
	select {
	case ch <- struct{}{}: // free: taken, whatever ctx says, as cache does
		return &lock{ch: ch}, nil
	default:
	}
	select {
	case ch <- struct{}{}:
		return &lock{ch: ch}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type lock struct {
	once sync.Once
	ch   chan struct{}
}

func (l *lock) Close() error     { l.once.Do(func() { <-l.ch }); return nil }
func (l *lock) Handle() *os.File { return nil } // a channel cannot pass to another process

// Adopt refuses: no lock of this store passes to another process.
func (m *Store) Adopt(name string, f *os.File) (store.Lock, error) {
	return nil, errors.New("memstore: a lock in memory cannot be handed down")
}

// Recover finds nothing: a store in memory leaves nothing behind.
func (m *Store) Recover(name string, keep func([]byte) bool) (bool, error) { return false, nil }

func (m *Store) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, name)
	return nil
}

func (m *Store) List() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.records))
	for name := range m.records {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func (m *Store) Describe(name string) string {
	if name == "" {
		return "memory"
	}
	return "memory:" + name
}

var _ store.Store = (*Store)(nil)
