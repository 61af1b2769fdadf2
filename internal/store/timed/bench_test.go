package timed_test

import (
	"context"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/metrics"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/timed"
)

// instant answers GetClient at once, so that the benchmark measures what
// the wrapper adds to a call: two clock reads and an observation.
type instant struct{ store.Store }

func (instant) GetClient(ctx context.Context, id string) (store.Client, error) {
	return store.Client{}, nil
}

// BenchmarkWrapper: a store call bare and through the wrapper with tolk's
// real metrics.
//
//	go test -run '^$' -bench Wrapper -count 5 ./internal/store/timed/
func BenchmarkWrapper(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		st   store.Store
	}{
		{"bare", instant{}},
		{"timed", timed.New(instant{}, metrics.New().StoreOperation)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = bc.st.GetClient(ctx, "app")
			}
		})
	}
}
