package revocation_test

import (
	"testing"

	"github.com/tolk-project/tolk/internal/core/revocation"
)

type counter int

func (c *counter) Invalidate() { *c++ }

// TestRevokedEmptiesEveryCache: Revoked reaches every cache once, and a
// nil Notifier does nothing.
func TestRevokedEmptiesEveryCache(t *testing.T) {
	var a, b counter
	revocation.New(&a, &b).Revoked()
	if a != 1 || b != 1 {
		t.Errorf("invalidations %d, %d; want 1, 1", a, b)
	}
	var none *revocation.Notifier
	none.Revoked()
}
