// Package ratelimit holds tolk's abuse limits: token buckets per key (a
// user name, a client address, a client id). Each Limiter has a Policy, a
// capacity of Burst tokens refilled at one per Interval. Failure limits
// in front of a guessable credential reserve a token before the
// credential is checked and give it back when it was right (Reservation),
// so that concurrent guesses can never be more than the tokens left and a
// user who signs in correctly is never slowed; failure limits behind an
// unguessable one spend a token per failure (Fail) and refuse while the
// bucket is empty (Check); request limits spend a token per request (Hit).
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
	// otherwise: plain request counting, and the take of a Reservation.
	Hit(ctx context.Context, key string) (Decision, error)
	// Refund gives back one token that Hit spent, in one atomic step,
	// never filling the bucket beyond its burst: the attempt it was
	// reserved for turned out not to be a failure.
	Refund(ctx context.Context, key string) error
}

// Reservation holds tokens taken from failure buckets before a guessable
// credential (a password, a second-factor code) is checked. Checking the
// bucket first and spending after the check failed let every attempt in
// flight pass while one token was left; a backend's take is atomic, so
// with the token taken first at most the burst of attempts is ever
// evaluated, on every instance together. A failed attempt keeps its
// tokens (they are its failure); any other outcome gives them back
// (Release). The zero value holds nothing; it is not safe for concurrent
// use.
type Reservation struct {
	held []held
}

type held struct {
	l   Limiter
	key string
}

// Take takes one token of key in l and holds it. When the bucket is
// empty nothing is taken and the Decision says so (OK false, with
// RetryAfter); the caller then usually releases what it holds and
// refuses the attempt. Taking a key already held takes nothing more.
func (r *Reservation) Take(ctx context.Context, l Limiter, key string) (Decision, error) {
	for _, h := range r.held {
		if h.l == l && h.key == key {
			return Decision{OK: true}, nil
		}
	}
	d, err := l.Hit(ctx, key)
	if err == nil && d.OK {
		r.held = append(r.held, held{l, key})
	}
	return d, err
}

// Release gives back every token held. It runs even when ctx is done (a
// client that hangs up after a right password must not cost its user a
// token); an error of the backend only loses the token, which makes the
// limit stricter, so Release reports the first error for logging and
// gives back the rest.
func (r *Reservation) Release(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	var first error
	for _, h := range r.held {
		if err := h.l.Refund(ctx, h.key); err != nil && first == nil {
			first = err
		}
	}
	r.held = nil
	return first
}

// Keep forgets the tokens held: the attempt failed, and they stay spent.
func (r *Reservation) Keep() { r.held = nil }

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
