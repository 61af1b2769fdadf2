package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process backend: limits hold for one process only,
// which is right for a single node on SQLite.
type Memory struct {
	Now func() time.Time // time.Now when nil
}

// Limiter implements Backend.
func (m Memory) Limiter(p Policy) Limiter {
	now := m.Now
	if now == nil {
		now = time.Now
	}
	return NewFailures(p.Burst, p.Interval, now)
}

// Close implements Backend.
func (Memory) Close() error { return nil }

// Failures is an in-process Limiter. It is safe for concurrent use.
type Failures struct {
	p       Policy
	now     func() time.Time
	maxKeys int

	mu      sync.Mutex
	buckets map[string]time.Time // key → instant the bucket is full again
}

// NewFailures returns an in-process limiter of burst tokens, refilled at
// one per interval. now is the clock (time.Now in production).
func NewFailures(burst int, interval time.Duration, now func() time.Time) *Failures {
	p := Policy{Name: "memory", Burst: burst, Interval: interval}
	p.validate()
	return &Failures{p: p, now: now, maxKeys: 100_000, buckets: map[string]time.Time{}}
}

// Check implements Limiter.
func (f *Failures) Check(_ context.Context, key string) (Decision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return checkDecision(f.p, f.buckets[normKey(key)], f.now()), nil
}

// Fail implements Limiter.
func (f *Failures) Fail(_ context.Context, key string) error {
	f.take(key)
	return nil
}

// Hit implements Limiter.
func (f *Failures) Hit(_ context.Context, key string) (Decision, error) {
	tat, now, ok := f.take(key)
	return decide(f.p, tat, now, ok), nil
}

// Refund implements Limiter.
func (f *Failures) Refund(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	key = normKey(key)
	tat, ok := f.buckets[key]
	if !ok {
		return nil // full (or swept, which is the same)
	}
	if tat = tat.Add(-f.p.Interval); tat.After(f.now()) {
		f.buckets[key] = tat
	} else {
		delete(f.buckets, key)
	}
	return nil
}

func (f *Failures) take(key string) (tat, now time.Time, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, now = normKey(key), f.now()
	tat = f.buckets[key]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(f.p.Interval)
	if next.Sub(now) > time.Duration(f.p.Burst)*f.p.Interval {
		return tat, now, false
	}
	if _, known := f.buckets[key]; !known && len(f.buckets) >= f.maxKeys {
		f.sweep(now)
	}
	f.buckets[key] = next
	return next, now, true
}

// sweep forgets buckets that have refilled completely: they are
// indistinguishable from no bucket. This bounds memory under a spray of
// distinct keys.
func (f *Failures) sweep(now time.Time) {
	for k, tat := range f.buckets {
		if !tat.After(now) {
			delete(f.buckets, k)
		}
	}
}

// Len is the number of keys tracked (for tests and metrics).
func (f *Failures) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.buckets)
}
