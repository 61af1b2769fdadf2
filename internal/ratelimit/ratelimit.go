// Package ratelimit throttles failures per key (a user, a client address):
// each key has a bucket of Burst failures refilled at one per Interval.
// While a bucket is empty, Check refuses and says how long to wait. Only
// failures spend tokens, so a user who signs in correctly is never slowed.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failures is an in-process failure limiter. It is safe for concurrent use.
type Failures struct {
	burst    int
	interval time.Duration
	now      func() time.Time
	maxKeys  int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// NewFailures returns a limiter. now is the clock (time.Now in production).
func NewFailures(burst int, interval time.Duration, now func() time.Time) *Failures {
	return &Failures{burst: burst, interval: interval, now: now, maxKeys: 100_000, buckets: map[string]*rate.Limiter{}}
}

// Check reports whether key may try again; if not, retryAfter is the time
// until one more failure is allowed (at least one second, as Retry-After
// counts whole seconds).
func (f *Failures) Check(key string) (ok bool, retryAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.buckets[key]
	if l == nil {
		return true, 0
	}
	now := f.now()
	if l.TokensAt(now) >= 1 {
		return true, 0
	}
	missing := 1 - l.TokensAt(now)
	wait := time.Duration(math.Ceil(missing * float64(f.interval)))
	if wait < time.Second {
		wait = time.Second
	}
	return false, wait
}

// Fail records one failure for key.
func (f *Failures) Fail(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	l := f.buckets[key]
	if l == nil {
		if len(f.buckets) >= f.maxKeys {
			f.sweep(now)
		}
		l = rate.NewLimiter(rate.Every(f.interval), f.burst)
		f.buckets[key] = l
	}
	l.AllowN(now, 1)
}

// sweep forgets buckets that have refilled completely: they are
// indistinguishable from no bucket. This bounds memory under a spray of
// distinct keys.
func (f *Failures) sweep(now time.Time) {
	for k, l := range f.buckets {
		if l.TokensAt(now) >= float64(f.burst) {
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
