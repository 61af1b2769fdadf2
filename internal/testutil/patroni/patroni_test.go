package patroni_test

import (
	"testing"

	"github.com/tolk-project/tolk/internal/testutil/patroni"
)

// TestFailover checks the harness itself: a cluster starts with a primary
// and a synchronous standby, and killing the primary's postmaster makes
// the other node the primary.
func TestFailover(t *testing.T) {
	c := patroni.Start(t)
	old := c.WaitPrimary(t, -1)
	if got := c.KillPrimaryPostmaster(t); got != old {
		t.Fatalf("killed node %d, primary was %d", got, old)
	}
	if p := c.WaitPrimary(t, old); p == old {
		t.Fatalf("node %d is still the primary", p)
	}
}
