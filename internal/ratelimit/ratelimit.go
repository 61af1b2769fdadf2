// Package ratelimit holds tolk's abuse limits: token buckets per key (a
// user name, a client address, a client id). Each Limiter has a Policy, a
// capacity of Burst tokens refilled at one per Interval. Failure limits
// spend a token per failure (Fail) and refuse while the bucket is empty
// (Check), so a user who signs in correctly is never slowed; request
// limits spend a token per request (Hit).
//
// Three backends share one algorithm (GCRA: a bucket is the instant at
// which it will be full again) and one conformance suite: Memory (in
// process, for a single SQLite node), DB (the store's rate_limits table,
// shared by every instance on one PostgreSQL database) and Redis (shared
// by every instance using one Redis server). See docs/limits.md.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Policy is a bucket's shape. Name keeps the buckets of different limits
// apart in a shared backend.
type Policy struct {
	Name     string
	Burst    int           // capacity in tokens (≥ 1)
	Interval time.Duration // one token comes back per Interval (> 0)
	// Lease lets the database backend take tokens in leases while a key
	// is busy (DB, leases): for a ceiling on request rates whose exact
	// remaining count nobody is shown, such as the token endpoint's per
	// client. Off for failure counters and for limits whose remaining
	// count is sent to clients (X-Rate-Limit-Remaining).
	Lease bool
}

// Decision is the state of one key's bucket after a Check or Hit.
type Decision struct {
	OK         bool          // the attempt may go ahead (Check) or was counted (Hit)
	Limit      int           // the policy's burst
	Remaining  int           // whole tokens left
	RetryAfter time.Duration // when !OK: until one token is back; at least one second
	Reset      time.Duration // until the bucket is full again
}

// Limiter is one policy's buckets. Implementations are safe for concurrent
// use; an error means the backend failed, and callers refuse the attempt
// (fail closed) rather than let unlimited guesses through.
type Limiter interface {
	// Check reports whether key may try, spending nothing.
	Check(ctx context.Context, key string) (Decision, error)
	// Fail records one failure of key: it spends a token if there is one.
	Fail(ctx context.Context, key string) error
	// Hit spends a token of key if there is one (OK) and refuses
	// otherwise: plain request counting.
	Hit(ctx context.Context, key string) (Decision, error)
}

// Backend makes the limiters of each policy.
type Backend interface {
	Limiter(p Policy) Limiter
	// Close releases the backend's connections (Redis); the limiters must
	// not be used afterwards.
	Close() error
}

// maxKeyLen bounds a key's length; longer keys (a user name of a
// mebibyte) are replaced by their hash.
const maxKeyLen = 128

// normKey bounds memory and keeps keys valid text for every backend: a
// key that is long, not UTF-8 or contains NUL is replaced by "#" and its
// hex SHA-256.
func normKey(k string) string {
	if len(k) <= maxKeyLen && utf8.ValidString(k) && !strings.ContainsRune(k, 0) {
		return k
	}
	h := sha256.Sum256([]byte(k))
	return "#" + hex.EncodeToString(h[:])
}

// fullKey is the key of policy p's bucket k in a shared backend.
func fullKey(p Policy, k string) string { return p.Name + ":" + normKey(k) }

// decide turns a bucket's instant tat (zero: full) into a Decision at now.
// ok is whether the attempt passes; for Check that is "one token left".
func decide(p Policy, tat, now time.Time, ok bool) Decision {
	capacity := time.Duration(p.Burst) * p.Interval
	if tat.Before(now) {
		tat = now
	}
	used := tat.Sub(now)    // time until full
	free := capacity - used // time worth of tokens left
	d := Decision{OK: ok, Limit: p.Burst, Reset: used}
	if free > 0 {
		d.Remaining = int(free / p.Interval)
	}
	if !ok {
		wait := p.Interval - free // until a whole token is back
		d.RetryAfter = max(wait, time.Second)
	}
	return d
}

// checkDecision is Check's answer from the bucket's instant.
func checkDecision(p Policy, tat, now time.Time) Decision {
	capacity := time.Duration(p.Burst) * p.Interval
	if tat.Before(now) {
		tat = now
	}
	return decide(p, tat, now, tat.Sub(now)+p.Interval <= capacity)
}

// validate panics on a policy that cannot work: it is a programming or
// configuration error that config.Validate already rules out.
func (p Policy) validate() {
	if p.Burst < 1 || p.Interval <= 0 || p.Name == "" {
		panic(fmt.Sprintf("ratelimit: invalid policy %+v", p))
	}
}
