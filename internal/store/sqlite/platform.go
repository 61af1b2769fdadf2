package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- platform API tokens (store.PlatformTokens) ----

const platformTokenColumns = `id, user_uid, name, hash, last_eight, created_at, last_used_at, expires_at`

// platformTokenScan receives platformTokenColumns (dests) and decodes them
// (token), so that a join can scan a token and other columns in one row.
type platformTokenScan struct {
	t                 store.PlatformToken
	created           int64
	lastUsed, expires sql.NullInt64
}

func (s *platformTokenScan) dests() []any {
	return []any{&s.t.ID, &s.t.UserUID, &s.t.Name, &s.t.Hash, &s.t.LastEight, &s.created, &s.lastUsed, &s.expires}
}

func (s *platformTokenScan) token() store.PlatformToken {
	t := s.t
	t.CreatedAt = fromMicros(s.created)
	t.LastUsedAt, t.ExpiresAt = fromNullMicros(s.lastUsed), fromNullMicros(s.expires)
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
	_, err := s.wx.ExecContext(ctx, `INSERT INTO platform_tokens (`+platformTokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.UserUID, t.Name, t.Hash, t.LastEight,
		micros(t.CreatedAt), nullMicros(t.LastUsedAt), nullMicros(t.ExpiresAt))
	return wrap("create platform token", err)
}

// GetPlatformTokenByHash implements store.PlatformTokens.
func (s *Store) GetPlatformTokenByHash(ctx context.Context, hash string) (store.PlatformToken, error) {
	t, err := scanPlatformToken(s.rx.QueryRowContext(ctx,
		`SELECT `+platformTokenColumns+` FROM platform_tokens WHERE hash = ?`, hash))
	return t, wrap("get platform token", err)
}

// getPlatformTokenAndUser is built once: the exchange runs it on every
// request.
var getPlatformTokenAndUser = store.WithUser("platform_tokens", platformTokenColumns, userColumns, "hash", "?")

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

// getPlatformTokenByIDAndUser is built once: JWT verification runs it on
// every request.
var getPlatformTokenByIDAndUser = store.WithUser("platform_tokens", platformTokenColumns, userColumns, "id", "?")

// GetPlatformTokenByIDAndUser implements store.PlatformTokens in one query.
func (s *Store) GetPlatformTokenByIDAndUser(ctx context.Context, id string) (store.PlatformToken, store.User, error) {
	return s.platformTokenWithUser(ctx, getPlatformTokenByIDAndUser, id)
}

// GetPlatformToken implements store.PlatformTokens: a primary-key read on
// the read pool, which sees every committed revocation.
func (s *Store) GetPlatformToken(ctx context.Context, id string) (store.PlatformToken, error) {
	t, err := scanPlatformToken(s.rx.QueryRowContext(ctx,
		`SELECT `+platformTokenColumns+` FROM platform_tokens WHERE id = ?`, id))
	return t, wrap("get platform token", err)
}

// ListPlatformTokens implements store.PlatformTokens. Tokens created in the
// same microsecond are ordered by ID.
func (s *Store) ListPlatformTokens(ctx context.Context, userUID string) ([]store.PlatformToken, error) {
	rows, err := s.rx.QueryContext(ctx,
		`SELECT `+platformTokenColumns+` FROM platform_tokens WHERE user_uid = ? ORDER BY created_at, id`, userUID)
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

// DeletePlatformToken implements store.PlatformTokens. One DELETE, keyed by
// user and id; on the single writer only the first of concurrent calls
// finds the row.
func (s *Store) DeletePlatformToken(ctx context.Context, userUID, id string) error {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM platform_tokens WHERE id = ? AND user_uid = ?`, id, userUID)
	if err != nil {
		return wrap("delete platform token", err)
	}
	return wrap("delete platform token", oneRow(res))
}

// TouchPlatformToken implements store.PlatformTokens with one conditional
// UPDATE.
func (s *Store) TouchPlatformToken(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	res, err := s.wx.ExecContext(ctx, `UPDATE platform_tokens SET last_used_at = ?
		WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`,
		micros(at), id, micros(at.Add(-every)))
	if err != nil {
		return false, wrap("touch platform token", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("touch platform token", err)
}

// DeleteExpiredPlatformTokens implements store.PlatformTokens with one
// DELETE.
func (s *Store) DeleteExpiredPlatformTokens(ctx context.Context, t time.Time) (int, error) {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM platform_tokens WHERE expires_at < ?`, micros(t))
	if err != nil {
		return 0, wrap("delete expired platform tokens", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("delete expired platform tokens", err)
}
