// Package storetest is a conformance suite for store.Store: Run checks, on
// any implementation, what package store says a store must do and
// guarantee, and what the token flow (package helper) relies on. Each
// implementation runs it in its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() },
//			storetest.Options{MaxRecord: 64 << 10})
//	}
//
// What one process cannot see (a lock held by another process, a save
// recovered after a kill, the space Prepare reserves) is left to each
// implementation's own tests. No check here measures a duration: a wait is
// bounded only so that a hang fails instead of stalling, and the short
// pauses only give a misbehaving store the chance to show it.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"akiflow-token/helper/store"
)

// DefaultMaxRecord is the record size the suite uses when Options.MaxRecord
// is 0.
const DefaultMaxRecord = 4 << 10

// Options says how the store under test legitimately differs from others.
type Options struct {
	// MaxRecord is the largest record the store keeps (its record size):
	// records of every size from empty up to it must come back as they
	// were committed. 0 means DefaultMaxRecord.
	MaxRecord int
	// Handles says the store's locks pass to another process: Lock.Handle
	// returns a file, and Adopt takes over the lock it is handed down as
	// (a file shared with the holder, as a child inherits it). Without
	// Handles, Handle must be nil (the flow then refreshes in its own
	// process) and Adopt refuses everything.
	Handles bool
}

// patience bounds every wait of the suite: only a store that hangs (a lock
// never released, a deadlock) reaches it.
const patience = 30 * time.Second

// pause is how long the suite lets a goroutine get on before it looks at
// what the goroutine did: a store that misbehaves is likely to show it in
// that time; one that behaves passes however long the pause.
const pause = 20 * time.Millisecond

// Run runs the suite on the stores newStore returns. It calls newStore once
// in each subtest, with the subtest's t, for a new empty store (one that
// shares no record and no lock with any other); newStore may use t to
// isolate it (t.TempDir, t.Setenv) and to clean up. The subtests run one
// after the other.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts Options) {
	t.Helper()
	if opts.MaxRecord == 0 {
		opts.MaxRecord = DefaultMaxRecord
	}
	if opts.MaxRecord < 0 {
		t.Fatalf("storetest: Options.MaxRecord is %d", opts.MaxRecord)
	}
	s := &suite{newStore: newStore, opts: opts}
	for _, c := range []struct {
		name string
		test func(*testing.T)
	}{
		{"ReadMissing", s.readMissing},
		{"CommitReplaces", s.commitReplaces},
		{"CommitOfEverySize", s.commitOfEverySize},
		{"PrepareOfANewRecord", s.prepareOfANewRecord},
		{"DiscardLeavesTheRecord", s.discardLeavesTheRecord},
		{"StageReplacesNothing", s.stageReplacesNothing},
		{"AloneSeesAnotherPending", s.aloneSeesAnotherPending},
		{"RecoverLeavesAnOpenPendingAlone", s.recoverLeavesAnOpenPending},
		{"TwoPreparesLastCommitWins", s.twoPreparesLastCommitWins},
		{"NamesKeepTheirRecords", s.namesKeepTheirRecords},
		{"ReadersSeeWholeRecords", s.readersSeeWholeRecords},
		{"ConcurrentWriters", s.concurrentWriters},
		{"LockIsExclusive", s.lockIsExclusive},
		{"SecondLockWaitsForClose", s.secondLockWaitsForClose},
		{"LockHonoursContext", s.lockHonoursContext},
		{"LocksOfDifferentRecordsAreIndependent", s.locksOfDifferentRecords},
		{"LockOutlivesReplaceAndRemove", s.lockOutlivesReplaceAndRemove},
		{"Remove", s.remove},
		{"List", s.list},
		{"Describe", s.describe},
		{"RecoverWithNothingLeft", s.recoverWithNothingLeft},
		{"AdoptRefusesForeignFiles", s.adoptRefusesForeignFiles},
		{"Handle", s.handle},
		{"AdoptTakesOverAHeldLock", s.adoptTakesOverAHeldLock},
	} {
		t.Run(c.name, c.test)
	}
}

type suite struct {
	newStore func(t *testing.T) store.Store
	opts     Options
}

// store returns a new store for the subtest t.
func (s *suite) store(t *testing.T) store.Store {
	t.Helper()
	st := s.newStore(t)
	if st == nil {
		t.Fatal("newStore returned nil")
	}
	return st
}

// The names of the records the flow keeps: an account's (its key, an
// email in lower case), the default account's, and a login's lock.
const (
	account = "a@b.c"
	other   = "x@y.z"
	current = "current"
	login   = account + ".login"
)

// bounded runs f, failing the test if it has not returned within patience.
func bounded(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatalf("%s has not returned after %s", what, patience)
	}
}

// waitFor waits for an error from ch, failing the test if none comes
// within patience.
func waitFor(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(patience):
		t.Fatalf("%s has not returned after %s", what, patience)
		return nil
	}
}

// ctx is a context for a Lock that should be had: done only after
// patience.
func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}

// mustLock takes the lock of name, which must be had.
func mustLock(t *testing.T, st store.Store, name string) store.Lock {
	t.Helper()
	var l store.Lock
	var err error
	bounded(t, "Lock("+name+")", func() { l, err = st.Lock(ctx(t), name) })
	if err != nil {
		t.Fatalf("Lock(%q): %v", name, err)
	}
	if l == nil {
		t.Fatalf("Lock(%q) returned no lock and no error", name)
	}
	return l
}

// closeLock closes l, which must go without error.
func closeLock(t *testing.T, l store.Lock, what string) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Errorf("Close of %s: %v", what, err)
	}
}

// isHeld says whether another Lock of name is refused, with a context that
// is already done: the lock of name is held. A Lock that succeeds is let
// go.
func isHeld(t *testing.T, st store.Store, name string) bool {
	t.Helper()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var l store.Lock
	var err error
	bounded(t, "Lock with a cancelled context", func() { l, err = st.Lock(done, name) })
	if err == nil {
		closeLock(t, l, "a lock taken with a cancelled context")
		return false
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Lock(%q) of a held lock with a cancelled context: %v; want an error matching %v", name, err, context.Canceled)
	}
	return true
}

// write replaces the record name with data, as the flow does: Prepare,
// Commit, and a deferred Discard.
func write(t *testing.T, st store.Store, name string, data []byte) {
	t.Helper()
	p := prepare(t, st, name)
	defer p.Discard()
	if err := p.Commit(data); err != nil {
		t.Fatalf("Commit of %s (%d bytes): %v", name, len(data), err)
	}
}

// prepare prepares a replacement of name, which must succeed.
func prepare(t *testing.T, st store.Store, name string) store.Pending {
	t.Helper()
	p, err := st.Prepare(name)
	if err != nil {
		t.Fatalf("Prepare(%q): %v", name, err)
	}
	if p == nil {
		t.Fatalf("Prepare(%q) returned no replacement and no error", name)
	}
	return p
}

// commit commits data to p, which must succeed.
func commit(t *testing.T, p store.Pending, name string, data []byte) {
	t.Helper()
	if err := p.Commit(data); err != nil {
		t.Fatalf("Commit of %s (%d bytes): %v", name, len(data), err)
	}
}

// wantRecord fails unless the record name is want.
func wantRecord(t *testing.T, st store.Store, name string, want []byte, when string) {
	t.Helper()
	got, err := st.Read(name)
	switch {
	case err != nil:
		t.Errorf("%s: Read(%q): %v; want %s", when, name, err, show(want))
	case !bytes.Equal(got, want):
		t.Errorf("%s: Read(%q) = %s; want %s", when, name, show(got), show(want))
	}
}

// wantMissing fails unless there is no record name, and the error says so
// as the flow expects: matching fs.ErrNotExist, and not one the store
// refuses (Unsafe).
func wantMissing(t *testing.T, st store.Store, name string, when string) {
	t.Helper()
	got, err := st.Read(name)
	switch {
	case err == nil:
		t.Errorf("%s: Read(%q) = %s; want an error matching fs.ErrNotExist", when, name, show(got))
	case !errors.Is(err, fs.ErrNotExist):
		t.Errorf("%s: Read(%q): %v; want an error matching fs.ErrNotExist", when, name, err)
	case unsafe(err):
		t.Errorf("%s: Read(%q): %v has an Unsafe method that returns true: the flow would refuse to write the record", when, name, err)
	}
}

// unsafe says err is a store's refusal to use a record, as the flow tells.
func unsafe(err error) bool {
	var u interface{ Unsafe() bool }
	return errors.As(err, &u) && u.Unsafe()
}

// wantList fails unless List returns the names want, in any order.
func wantList(t *testing.T, st store.Store, when string, want ...string) {
	t.Helper()
	got, err := st.List()
	if err != nil {
		t.Errorf("%s: List: %v", when, err)
		return
	}
	got = slices.Clone(got)
	want = slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: List = %q; want %q", when, got, want)
	}
}

// show describes a record for a message: short ones in full.
func show(data []byte) string {
	if len(data) <= 64 {
		return fmt.Sprintf("%q", data)
	}
	return fmt.Sprintf("%d bytes starting %q", len(data), data[:32])
}

// filled is a record of n bytes: every byte value in turn, from seed, so
// that a record cut short, padded, or mixed with another is told apart,
// and zeros occur (the last byte too, when n allows).
func filled(n int, seed byte) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = seed + byte(i)
	}
	if n > 1 {
		data[n-1] = 0
	}
	return data
}

func (s *suite) readMissing(t *testing.T) {
	st := s.store(t)
	wantMissing(t, st, account, "in a new store")
	write(t, st, other, []byte("other"))
	wantMissing(t, st, account, "beside another record")
	write(t, st, account, []byte("one"))
	if err := st.Remove(account); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	wantMissing(t, st, account, "after Remove")
}

func (s *suite) commitReplaces(t *testing.T) {
	st := s.store(t)
	old, fresh := []byte(`{"generation":1}`), []byte(`{"generation":2,"longer":true}`)
	write(t, st, account, old)
	p := prepare(t, st, account)
	defer p.Discard()
	wantRecord(t, st, account, old, "between Prepare and Commit")
	wantList(t, st, "between Prepare and Commit", account)
	commit(t, p, account, fresh)
	wantRecord(t, st, account, fresh, "after Commit")
	wantList(t, st, "after Commit", account)
	// A shorter record after a longer one: nothing of the longer stays.
	write(t, st, account, old)
	wantRecord(t, st, account, old, "after a shorter Commit")
}

func (s *suite) commitOfEverySize(t *testing.T) {
	st := s.store(t)
	max := s.opts.MaxRecord
	sizes := []int{0, 1, 2, 3, max, 0, max, 1, max / 2, max - 1, 0}
	for i, n := range sizes {
		if n < 0 || n > max {
			continue
		}
		data := filled(n, byte(i*31+1))
		write(t, st, account, data)
		wantRecord(t, st, account, data, fmt.Sprintf("after a Commit of %d bytes (the %d-th)", n, i+1))
	}
	wantList(t, st, "after the Commits", account)
}

func (s *suite) prepareOfANewRecord(t *testing.T) {
	st := s.store(t)
	p := prepare(t, st, account)
	defer p.Discard()
	wantMissing(t, st, account, "between Prepare and Commit of a new record")
	wantList(t, st, "between Prepare and Commit of a new record")
	commit(t, p, account, []byte("new"))
	wantRecord(t, st, account, []byte("new"), "after Commit")
	wantList(t, st, "after Commit", account)
}

// stageReplacesNothing: what Stage keeps is not the record; Commit
// replaces it, longer or shorter; Discard drops it.
func (s *suite) stageReplacesNothing(t *testing.T) {
	st := s.store(t)
	write(t, st, account, []byte("old"))
	p := prepare(t, st, account)
	for _, data := range []string{"a longer staged record", "short"} {
		if err := p.Stage([]byte(data)); err != nil {
			t.Fatalf("Stage: %v", err)
		}
		wantRecord(t, st, account, []byte("old"), "after a Stage")
	}
	commit(t, p, account, []byte("new"))
	wantRecord(t, st, account, []byte("new"), "after Stage then Commit")
	p = prepare(t, st, account)
	if err := p.Stage([]byte("dropped")); err != nil {
		t.Fatalf("Stage: %v", err)
	}
	p.Discard()
	wantRecord(t, st, account, []byte("new"), "after Stage then Discard")
}

// Alone sees another open Pending of the record (ErrBusy), whoever opened
// it, and none once it is committed or discarded; another record's does
// not count.
func (s *suite) aloneSeesAnotherPending(t *testing.T) {
	st := s.store(t)
	first := prepare(t, st, account)
	if err := first.Alone(); err != nil {
		t.Fatalf("Alone of the only Pending: %v", err)
	}
	others := prepare(t, st, other)
	defer others.Discard()
	if err := first.Alone(); err != nil {
		t.Errorf("Alone beside another record's Pending: %v", err)
	}
	second := prepare(t, st, account)
	for what, p := range map[string]store.Pending{"the first": first, "the second": second} {
		if err := p.Alone(); !errors.Is(err, store.ErrBusy) {
			t.Errorf("Alone of %s of two Pendings: %v, want ErrBusy", what, err)
		}
	}
	commit(t, first, account, []byte("first"))
	first.Discard()
	if err := second.Alone(); err != nil {
		t.Errorf("Alone after the other Pending committed: %v", err)
	}
	third := prepare(t, st, account)
	third.Discard()
	if err := second.Alone(); err != nil {
		t.Errorf("Alone after the other Pending was discarded: %v", err)
	}
	commit(t, second, account, []byte("second"))
	wantRecord(t, st, account, []byte("second"), "after the second Commit")
}

// Recover leaves the replacement of an open Pending alone, staged or not:
// it is under way, not left behind, and its Commit still works.
func (s *suite) recoverLeavesAnOpenPending(t *testing.T) {
	st := s.store(t)
	write(t, st, account, []byte("old"))
	p := prepare(t, st, account)
	defer p.Discard()
	if err := p.Stage([]byte("staged")); err != nil {
		t.Fatalf("Stage: %v", err)
	}
	moved, err := st.Recover(account, func([]byte) bool { return true })
	if moved || err != nil {
		t.Errorf("Recover beside an open Pending: moved %v, %v; want nothing moved", moved, err)
	}
	wantRecord(t, st, account, []byte("old"), "after Recover")
	commit(t, p, account, []byte("new"))
	wantRecord(t, st, account, []byte("new"), "after the Pending's Commit")
}

func (s *suite) discardLeavesTheRecord(t *testing.T) {
	st := s.store(t)

	// Without a record: still none.
	p := prepare(t, st, account)
	p.Discard()
	wantMissing(t, st, account, "after a Discard of a new record")
	wantList(t, st, "after a Discard of a new record")

	// With one: as it was.
	write(t, st, account, []byte("old"))
	p = prepare(t, st, account)
	p.Discard()
	wantRecord(t, st, account, []byte("old"), "after a Discard")

	// Discard after Commit (a deferred Discard): the committed record stays.
	p = prepare(t, st, account)
	commit(t, p, account, []byte("new"))
	p.Discard()
	wantRecord(t, st, account, []byte("new"), "after Commit then Discard")
	wantList(t, st, "after Commit then Discard", account)

	// And the record can be replaced again afterwards.
	write(t, st, account, []byte("newer"))
	wantRecord(t, st, account, []byte("newer"), "after a Commit following a Discard")
}

func (s *suite) twoPreparesLastCommitWins(t *testing.T) {
	st := s.store(t)
	write(t, st, account, []byte("old"))

	p1, p2 := prepare(t, st, account), prepare(t, st, account)
	commit(t, p1, account, []byte("first"))
	wantRecord(t, st, account, []byte("first"), "after the first Commit")
	commit(t, p2, account, []byte("second"))
	wantRecord(t, st, account, []byte("second"), "after the second Commit")
	p1.Discard()
	p2.Discard()
	wantRecord(t, st, account, []byte("second"), "after both Discards")

	// Committed in the other order than prepared: the last committed stays.
	p1, p2 = prepare(t, st, account), prepare(t, st, account)
	commit(t, p2, account, []byte("third, prepared last"))
	commit(t, p1, account, []byte("fourth, prepared first"))
	p2.Discard()
	p1.Discard()
	wantRecord(t, st, account, []byte("fourth, prepared first"), "after Commits in the other order")

	// One committed, the other discarded, whichever comes first.
	p1, p2 = prepare(t, st, account), prepare(t, st, account)
	p1.Discard()
	commit(t, p2, account, []byte("fifth"))
	p2.Discard()
	wantRecord(t, st, account, []byte("fifth"), "after a Discard and a Commit")
	wantList(t, st, "after them all", account)
}

// names are names of records the store must keep apart and list as they
// are: the flow's (emails, "current", a login's lock) and some that a file
// system would not take as they are.
var names = []string{
	account, current, login, "first.last+tag@sub.example.com",
	"127.0.0.1:8080", ".dot", "..", "with space", "slash/and\\back",
	"percent%41", "%", "é@exemple.fr", "x.json", "x.lock", "x.json1", "x",
}

func (s *suite) namesKeepTheirRecords(t *testing.T) {
	st := s.store(t)
	for _, name := range names {
		write(t, st, name, []byte("record of "+name))
	}
	for _, name := range names {
		wantRecord(t, st, name, []byte("record of "+name), "after writing every record")
	}
	wantList(t, st, "after writing every record", names...)
	for i, name := range names {
		if err := st.Remove(name); err != nil {
			t.Errorf("Remove(%q): %v", name, err)
		}
		wantMissing(t, st, name, "after its Remove")
		for _, kept := range names[i+1:] {
			wantRecord(t, st, kept, []byte("record of "+kept), fmt.Sprintf("after Remove(%q)", name))
		}
		wantList(t, st, fmt.Sprintf("after Remove(%q)", name), names[i+1:]...)
	}
}

// version is the i-th of the records that readersSeeWholeRecords commits:
// its length and every byte tell which it is, so that a mix of two, or one
// cut short, is seen.
func (s *suite) version(i int) []byte {
	const kinds = 26
	k := i % kinds
	n := 1 + k*(s.opts.MaxRecord-1)/(kinds-1) // from 1 byte to the record size
	return bytes.Repeat([]byte{'a' + byte(k)}, n)
}

func (s *suite) wholeVersion(data []byte) bool {
	return len(data) > 0 && bytes.Equal(data, s.version(int(data[0]-'a')))
}

func (s *suite) readersSeeWholeRecords(t *testing.T) {
	const commits, readers = 40, 4
	st := s.store(t)
	write(t, st, account, s.version(0))
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			for !stop.Load() {
				data, err := st.Read(account)
				reads.Add(1)
				if err != nil {
					t.Errorf("Read during Commits: %v; want the old record or the new", err)
					return
				}
				if !s.wholeVersion(data) {
					t.Errorf("Read during Commits = %s: neither the old record nor the new", show(data))
					return
				}
			}
		})
	}
	bounded(t, "the Commits", func() {
		defer func() { stop.Store(true); wg.Wait() }()
		for i := 1; i <= commits; i++ {
			p, err := st.Prepare(account)
			if err != nil {
				t.Errorf("Prepare: %v", err)
				return
			}
			err = p.Commit(s.version(i))
			p.Discard()
			if err != nil {
				t.Errorf("Commit: %v", err)
				return
			}
		}
	})
	wantRecord(t, st, account, s.version(commits), "after the Commits")
	t.Logf("%d reads during %d commits", reads.Load(), commits)
}

func (s *suite) concurrentWriters(t *testing.T) {
	const writers, rounds = 6, 8
	st := s.store(t)
	own := func(w int) string { return fmt.Sprintf("w%d@b.c", w) }
	value := func(w, r int) []byte { return fmt.Appendf(nil, "writer %d round %d", w, r) }
	var wg sync.WaitGroup
	bounded(t, "the writers", func() {
		for w := range writers {
			wg.Go(func() {
				for r := range rounds {
					for _, name := range []string{own(w), account} {
						p, err := st.Prepare(name)
						if err != nil {
							t.Errorf("Prepare(%q): %v", name, err)
							return
						}
						err = p.Commit(value(w, r))
						p.Discard()
						if err != nil {
							t.Errorf("Commit of %s: %v", name, err)
							return
						}
					}
					if got, err := st.Read(own(w)); err != nil || !bytes.Equal(got, value(w, r)) {
						t.Errorf("Read(%q) = %s, %v; want %s, its writer's last", own(w), show(got), err, show(value(w, r)))
					}
					if _, err := st.List(); err != nil {
						t.Errorf("List: %v", err)
					}
				}
			})
		}
		wg.Wait()
	})
	want := []string{account}
	for w := range writers {
		want = append(want, own(w))
		wantRecord(t, st, own(w), value(w, rounds-1), "after the writers")
	}
	wantList(t, st, "after the writers", want...)
	got, err := st.Read(account)
	if err != nil {
		t.Fatalf("Read of the shared record: %v", err)
	}
	for w := range writers {
		if bytes.Equal(got, value(w, rounds-1)) {
			return
		}
	}
	t.Errorf("the shared record is %s: not the last of any writer's", show(got))
}

func (s *suite) lockIsExclusive(t *testing.T) {
	const lockers, rounds = 8, 5
	st := s.store(t)
	var inside atomic.Int32
	var wg sync.WaitGroup
	wait := ctx(t)
	bounded(t, "the lockers", func() {
		for range lockers {
			wg.Go(func() {
				for range rounds {
					l, err := st.Lock(wait, account)
					if err != nil {
						t.Errorf("Lock: %v", err)
						return
					}
					if n := inside.Add(1); n != 1 {
						t.Errorf("%d goroutines hold the lock of %s at once", n, account)
					}
					time.Sleep(time.Millisecond) // room for another to get in, were the lock not exclusive
					inside.Add(-1)
					if err := l.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				}
			})
		}
		wg.Wait()
	})
	closeLock(t, mustLock(t, st, account), "the lock after the lockers")
}

func (s *suite) secondLockWaitsForClose(t *testing.T) {
	st := s.store(t)
	first := mustLock(t, st, account)
	var released atomic.Bool
	done := make(chan error, 1)
	wait := ctx(t)
	go func() {
		second, err := st.Lock(wait, account)
		if err == nil {
			if !released.Load() {
				t.Error("the second Lock returned while the first lock was held")
			}
			err = second.Close()
		}
		done <- err
	}()
	time.Sleep(pause)
	select {
	case err := <-done:
		t.Fatalf("the second Lock returned (%v) while the first lock was held", err)
	default:
	}
	released.Store(true)
	closeLock(t, first, "the first lock")
	if err := waitFor(t, "the second Lock, once the first was closed,", done); err != nil {
		t.Errorf("the second Lock, once the first was closed: %v", err)
	}
}

func (s *suite) lockHonoursContext(t *testing.T) {
	st := s.store(t)
	held := mustLock(t, st, account)

	try := func(what string, c context.Context, cancel func()) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			l, err := st.Lock(c, account)
			if err == nil {
				l.Close()
				err = errors.New("it took the lock")
			}
			done <- err
		}()
		if cancel != nil {
			time.Sleep(pause) // let it wait, then cancel it
			cancel()
		}
		err := waitFor(t, "a Lock "+what, done)
		if c.Err() == nil || !errors.Is(err, c.Err()) {
			t.Errorf("Lock of a held lock %s: %v; want an error matching %v", what, err, c.Err())
		}
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	try("with a context cancelled before", cancelled, nil)

	waiting, cancel := context.WithCancel(context.Background())
	defer cancel()
	try("whose context is cancelled while it waits", waiting, cancel)

	timed, cancel := context.WithTimeout(context.Background(), pause)
	defer cancel()
	try("whose context times out", timed, nil)

	// The Locks that gave up left the lock as it was: held, then free.
	if !isHeld(t, st, account) {
		t.Error("the lock was free after Locks that gave up, while still held")
	}
	closeLock(t, held, "the held lock")
	closeLock(t, mustLock(t, st, account), "the lock after the held one was closed")
}

func (s *suite) locksOfDifferentRecords(t *testing.T) {
	st := s.store(t)
	a := mustLock(t, st, account)
	// Each with a context that would let it wait: none must.
	b := mustLock(t, st, other)
	c := mustLock(t, st, login) // the flow's login lock beside its account's
	d := mustLock(t, st, current)
	for _, name := range []string{account, other, login, current} {
		if !isHeld(t, st, name) {
			t.Errorf("the lock of %s was free while held", name)
		}
	}
	closeLock(t, a, "the lock of "+account)
	if !isHeld(t, st, other) || !isHeld(t, st, login) {
		t.Error("closing one lock let go of another record's")
	}
	a = mustLock(t, st, account)
	for _, l := range []store.Lock{a, b, c, d} {
		closeLock(t, l, "a lock")
	}
}

func (s *suite) lockOutlivesReplaceAndRemove(t *testing.T) {
	st := s.store(t)
	write(t, st, account, []byte("old"))
	l := mustLock(t, st, account)
	// What the flow does under the lock: recover, read, replace, remove.
	// None of it waits for the lock, nor lets go of it.
	bounded(t, "the record's methods under its lock", func() {
		if _, err := st.Recover(account, func([]byte) bool { return false }); err != nil {
			t.Errorf("Recover under the lock: %v", err)
		}
		wantRecord(t, st, account, []byte("old"), "under the lock")
		write(t, st, account, []byte("new"))
		wantRecord(t, st, account, []byte("new"), "after a Commit under the lock")
	})
	if !isHeld(t, st, account) {
		t.Error("a Commit let go of the record's lock")
	}
	bounded(t, "Remove under the lock", func() {
		if err := st.Remove(account); err != nil {
			t.Errorf("Remove under the lock: %v", err)
		}
	})
	wantMissing(t, st, account, "after a Remove under the lock")
	if !isHeld(t, st, account) {
		t.Error("a Remove let go of the record's lock")
	}
	wantList(t, st, "after a Remove under the lock")
	closeLock(t, l, "the lock")
	closeLock(t, mustLock(t, st, account), "the lock after it was closed")
}

func (s *suite) remove(t *testing.T) {
	st := s.store(t)
	if err := st.Remove(account); err != nil {
		t.Errorf("Remove of a record in a new store: %v", err)
	}
	write(t, st, account, []byte("a"))
	write(t, st, other, []byte("x"))
	if err := st.Remove(account); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	wantMissing(t, st, account, "after Remove")
	wantRecord(t, st, other, []byte("x"), "after Remove of another record")
	if err := st.Remove(account); err != nil {
		t.Errorf("Remove of a removed record: %v", err)
	}
	if err := st.Remove("never@b.c"); err != nil {
		t.Errorf("Remove of a record never written: %v", err)
	}
	write(t, st, account, []byte("again"))
	wantRecord(t, st, account, []byte("again"), "after a Commit following Remove")
}

func (s *suite) list(t *testing.T) {
	st := s.store(t)
	wantList(t, st, "in a new store")

	write(t, st, account, []byte("a"))
	write(t, st, current, []byte(account+"\n"))
	// Locks, one of a record that exists and some of records that do not
	// (the flow's login lock), a replacement under way and one discarded:
	// none is a record.
	locks := []store.Lock{mustLock(t, st, account), mustLock(t, st, login), mustLock(t, st, other)}
	pending := prepare(t, st, "pending@b.c")
	defer pending.Discard()
	prepare(t, st, "discarded@b.c").Discard()
	p := prepare(t, st, account)
	defer p.Discard()
	wantList(t, st, "with locks and replacements under way", account, current)
	for _, l := range locks {
		closeLock(t, l, "a lock")
	}
	wantList(t, st, "after the locks were closed", account, current)

	commit(t, pending, "pending@b.c", []byte("p"))
	commit(t, p, account, []byte("a2"))
	wantList(t, st, "after Commits", account, current, "pending@b.c")

	if err := st.Remove(account); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	wantList(t, st, "after Remove", current, "pending@b.c")
	for _, name := range []string{current, "pending@b.c"} {
		if err := st.Remove(name); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	wantList(t, st, "after every record was removed")
}

func (s *suite) describe(t *testing.T) {
	st := s.store(t)
	where := st.Describe("")
	if where == "" {
		t.Error(`Describe("") is empty`)
	}
	seen := map[string]string{}
	for _, name := range names {
		d := st.Describe(name)
		switch {
		case d == "":
			t.Errorf("Describe(%q) is empty", name)
		case d == where:
			t.Errorf("Describe(%q) = %q, as Describe(\"\") (the store)", name, d)
		case seen[d] != "":
			t.Errorf("Describe(%q) = Describe(%q) = %q", name, seen[d], d)
		}
		seen[d] = name
	}
	write(t, st, account, []byte("a"))
	if d := st.Describe(account); d == "" {
		t.Errorf("Describe(%q) of a record that exists is empty", account)
	}
	wantList(t, st, "after Describe", account) // Describe makes no record
}

func (s *suite) recoverWithNothingLeft(t *testing.T) {
	st := s.store(t)
	keep := func(data []byte) bool {
		t.Errorf("Recover offered %s, with nothing left behind", show(data))
		return false
	}
	l := mustLock(t, st, account)
	defer closeLock(t, l, "the lock")
	bounded(t, "Recover", func() {
		if moved, err := st.Recover(account, keep); moved || err != nil {
			t.Errorf("Recover in a new store = %v, %v; want false, nil", moved, err)
		}
	})
	wantMissing(t, st, account, "after Recover in a new store")

	write(t, st, account, []byte("old"))
	prepare(t, st, account).Discard()
	p := prepare(t, st, account)
	commit(t, p, account, []byte("new"))
	p.Discard()
	bounded(t, "Recover", func() {
		if moved, err := st.Recover(account, keep); moved || err != nil {
			t.Errorf("Recover after Commits and Discards = %v, %v; want false, nil", moved, err)
		}
	})
	wantRecord(t, st, account, []byte("new"), "after Recover")
	wantList(t, st, "after Recover", account)
}

// panicError is adopt's error when Adopt panicked.
type panicError struct{ value any }

func (e panicError) Error() string { return fmt.Sprintf("Adopt panicked: %v", e.value) }

// adopt calls Adopt, turning a panic into a panicError.
func adopt(st store.Store, name string, f *os.File) (l store.Lock, err error) {
	defer func() {
		if p := recover(); p != nil {
			l, err = nil, panicError{p}
		}
	}()
	return st.Adopt(name, f)
}

// wantRefused fails unless Adopt(name, f) returns an error, without
// panicking. A lock it returns is let go.
func wantRefused(t *testing.T, st store.Store, name string, f *os.File, what string) {
	t.Helper()
	var l store.Lock
	var err error
	bounded(t, fmt.Sprintf("Adopt(%q, %s)", name, what), func() { l, err = adopt(st, name, f) })
	switch {
	case errors.As(err, new(panicError)):
		t.Errorf("Adopt(%q, %s): %v; want an error", name, what, err)
	case err == nil:
		t.Errorf("Adopt(%q, %s) took it; want it refused", name, what)
		if l != nil {
			l.Close()
		}
	}
}

func (s *suite) adoptRefusesForeignFiles(t *testing.T) {
	st := s.store(t)
	foreign, err := os.Create(filepath.Join(t.TempDir(), "foreign.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	closed, err := os.Create(filepath.Join(t.TempDir(), "closed.lock"))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()

	check := func(when string) {
		t.Helper()
		wantRefused(t, st, account, nil, "nil, "+when)
		wantRefused(t, st, account, foreign, "a file not the store's, "+when)
		wantRefused(t, st, account, closed, "a closed file, "+when)
	}
	check("in a new store")
	write(t, st, account, []byte("a"))
	l := mustLock(t, st, account)
	check("while this process holds the lock")
	closeLock(t, l, "the lock")
	check("once the lock was closed")
	closeLock(t, mustLock(t, st, account), "the lock after the Adopts")
}

func (s *suite) handle(t *testing.T) {
	st := s.store(t)
	l := mustLock(t, st, account)
	defer closeLock(t, l, "the lock")
	f := l.Handle()
	switch {
	case s.opts.Handles && f == nil:
		t.Error("Handle is nil, for a store whose locks pass to another process (Options.Handles)")
	case !s.opts.Handles && f != nil:
		t.Errorf("Handle is %s, for a store whose locks cannot pass to another process: want nil, which tells the flow to refresh in its own process", f.Name())
	}
}

func (s *suite) adoptTakesOverAHeldLock(t *testing.T) {
	if !s.opts.Handles {
		t.Skip("the store's locks do not pass to another process (Options.Handles)")
	}
	st := s.store(t)
	held := mustLock(t, st, account)
	otherLock := mustLock(t, st, other)
	defer closeLock(t, otherLock, "the other record's lock")
	if held.Handle() == nil || otherLock.Handle() == nil {
		t.Fatal("Handle is nil")
	}
	// What a child inherits: another descriptor of the same open file.
	inherited := func(l store.Lock) *os.File {
		t.Helper()
		f, err := inherit(l.Handle())
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skip("handing a lock down is not supported here")
		}
		if err != nil {
			t.Fatalf("duplicating the handle: %v", err)
		}
		t.Cleanup(func() { f.Close() }) // a second Close is an error, ignored
		return f
	}

	// Refused, a handle stays its holder's: closed here, as the child that
	// refused it would close it, so that it holds nothing afterwards.
	for _, c := range []struct {
		name string
		from store.Lock
		what string
	}{{other, held, account}, {account, otherLock, other}} {
		f := inherited(c.from)
		wantRefused(t, st, c.name, f, fmt.Sprintf("the handle of %s's lock", c.what))
		f.Close()
	}

	var adopted store.Lock
	var err error
	bounded(t, "Adopt", func() { adopted, err = adopt(st, account, inherited(held)) })
	if err != nil {
		t.Fatalf("Adopt of the handle of a lock this process holds: %v", err)
	}
	if adopted.Handle() == nil {
		t.Error("the adopted lock's Handle is nil: it cannot be handed down further")
	}
	// Whatever becomes of the lock that was handed down, the adopted one
	// holds on until it is closed.
	closeLock(t, held, "the lock that was handed down")
	if !isHeld(t, st, account) {
		t.Error("the lock was free once the lock that was handed down was closed, while adopted")
	}
	closeLock(t, adopted, "the adopted lock")
	closeLock(t, mustLock(t, st, account), "the lock after the adopted one was closed")
}
