package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// ---- abuse limits (token buckets as GCRA instants) ----

// TakeRateLimit implements store.RateLimits: one INSERT … ON CONFLICT DO
// UPDATE … WHERE, so the row lock serializes concurrent takes on a key
// across every instance and each sees the previous one's instant. A
// refused take updates nothing and returns no row; the current instant is
// then read separately (it only informs Retry-After).
func (s *Store) TakeRateLimit(ctx context.Context, key string, cost, capacity time.Duration, now time.Time) (bool, time.Time, error) {
	var tat time.Time
	// Committed asynchronously (Store.limits), also when issuance waits
	// for a synchronous standby: what a database crash can
	// take back is a few spent tokens, which lets a few more requests
	// through once; waiting for a WAL flush per request, with every
	// request of a busy client queued on its one row lock, cost more than
	// the request itself.
	err := s.health.do(ctx, writeOp, func() error {
		return s.limits.QueryRow(ctx, `INSERT INTO rate_limits AS r (key, tat)
		SELECT $1, $2::timestamptz + $3::interval WHERE $2::timestamptz + $3::interval <= $4::timestamptz
		ON CONFLICT (key) DO UPDATE SET tat = greatest(r.tat, $2::timestamptz) + $3::interval
		WHERE greatest(r.tat, $2::timestamptz) + $3::interval <= $4::timestamptz
		RETURNING tat`, key, now, cost, now.Add(capacity)).Scan(&tat)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		tat, err = s.GetRateLimit(ctx, key)
		return false, tat, err
	}
	if err != nil {
		return false, time.Time{}, wrap("take rate limit", err)
	}
	return true, tat.UTC(), nil
}

// RefundRateLimit implements store.RateLimits, committed asynchronously
// like the take it gives back (a crash can only lose the refund, which
// makes the limit stricter).
func (s *Store) RefundRateLimit(ctx context.Context, key string, cost time.Duration) error {
	err := s.health.do(ctx, writeOp, func() error {
		_, err := s.limits.Exec(ctx, `UPDATE rate_limits SET tat = tat - $2::interval WHERE key = $1`, key, cost)
		return err
	})
	if err != nil {
		return wrap("refund rate limit", err)
	}
	return nil
}
