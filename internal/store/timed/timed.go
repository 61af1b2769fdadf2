// Package timed wraps a store.Store so that every call of one of its
// methods is timed and its failure counted, for the operator's metrics
// (tolk_store_operation_duration_seconds and tolk_store_errors_total,
// docs/operations.md): the one place that sees every store call of both
// engines, batched or not, without a line in either.
//
// The methods are generated from store.Store (store_gen.go); after a
// change to the interface run
//
//	go test ./internal/store/timed/ -run TestGenerated -update
//
// TestGenerated fails until then. A method missing from store_gen.go is
// still served, through the embedded store, only untimed.
package timed

import (
	"context"
	"errors"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// Recorder makes the recorder of the store method named op; the recorder
// takes the duration of each call and whether it failed.
type Recorder func(op string) func(d time.Duration, failed bool)

// Store is a store.Store whose calls are timed.
type Store struct {
	store.Store
	rec [numOperations]func(time.Duration, bool)
}

// New wraps st; rec makes one recorder per method.
func New(st store.Store, rec Recorder) *Store {
	s := &Store{Store: st}
	for i, op := range operations {
		s.rec[i] = rec(op)
	}
	return s
}

// Unwrap returns the store wrapped, for an optional interface of an
// engine (store.Backupper) that the wrapper does not pass on.
func (s *Store) Unwrap() store.Store { return s.Store }

// done records a call of operation op that started at start.
func (s *Store) done(op int, start time.Time, err error) {
	s.rec[op](time.Since(start), failed(err))
}

// failed tells a failure of the database from an answer: not found,
// conflict and already used are outcomes the callers expect, and a
// request whose client went away is no fault of the store.
func failed(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, store.ErrNotFound),
		errors.Is(err, store.ErrConflict),
		errors.Is(err, store.ErrAlreadyUsed),
		errors.Is(err, context.Canceled):
		return false
	}
	return true
}
