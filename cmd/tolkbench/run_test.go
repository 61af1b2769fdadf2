package main

import (
	"errors"
	"testing"

	"github.com/tolk-project/tolk/internal/loadgen"
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
