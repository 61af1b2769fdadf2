package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// runRateLimits runs the suite's part for RateLimits (GCRA token buckets).
func runRateLimits(t *testing.T, open Opener) {
	const sec = time.Second
	// A bucket of 3 tokens, one per second: capacity 3 s, cost 1 s.
	type step struct {
		after     time.Duration // clock advance before the take
		cost      time.Duration
		wantTaken bool
		wantTAT   time.Duration // after base(); 0 with wantNone
		wantNone  bool          // no row (a full bucket never touched)
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"fresh bucket takes", []step{{0, sec, true, sec, false}}},
		{"burst then refuse", []step{
			{0, sec, true, 1 * sec, false}, {0, sec, true, 2 * sec, false}, {0, sec, true, 3 * sec, false},
			{0, sec, false, 3 * sec, false},
		}},
		{"refill one token", []step{
			{0, sec, true, 1 * sec, false}, {0, sec, true, 2 * sec, false}, {0, sec, true, 3 * sec, false},
			{sec, sec, true, 4 * sec, false}, {0, sec, false, 4 * sec, false},
		}},
		{"full again after idling", []step{
			{0, sec, true, sec, false}, {time.Hour, sec, true, time.Hour + sec, false},
		}},
		{"cost above capacity never taken", []step{{0, 4 * sec, false, 0, true}}},
		{"whole capacity at once", []step{{0, 3 * sec, true, 3 * sec, false}, {0, sec, false, 3 * sec, false}}},
	}
	for _, c := range cases {
		parallel(t, "RateLimit/"+c.name, open, func(t *testing.T, ctx context.Context, s store.Store) {
			now := base()
			for i, st := range c.steps {
				now = now.Add(st.after)
				taken, tat, err := s.TakeRateLimit(ctx, "login:u:ana", st.cost, 3*sec, now)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if taken != st.wantTaken {
					t.Fatalf("step %d: taken = %v, want %v", i, taken, st.wantTaken)
				}
				want := time.Time{}
				if !st.wantNone {
					want = base().Add(st.wantTAT)
				}
				if !tat.Equal(want) || (!tat.IsZero() && tat.Location() != time.UTC) {
					t.Fatalf("step %d: tat = %v, want %v (UTC)", i, tat, want)
				}
				got, err := s.GetRateLimit(ctx, "login:u:ana")
				if err != nil || !got.Equal(tat) {
					t.Fatalf("step %d: GetRateLimit = %v, %v; want %v", i, got, err, tat)
				}
			}
		})
	}
	parallel(t, "RateLimit/keys are separate", open, func(t *testing.T, ctx context.Context, s store.Store) {
		if taken, _, err := s.TakeRateLimit(ctx, "a", time.Second, time.Second, base()); !taken || err != nil {
			t.Fatalf("a: %v %v", taken, err)
		}
		if taken, _, err := s.TakeRateLimit(ctx, "b", time.Second, time.Second, base()); !taken || err != nil {
			t.Fatalf("b: %v %v", taken, err)
		}
		if tat, err := s.GetRateLimit(ctx, "c"); !tat.IsZero() || err != nil {
			t.Fatalf("unknown key: %v %v, want zero time", tat, err)
		}
	})
	parallel(t, "RateLimit/refund gives a take back", open, func(t *testing.T, ctx context.Context, s store.Store) {
		const capacity = 3 * time.Second
		// No row: nothing to give back, and no row is made.
		if err := s.RefundRateLimit(ctx, "r", time.Second); err != nil {
			t.Fatal(err)
		}
		if tat, err := s.GetRateLimit(ctx, "r"); !tat.IsZero() || err != nil {
			t.Fatalf("refund of a full bucket: %v %v, want no row", tat, err)
		}
		for range 3 {
			if taken, _, err := s.TakeRateLimit(ctx, "r", time.Second, capacity, base()); !taken || err != nil {
				t.Fatalf("take: %v %v", taken, err)
			}
		}
		if err := s.RefundRateLimit(ctx, "r", time.Second); err != nil {
			t.Fatal(err)
		}
		if tat, _ := s.GetRateLimit(ctx, "r"); !tat.Equal(base().Add(2 * time.Second)) {
			t.Fatalf("after the refund: tat = %v, want base+2s", tat)
		}
		taken, _, err := s.TakeRateLimit(ctx, "r", time.Second, capacity, base())
		if !taken || err != nil {
			t.Fatalf("take after the refund: %v %v, want taken", taken, err)
		}
		if taken, _, _ := s.TakeRateLimit(ctx, "r", time.Second, capacity, base()); taken {
			t.Fatal("a refund gave back more than one token")
		}
	})
	parallel(t, "RateLimit/sweep full buckets", open, func(t *testing.T, ctx context.Context, s store.Store) {
		for i := range 3 {
			if _, _, err := s.TakeRateLimit(ctx, fmt.Sprint("k", i), time.Duration(i+1)*time.Minute, time.Hour, base()); err != nil {
				t.Fatal(err)
			}
		}
		// k0 is full at +1m, k1 at +2m, k2 at +3m.
		n, err := deleteExpired(ctx, s, base().Add(2*time.Minute), store.ExpiredRateLimits)
		if err != nil || n != 2 {
			t.Fatalf("DeleteExpired = %d, %v; want 2", n, err)
		}
		if tat, _ := s.GetRateLimit(ctx, "k2"); !tat.Equal(base().Add(3 * time.Minute)) {
			t.Fatalf("k2 swept or changed: %v", tat)
		}
		if tat, _ := s.GetRateLimit(ctx, "k0"); !tat.IsZero() {
			t.Fatalf("k0 not swept: %v", tat)
		}
	})
	parallel(t, "RateLimit/concurrent takes spend exactly the capacity", open, func(t *testing.T, ctx context.Context, s store.Store) {
		const capacity = 5
		var taken atomic.Int32
		var failed atomic.Value
		race(func(i int) {
			ok, _, err := s.TakeRateLimit(ctx, "hot", time.Second, capacity*time.Second, base())
			if err != nil {
				failed.Store(err)
			}
			if ok {
				taken.Add(1)
			}
		})
		if err := failed.Load(); err != nil {
			t.Fatal(err)
		}
		if taken.Load() != capacity {
			t.Fatalf("%d of %d concurrent takes succeeded, want exactly %d", taken.Load(), workers, capacity)
		}
	})
}
