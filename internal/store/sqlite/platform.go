package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- platform API tokens (store.PlatformTokens) ----

const platformTokenColumns = `id, user_uid, name, hash, last_eight, created_at, last_used_at, expires_at`

func scanPlatformToken(r row) (store.PlatformToken, error) {
	var (
		t                 store.PlatformToken
		created           int64
		lastUsed, expires sql.NullInt64
	)
	if err := r.Scan(&t.ID, &t.UserUID, &t.Name, &t.Hash, &t.LastEight, &created, &lastUsed, &expires); err != nil {
		return store.PlatformToken{}, err
	}
	t.CreatedAt = fromMicros(created)
	t.LastUsedAt, t.ExpiresAt = fromNullMicros(lastUsed), fromNullMicros(expires)
	return t, nil
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
// user and id; the foreign key cascades to platform_exchanges in the same
// statement, and on the single writer only the first of concurrent calls
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

// CreateExchangedToken implements store.PlatformTokens. The INSERT … SELECT
// … WHERE EXISTS is one statement, so the existence check and the insert
// cannot be split by a concurrent revocation.
func (s *Store) CreateExchangedToken(ctx context.Context, e store.ExchangedToken) error {
	var scopes sql.NullString
	if len(e.Scopes) > 0 {
		v, err := strList(e.Scopes)
		if err != nil {
			return wrap("create exchanged token", err)
		}
		scopes = sql.NullString{String: v, Valid: true}
	}
	auds, err := strList(e.Audiences)
	if err != nil {
		return wrap("create exchanged token", err)
	}
	res, err := s.ix.ExecContext(ctx, `INSERT INTO platform_exchanges
			(jti_hash, token_id, user_uid, org_uid, scopes, audiences, created_at, expires_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?
		WHERE EXISTS (SELECT 1 FROM platform_tokens WHERE id = ?)`,
		e.JTIHash, e.TokenID, e.UserUID, e.OrgUID, scopes, auds, micros(e.CreatedAt), micros(e.ExpiresAt), e.TokenID)
	if err != nil {
		return wrap("create exchanged token", err)
	}
	return wrap("create exchanged token", oneRow(res))
}

// GetExchangedToken implements store.PlatformTokens.
func (s *Store) GetExchangedToken(ctx context.Context, jtiHash string) (store.ExchangedToken, error) {
	var (
		e                store.ExchangedToken
		scopes           sql.NullString
		auds             string
		created, expires int64
	)
	err := s.rx.QueryRowContext(ctx, `SELECT jti_hash, token_id, user_uid, org_uid, scopes, audiences, created_at, expires_at
		FROM platform_exchanges WHERE jti_hash = ?`, jtiHash).Scan(
		&e.JTIHash, &e.TokenID, &e.UserUID, &e.OrgUID, &scopes, &auds, &created, &expires)
	if err == nil && scopes.Valid {
		e.Scopes, err = parseStrList(scopes.String)
	}
	if err == nil {
		e.Audiences, err = parseStrList(auds)
	}
	if err != nil {
		return store.ExchangedToken{}, wrap("get exchanged token", err)
	}
	e.CreatedAt, e.ExpiresAt = fromMicros(created), fromMicros(expires)
	return e, nil
}

// DeleteExpiredPlatformTokens implements store.PlatformTokens in one
// transaction.
func (s *Store) DeleteExpiredPlatformTokens(ctx context.Context, t time.Time) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Exchanged records first, so the cascade's rows are counted too.
		res, err := tx.ExecContext(ctx, `DELETE FROM platform_exchanges WHERE expires_at < ?
			OR token_id IN (SELECT id FROM platform_tokens WHERE expires_at < ?)`, micros(t), micros(t))
		if err != nil {
			return err
		}
		a, err := res.RowsAffected()
		if err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM platform_tokens WHERE expires_at < ?`, micros(t))
		if err != nil {
			return err
		}
		b, err := res.RowsAffected()
		n = a + b
		return err
	})
	return int(n), wrap("delete expired platform tokens", err)
}
