package postgres

import (
	"context"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- platform API tokens (store.PlatformTokens) ----

const platformTokenColumns = `id, user_uid, name, hash, last_eight, created_at, last_used_at, expires_at`

// platformTokenScan receives platformTokenColumns (dests) and decodes them
// (token), so that a join can scan a token and other columns in one row.
type platformTokenScan struct {
	t                 store.PlatformToken
	lastUsed, expires *time.Time
}

func (s *platformTokenScan) dests() []any {
	return []any{&s.t.ID, &s.t.UserUID, &s.t.Name, &s.t.Hash, &s.t.LastEight, &s.t.CreatedAt, &s.lastUsed, &s.expires}
}

func (s *platformTokenScan) token() store.PlatformToken {
	t := s.t
	t.CreatedAt = t.CreatedAt.UTC()
	t.LastUsedAt, t.ExpiresAt = fromNullTime(s.lastUsed), fromNullTime(s.expires)
	return t
}

func scanPlatformToken(r row) (store.PlatformToken, error) {
	var s platformTokenScan
	if err := r.Scan(s.dests()...); err != nil {
		return store.PlatformToken{}, err
	}
	return s.token(), nil
}

// CreatePlatformToken implements store.PlatformTokens.
func (s *Store) CreatePlatformToken(ctx context.Context, t store.PlatformToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO platform_tokens (`+platformTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.ID, t.UserUID, t.Name, t.Hash, t.LastEight, t.CreatedAt, nullTime(t.LastUsedAt), nullTime(t.ExpiresAt))
	return wrap("create platform token", err)
}

// getPlatformTokenAndUser is built once: the exchange runs it on every
// request.
var getPlatformTokenAndUser = store.WithUser("platform_tokens", platformTokenColumns, userColumns, "hash", "$1")

// GetPlatformTokenAndUser implements store.PlatformTokens in one query.
func (s *Store) GetPlatformTokenAndUser(ctx context.Context, hash string) (store.PlatformToken, store.User, error) {
	return s.platformTokenWithUser(ctx, getPlatformTokenAndUser, hash)
}

// platformTokenWithUser runs q, a store.WithUser query of platform_tokens
// by key.
func (s *Store) platformTokenWithUser(ctx context.Context, q, key string) (store.PlatformToken, store.User, error) {
	var ts platformTokenScan
	u, err := s.getWithUser(ctx, q, key, ts.dests())
	if err != nil {
		return store.PlatformToken{}, store.User{}, wrap("get platform token and user", err)
	}
	return ts.token(), u, nil
}

// GetPlatformTokenByHash implements store.PlatformTokens.
func (s *Store) GetPlatformTokenByHash(ctx context.Context, hash string) (store.PlatformToken, error) {
	t, err := scanPlatformToken(s.pool.QueryRow(ctx,
		`SELECT `+platformTokenColumns+` FROM platform_tokens WHERE hash = $1`, hash))
	return t, wrap("get platform token", err)
}

// getPlatformTokenByIDAndUser is built once: JWT verification runs it on
// every request.
var getPlatformTokenByIDAndUser = store.WithUser("platform_tokens", platformTokenColumns, userColumns, "id", "$1")

// GetPlatformTokenByIDAndUser implements store.PlatformTokens in one query.
func (s *Store) GetPlatformTokenByIDAndUser(ctx context.Context, id string) (store.PlatformToken, store.User, error) {
	return s.platformTokenWithUser(ctx, getPlatformTokenByIDAndUser, id)
}

// GetPlatformToken implements store.PlatformTokens: a primary-key read.
func (s *Store) GetPlatformToken(ctx context.Context, id string) (store.PlatformToken, error) {
	t, err := scanPlatformToken(s.pool.QueryRow(ctx,
		`SELECT `+platformTokenColumns+` FROM platform_tokens WHERE id = $1`, id))
	return t, wrap("get platform token", err)
}

// ListPlatformTokens implements store.PlatformTokens. Tokens created in the
// same microsecond are ordered by ID, bytewise as in SQLite.
func (s *Store) ListPlatformTokens(ctx context.Context, userUID string) ([]store.PlatformToken, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+platformTokenColumns+` FROM platform_tokens WHERE user_uid = $1 ORDER BY created_at, id COLLATE "C"`, userUID)
	if err != nil {
		return nil, wrap("list platform tokens", err)
	}
	defer rows.Close()
	var ts []store.PlatformToken
	for rows.Next() {
		t, err := scanPlatformToken(rows)
		if err != nil {
			return nil, wrap("list platform tokens", err)
		}
		ts = append(ts, t)
	}
	return ts, wrap("list platform tokens", rows.Err())
}

// DeletePlatformToken implements store.PlatformTokens: one DELETE keyed by
// user and id; row locking lets only the first of concurrent calls delete
// the row.
func (s *Store) DeletePlatformToken(ctx context.Context, userUID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM platform_tokens WHERE id = $1 AND user_uid = $2`, id, userUID)
	if err != nil {
		return wrap("delete platform token", err)
	}
	return wrap("delete platform token", oneRow(tag))
}

// TouchPlatformToken implements store.PlatformTokens with one conditional
// UPDATE.
func (s *Store) TouchPlatformToken(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE platform_tokens SET last_used_at = $1
		WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)`, at, id, at.Add(-every))
	if err != nil {
		return false, wrap("touch platform token", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteExpiredPlatformTokens implements store.PlatformTokens with one
// DELETE.
func (s *Store) DeleteExpiredPlatformTokens(ctx context.Context, t time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM platform_tokens WHERE expires_at < $1`, t)
	if err != nil {
		return 0, wrap("delete expired platform tokens", err)
	}
	return int(tag.RowsAffected()), nil
}
