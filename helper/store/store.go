// Package store declares the seam between akiflow-token's token flow
// (package helper) and where its records live (package cache, as files;
// package memstore, in memory for tests): what a store must do, and what
// it must guarantee, in terms that a file system, a keyring or memory can
// meet. Its only code is Replace, the prepare-then-commit every caller does.
package store

import (
	"context"
	"errors"
	"os"
)

// Store keeps an auth host's records: package helper's flow keeps one per
// account, and one naming the default account. Package cache keeps them
// as files; tests keep them in memory (package memstore). Its methods must be
// safe to call from several processes, and goroutines, at once.
//
// What the flow relies on, and so what a store must guarantee:
//   - a record is replaced atomically: a reader sees the old record or the
//     new one, never a mix, and a replacement that was not committed
//     leaves the old one;
//   - Prepare does everything that could keep a record from being saved
//     (space, permissions) before the work whose result it will hold is
//     done: a refresh spends the old refresh token, so it is sent only once
//     its result can be saved;
//   - a lock can be handed to a child process, which then holds it until it
//     exits, whatever becomes of the process that took it;
//   - a save interrupted between writing and replacing (a process killed)
//     can be recovered under the lock, and one under way is told from it
//     (Pending.Alone, Recover).
type Store interface {
	// Read returns the record name. Its error matches fs.ErrNotExist when
	// there is none, and has an Unsafe method that returns true when the
	// store refuses to use the one there (which must not be overwritten).
	Read(name string) ([]byte, error)
	// Prepare gets ready to replace the record name, reserving what the
	// replacement needs.
	Prepare(name string) (Pending, error)
	// Lock takes the record's exclusive lock, across processes, waiting
	// until ctx is done (then its error matches ctx.Err()).
	Lock(ctx context.Context, name string) (Lock, error)
	// Adopt takes over the lock of the record name that a parent process
	// took and handed down as f (Lock.Handle), refusing another record's;
	// the lock it returns owns f (closing it closes f).
	Adopt(name string, f *os.File) (Lock, error)
	// Recover puts back what an interrupted Commit of name left behind:
	// while the record's lock is held, it offers each leftover, newest
	// first, to keep, puts the first one kept in the record's place and
	// removes the others. It reports whether it put one in place. An open
	// Pending's replacement, under way in this process or another, is no
	// leftover: it is left alone.
	Recover(name string, keep func(data []byte) bool) (bool, error)
	// Remove deletes the record name; a missing record is not an error.
	Remove(name string) error
	// List lists the records' names, without reading them.
	List() ([]string, error)
	// Describe says where the record name lives, or with "" where the
	// store keeps them, for messages.
	Describe(name string) string
}

// Pending is a prepared replacement of one record.
type Pending interface {
	// Stage keeps data (at most the record size) where Recover finds it
	// should this process be killed before Commit, without replacing the
	// record: for work between a result's arrival and its commit that may
	// take a while (a keyring's). Commit replaces what it staged.
	Stage(data []byte) error
	// Commit replaces the record with data, atomically.
	Commit(data []byte) error
	// Discard drops the replacement unless it was committed; it may be
	// deferred.
	Discard()
	// Alone says this is the only replacement of its record under way, in
	// this process or another: an error matching ErrBusy when another
	// Pending of the record is open. A refresh asks before it is sent, so
	// that two processes that both took the record's lock (its lock file
	// removed under one of them) never both spend the refresh token; and
	// Recover leaves an open Pending's replacement alone.
	Alone() error
}

// ErrBusy is Pending.Alone's answer when another replacement of the record
// is under way.
var ErrBusy = errors.New("another akiflow-token is saving this session now")

// Lock is a held lock on one record.
type Lock interface {
	// Close lets go of the lock; a child process that inherited Handle
	// keeps holding it until it exits.
	Close() error
	// Handle is what a child process inherits to hold the lock (Adopt
	// takes it over there), or nil when the lock cannot pass to another
	// process (a store in memory).
	Handle() *os.File
}

// Replace replaces the record name in s with what content returns,
// preparing it first: content runs only once its result can be saved, and
// a failure of content leaves the record as it was.
func Replace(s Store, name string, content func() ([]byte, error)) error {
	p, err := s.Prepare(name)
	if err != nil {
		return err
	}
	defer p.Discard()
	data, err := content()
	if err != nil {
		return err
	}
	return p.Commit(data)
}
