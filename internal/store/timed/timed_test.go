package timed_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlite"
	"github.com/tolk-project/tolk/internal/store/storetest"
	"github.com/tolk-project/tolk/internal/store/timed"
)

// counts is a Recorder that counts calls and failures per method.
type counts struct {
	mu            sync.Mutex
	calls, failed map[string]int
}

func newCounts() *counts { return &counts{calls: map[string]int{}, failed: map[string]int{}} }

func (c *counts) rec(op string) func(time.Duration, bool) {
	return func(d time.Duration, failed bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls[op]++
		if failed {
			c.failed[op]++
		}
	}
}

// TestConformance: the conformance suite passes through the wrapper, so
// every generated method hands its arguments and results on unchanged,
// and the calls it makes are recorded under their methods' names.
func TestConformance(t *testing.T) {
	c := newCounts()
	// Run's subtests are parallel: they end before the cleanups.
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, op := range []string{"CreateClient", "GetClient", "CreateAccessToken", "RedeemAuthCode", "DeleteExpired", "Close"} {
			if c.calls[op] == 0 {
				t.Errorf("no call of %s recorded (recorded: %v)", op, c.calls)
			}
		}
	})
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tolk.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return timed.New(s, c.rec)
	})
}

// failing is a store whose GetClient answers err.
type failing struct {
	store.Store
	err error
}

func (f *failing) GetClient(ctx context.Context, id string) (store.Client, error) {
	return store.Client{}, f.err
}

// TestFailures: a failure of the database counts as failed; the answers
// callers expect (not found, conflict, already used, a canceled request)
// do not.
func TestFailures(t *testing.T) {
	f := &failing{}
	c := newCounts()
	s := timed.New(f, c.rec)
	for _, tc := range []struct {
		err    error
		failed bool
	}{
		{nil, false},
		{fmt.Errorf("sqlite: get client: %w", store.ErrNotFound), false},
		{store.ErrConflict, false},
		{store.ErrAlreadyUsed, false},
		{fmt.Errorf("postgres: %w", context.Canceled), false},
		{errors.New("connection refused"), true},
		{fmt.Errorf("postgres: %w", context.DeadlineExceeded), true},
	} {
		f.err = tc.err
		before := c.failed["GetClient"]
		if _, err := s.GetClient(t.Context(), "app"); err != tc.err {
			t.Errorf("GetClient returned %v, want %v unchanged", err, tc.err)
		}
		if got := c.failed["GetClient"] - before; got != map[bool]int{false: 0, true: 1}[tc.failed] {
			t.Errorf("%v: failed counted %d", tc.err, got)
		}
	}
	if c.calls["GetClient"] != 7 {
		t.Errorf("calls = %d, want 7", c.calls["GetClient"])
	}
	if s.Unwrap() != store.Store(f) {
		t.Errorf("Unwrap does not return the wrapped store")
	}
}
