package main

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/loadgen"
)

// TestWindowStalled: one of several windows that completed nothing counts
// as a stalled window (zero requests in the merged rate) instead of
// ending the run; alone, or any other error, it ends the run.
func TestWindowStalled(t *testing.T) {
	other := errors.New("bare handler down")
	for _, tc := range []struct {
		err             error
		rounds          int
		stalled, failed bool
	}{
		{nil, 12, false, false},
		{loadgen.ErrNoneCompleted, 12, true, false},
		{loadgen.ErrNoneCompleted, 1, false, true},
		{other, 12, false, true},
	} {
		stalled, err := windowStalled(tc.err, tc.rounds)
		if stalled != tc.stalled || (err != nil) != tc.failed {
			t.Errorf("windowStalled(%v, %d) = %v, %v; want stalled %v, failed %v", tc.err, tc.rounds, stalled, err, tc.stalled, tc.failed)
		}
	}
}

// TestRunInCleansUpAfterAFailure: a run that fails still removes what it
// made (here SQLite's temporary directory; a -pg database the same way,
// by the same defer): it used to exit before its defers ran.
func TestRunInCleansUpAfterAFailure(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	// A nanosecond: the bare handler's one window completes nothing.
	err := runIn(options{conns: 1, dur: time.Nanosecond, rounds: 1}, "")
	if !errors.Is(err, loadgen.ErrNoneCompleted) {
		t.Fatalf("a run of a nanosecond: %v, want loadgen.ErrNoneCompleted", err)
	}
	left, _ := os.ReadDir(tmp)
	if len(left) != 0 {
		t.Errorf("left behind after a failed run: %v", left)
	}
}
