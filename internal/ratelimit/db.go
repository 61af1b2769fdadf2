package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// DB is the backend on the store's rate_limits table: every instance on
// one PostgreSQL database shares the buckets. Each take is one atomic
// statement (store.RateLimits.TakeRateLimit); full buckets are swept at
// most once per SweepEvery by whichever instance gets there.
type DB struct {
	Store      store.RateLimits
	Now        func() time.Time // time.Now when nil
	SweepEvery time.Duration    // one minute when zero

	mu        sync.Mutex
	lastSweep time.Time
}

// Limiter implements Backend.
func (d *DB) Limiter(p Policy) Limiter {
	p.validate()
	return &dbLimiter{d: d, p: p}
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

// maybeSweep deletes full buckets if the last sweep is old enough. Rows
// of full buckets equal no row, so a sweep never changes a decision.
func (d *DB) maybeSweep(ctx context.Context, now time.Time) {
	every := d.SweepEvery
	if every <= 0 {
		every = time.Minute
	}
	d.mu.Lock()
	due := now.Sub(d.lastSweep) >= every || now.Before(d.lastSweep)
	if due {
		d.lastSweep = now
	}
	d.mu.Unlock()
	if due {
		_, _ = d.Store.DeleteFullRateLimits(ctx, now) // best effort: the next sweep retries
	}
}

type dbLimiter struct {
	d *DB
	p Policy
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
	l.d.maybeSweep(ctx, now)
	ok, tat, err := l.d.Store.TakeRateLimit(ctx, fullKey(l.p, key), l.p.Interval, time.Duration(l.p.Burst)*l.p.Interval, now)
	if err != nil {
		return Decision{}, err
	}
	return decide(l.p, tat, now, ok), nil
}
