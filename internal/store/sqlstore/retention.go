package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// expiredDelete is one kind's batched delete: it picks at most limit keys
// through the table's expiry index and deletes those rows, so that a
// statement's work and locks stay bounded however large the backlog.
// Its arguments are `before` (befores times), then the limit.
type expiredDelete struct {
	q       Query
	befores int
}

func pick(table, key, past string) expiredDelete {
	return expiredDelete{q: Q(`DELETE FROM ` + table + ` WHERE ` + key + ` IN (SELECT ` + key + ` FROM ` + table +
		` WHERE ` + past + ` LIMIT ?)`), befores: 1}
}

var expiredDeletes = map[store.Expired]expiredDelete{
	store.ExpiredAuthCodes:          pick("auth_codes", "hash", "expires_at < ?"),
	store.ExpiredAccessTokens:       pick("access_tokens", "hash", "expires_at < ?"),
	store.ExpiredAPITokens:          pick("api_tokens", "hash", "expires_at < ?"),
	store.ExpiredWebSessions:        pick("web_sessions", "hash", "expires_at < ?"),
	store.ExpiredPendingLogins:      pick("pending_logins", "hash", "expires_at < ?"),
	store.ExpiredPlatformTokens:     pick("platform_tokens", "id", "expires_at < ?"),
	store.ExpiredRateLimits:         pick("rate_limits", "key", "tat <= ?"),
	store.ExpiredAuditEvents:        pick("audit_events", "id", "time < ?"),
	store.ExpiredPasswordResets:     pick("password_resets", "hash", "expires_at < ?"),
	store.ExpiredAccessTokenCutoffs: pick("access_token_cutoffs", "key", "expires_at < ?"),
	// An expired refresh token goes once no token of its family is live
	// (unused and unexpired): reuse detection needs a rotated token while
	// its family lives. Rows without an expiry never match expires_at < ?.
	store.ExpiredRefreshTokens: {q: Q(`DELETE FROM refresh_tokens WHERE hash IN (
		SELECT r.hash FROM refresh_tokens r
		WHERE r.expires_at < ? AND NOT EXISTS (
			SELECT 1 FROM refresh_tokens l
			WHERE l.grant_id = r.grant_id AND l.used_at IS NULL AND (l.expires_at IS NULL OR l.expires_at >= ?))
		LIMIT ?)`), befores: 2},
}

// ExpiredQuery is kind's batched delete, for the engines' plan tests; its
// arguments are `before` (once, twice for refresh tokens), then the limit.
func ExpiredQuery(kind store.Expired) Query { return expiredDeletes[kind].q }

// DeleteExpired implements store.Retention.
func (s *Store) DeleteExpired(ctx context.Context, kind store.Expired, before time.Time, limit int) (int, error) {
	d, ok := expiredDeletes[kind]
	if !ok {
		return 0, fmt.Errorf("%s: delete expired: unknown kind %q", s.name, kind)
	}
	if limit < 1 {
		return 0, fmt.Errorf("%s: delete expired %s: limit %d, want at least 1", s.name, kind, limit)
	}
	args := make([]any, 0, d.befores+1)
	for range d.befores {
		args = append(args, s.db.Time(before))
	}
	n, err := s.db.Sweep(ctx, d.q, append(args, limit)...)
	return int(n), s.Wrap("delete expired "+string(kind), err)
}

// A lease is taken by inserting its row, or by updating the row when it
// is the holder's own or has run out: one statement, so that of
// concurrent takers one wins and the others find its row (PostgreSQL's
// ON CONFLICT waits for the winner's commit, then reads its row).
var (
	takeLeaseSQL = Q(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`)
	releaseLeaseSQL = Q(`DELETE FROM leases WHERE name = ? AND holder = ?`)
)

// TakeLease implements store.Leases.
func (s *Store) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	n, err := s.db.Exec(ctx, takeLeaseSQL, name, holder, s.db.Time(until), s.db.Time(now))
	return n == 1, s.Wrap("take lease", err)
}

// ReleaseLease implements store.Leases.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.Exec(ctx, releaseLeaseSQL, name, holder)
	return s.Wrap("release lease", err)
}
