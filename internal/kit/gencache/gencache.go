// Package gencache is a bounded in-memory cache of verifications: each
// entry lives until its own deadline, and Invalidate drops every entry at
// once by moving to a new generation. tolk uses it wherever a lookup may
// be answered from memory for a bounded time (verify_cache_ttl) but must
// be forgotten the moment this instance changes state (a logout, a
// revocation): /auth/verify's verifications and token exchange's subject
// tokens.
package gencache

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSize bounds a Cache whose Size is 0.
const DefaultSize = 100000

// Cache maps K to V. The zero value (plus TTL) is ready to use.
type Cache[K comparable, V any] struct {
	TTL  time.Duration // how long an entry may be used at most; 0 caches nothing
	Size int           // at most this many entries (default DefaultSize)
	Now  func() time.Time

	gen atomic.Uint64
	mu  sync.RWMutex
	m   map[K]entry[V]
}

type entry[V any] struct {
	v     V
	until time.Time
	gen   uint64
}

// Time is the cache's clock.
func (c *Cache[K, V]) Time() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// Gen is the current generation. Read it before the lookup whose answer
// is to be cached and give it to Put: an answer that raced with an
// Invalidate then carries the old generation and is never used.
func (c *Cache[K, V]) Gen() uint64 { return c.gen.Load() }

// Invalidate forgets every entry.
func (c *Cache[K, V]) Invalidate() { c.gen.Add(1) }

// Get returns the entry for k if it is of generation gen and now is before
// its deadline.
func (c *Cache[K, V]) Get(k K, gen uint64, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || e.gen != gen || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put stores v for k until the earlier of now+TTL and until (zero: no
// deadline of its own). When the cache is full it first drops stale
// entries, then arbitrary ones.
func (c *Cache[K, V]) Put(k K, v V, gen uint64, now, until time.Time) {
	if c.TTL <= 0 {
		return
	}
	end := now.Add(c.TTL)
	if !until.IsZero() && until.Before(end) {
		end = until
	}
	size := c.Size
	if size <= 0 {
		size = DefaultSize
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[K]entry[V])
	}
	if len(c.m) >= size {
		cur := c.gen.Load()
		for k, old := range c.m {
			if old.gen != cur || !now.Before(old.until) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < size {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[k] = entry[V]{v: v, until: end, gen: gen}
}

// Update replaces the value of k's entry if it is still of generation gen
// and live at now, keeping its deadline: a change the caller made to what
// it looked up (a last-used time) must not make the lookup live longer.
// It reports whether it replaced anything.
func (c *Cache[K, V]) Update(k K, v V, gen uint64, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || e.gen != gen || gen != c.gen.Load() || !now.Before(e.until) {
		return false
	}
	e.v = v
	c.m[k] = e
	return true
}

// Len is the number of entries held, stale ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
