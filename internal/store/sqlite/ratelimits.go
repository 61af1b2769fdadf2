package sqlite

import (
	"context"
	"database/sql"
	"errors"
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

// GetRateLimit implements store.RateLimits.
func (s *Store) GetRateLimit(ctx context.Context, key string) (time.Time, error) {
	var tat int64
	err := s.rx.QueryRowContext(ctx, `SELECT tat FROM rate_limits WHERE key = ?`, key).Scan(&tat)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, wrap("get rate limit", err)
	}
	return fromMicros(tat), nil
}

// DeleteFullRateLimits implements store.RateLimits.
func (s *Store) DeleteFullRateLimits(ctx context.Context, now time.Time) (int, error) {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM rate_limits WHERE tat <= ?`, micros(now))
	if err != nil {
		return 0, wrap("delete full rate limits", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("delete full rate limits", err)
}
