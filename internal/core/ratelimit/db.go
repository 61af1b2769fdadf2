package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// DB is the backend on the store's rate_limits table: every instance on
// one PostgreSQL database shares the buckets. Each take is one atomic
// statement (store.RateLimits.TakeRateLimit). Full buckets, which equal no
// row, are deleted by the retention sweeper (internal/core/retention), in
// batches and off the request path.
type DB struct {
	Store store.RateLimits
	Now   func() time.Time // time.Now when nil
}

// Limiter implements Backend.
func (d *DB) Limiter(p Policy) Limiter {
	p.validate()
	return &dbLimiter{d: d, p: p, lease: leaseSize(p)}
}

// Leases. The token endpoint's per-client limit is hit on every request,
// and each hit was a write to one row that every request of that client
// waits for in turn. A policy with Lease set and a burst of at least 128
// takes several tokens per trip (a lease) while its key is busy and
// spends them locally. Leased tokens are spent in the shared bucket when
// taken, and a lease is used only while its remaining tokens could not
// yet have come back to the bucket (now + n × interval ≤ the bucket's
// instant after the lease), so the instances together never admit more
// than the burst; what an instance leaves unused is lost, which makes the
// limit slightly stricter. A key is busy when its previous trip was less
// than one interval ago (it is spending faster than the bucket refills):
// an occasional request takes one token, as without leases.
const (
	leaseDivisor = 64   // a lease is burst/leaseDivisor tokens ...
	maxLease     = 64   // ... at most this many; bursts under 128 take one at a time
	maxLeaseKeys = 4096 // bound on the keys tracked; beyond it, leases are dropped
)

func leaseSize(p Policy) int {
	if !p.Lease {
		return 1
	}
	return min(max(p.Burst/leaseDivisor, 1), maxLease)
}

type lease struct {
	n    int       // tokens left
	tat  time.Time // the bucket's instant after the last trip
	last time.Time // when the last trip was
}

// Close implements Backend; the store is closed by its owner.
func (d *DB) Close() error { return nil }

func (d *DB) now() time.Time {
	// The store keeps microseconds.
	if d.Now == nil {
		return time.Now().UTC().Truncate(time.Microsecond)
	}
	return d.Now().UTC().Truncate(time.Microsecond)
}

type dbLimiter struct {
	d     *DB
	p     Policy
	lease int // tokens per trip to the store (1: no lease)

	mu     sync.Mutex
	leases map[string]*lease
}

func (l *dbLimiter) Check(ctx context.Context, key string) (Decision, error) {
	now := l.d.now()
	tat, err := l.d.Store.GetRateLimit(ctx, fullKey(l.p, key))
	if err != nil {
		return Decision{}, err
	}
	return checkDecision(l.p, tat, now), nil
}

func (l *dbLimiter) Fail(ctx context.Context, key string) error {
	_, err := l.Hit(ctx, key)
	return err
}

func (l *dbLimiter) Hit(ctx context.Context, key string) (Decision, error) {
	now := l.d.now()
	busy := false
	if l.lease > 1 {
		var d Decision
		var ok bool
		if d, ok, busy = l.fromLease(key, now); ok {
			return d, nil
		}
	}
	capacity := time.Duration(l.p.Burst) * l.p.Interval
	if busy {
		ok, tat, err := l.d.Store.TakeRateLimit(ctx, fullKey(l.p, key), time.Duration(l.lease)*l.p.Interval, capacity, now)
		if err != nil {
			return Decision{}, err
		}
		if ok {
			l.keep(key, &lease{n: l.lease - 1, tat: tat, last: now})
			d := decide(l.p, tat, now, true)
			d.Remaining = min(d.Remaining+l.lease-1, l.p.Burst)
			return d, nil
		}
		// Not enough left for a lease: one token, as without leases,
		// unless the answer shows not even one is left.
		if tat.Sub(now)+l.p.Interval > capacity {
			return decide(l.p, tat, now, false), nil
		}
	}
	ok, tat, err := l.d.Store.TakeRateLimit(ctx, fullKey(l.p, key), l.p.Interval, capacity, now)
	if err != nil {
		return Decision{}, err
	}
	if l.lease > 1 {
		l.keep(key, &lease{tat: tat, last: now}) // remembers the trip, for busy
	}
	return decide(l.p, tat, now, ok), nil
}

// Refund implements Limiter. A refunded token goes back to the shared
// bucket, even if it came from a lease (leasing policies are request
// ceilings that nothing refunds).
func (l *dbLimiter) Refund(ctx context.Context, key string) error {
	return l.d.Store.RefundRateLimit(ctx, fullKey(l.p, key), l.p.Interval)
}

// fromLease spends a token of key's lease if it holds one that is still
// good: its remaining tokens could not yet have come back to the bucket.
// Otherwise it reports whether key is busy: its previous trip to the
// store was less than one interval ago.
func (l *dbLimiter) fromLease(key string, now time.Time) (d Decision, ok, busy bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.leases[key]
	if ls == nil {
		return Decision{}, false, false
	}
	if ls.n == 0 || now.Add(time.Duration(ls.n)*l.p.Interval).After(ls.tat) {
		return Decision{}, false, now.Sub(ls.last) < l.p.Interval
	}
	ls.n--
	d = decide(l.p, ls.tat, now, true)
	d.Remaining = min(d.Remaining+ls.n, l.p.Burst)
	return d, true, true
}

func (l *dbLimiter) keep(key string, ls *lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leases == nil || len(l.leases) >= maxLeaseKeys {
		l.leases = make(map[string]*lease)
	}
	l.leases[key] = ls
}
