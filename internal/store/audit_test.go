package store_test

import (
	"slices"
	"testing"

	"github.com/tolk-project/tolk/internal/store"
)

func TestBatchSizes(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []int
	}{
		{0, nil}, {1, []int{1}}, {3, []int{2, 1}}, {64, []int{64}}, {65, []int{64, 1}},
		{200, []int{64, 64, 64, 8}}, {127, []int{64, 32, 16, 8, 4, 2, 1}},
	} {
		if got := store.BatchSizes(c.n, 64); !slices.Equal(got, c.want) {
			t.Errorf("BatchSizes(%d, 64) = %v, want %v", c.n, got, c.want)
		}
	}
}
