package sqlite

import (
	"context"
	"time"
)

// ---- abuse limits (token buckets as GCRA instants) ----

// TakeRateLimit implements store.RateLimits: one upsert whose WHERE
// refuses an update past the capacity, so on the single writer connection
// the decision and the write are one atomic step; RowsAffected tells
// whether the tokens were spent.
func (s *Store) TakeRateLimit(ctx context.Context, key string, cost, capacity time.Duration, now time.Time) (bool, time.Time, error) {
	n, c, limit := micros(now), cost.Microseconds(), micros(now.Add(capacity))
	res, err := s.wx.ExecContext(ctx, `INSERT INTO rate_limits (key, tat)
		SELECT ?1, ?2 + ?3 WHERE ?2 + ?3 <= ?4
		ON CONFLICT (key) DO UPDATE SET tat = max(rate_limits.tat, ?2) + ?3
		WHERE max(rate_limits.tat, ?2) + ?3 <= ?4`, key, n, c, limit)
	if err != nil {
		return false, time.Time{}, wrap("take rate limit", err)
	}
	affected, err := res.RowsAffected()
	if err != nil {
		return false, time.Time{}, wrap("take rate limit", err)
	}
	tat, err := s.GetRateLimit(ctx, key)
	return affected == 1, tat, err
}

// RefundRateLimit implements store.RateLimits.
func (s *Store) RefundRateLimit(ctx context.Context, key string, cost time.Duration) error {
	_, err := s.wx.ExecContext(ctx, `UPDATE rate_limits SET tat = tat - ? WHERE key = ?`, cost.Microseconds(), key)
	return wrap("refund rate limit", err)
}
