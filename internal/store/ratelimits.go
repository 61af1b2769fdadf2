package store

import (
	"context"
	"time"
)

// RateLimits keeps token buckets shared by every process on the database,
// so that abuse limits hold across instances (SPEC §7). A bucket is stored
// as its theoretical arrival time (GCRA): the instant at which it will be
// full again. A bucket whose instant has passed is full, exactly like a
// bucket with no row, so such rows may be deleted at any time (Retention
// does it).
type RateLimits interface {
	// TakeRateLimit spends cost tokens of the bucket key if it holds them,
	// in one atomic statement: the bucket's instant tat becomes
	// max(tat, now) + cost, unless that is later than now + capacity, in
	// which case nothing changes. It returns whether the tokens were
	// spent and the bucket's instant after the call (zero time: no row,
	// the bucket is full). Of concurrent calls on one bucket, exactly as
	// many succeed as the bucket holds tokens.
	TakeRateLimit(ctx context.Context, key string, cost, capacity time.Duration, now time.Time) (taken bool, tat time.Time, err error)
	// RefundRateLimit gives back cost tokens that TakeRateLimit spent, in
	// one atomic statement: the bucket's instant moves back by cost (an
	// instant in the past is a full bucket). No row: nothing to give back.
	RefundRateLimit(ctx context.Context, key string, cost time.Duration) error
	// GetRateLimit returns the bucket's instant; the zero time when there
	// is no row (a full bucket).
	GetRateLimit(ctx context.Context, key string) (time.Time, error)
}
