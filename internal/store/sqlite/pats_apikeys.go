package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- personal access tokens ----

const patColumns = `id, user_uid, note, scopes, hash, last_eight, expires_at, created_at, updated_at, last_used_at`

func scanPAT(r row) (store.PersonalAccessToken, error) {
	var (
		t                 store.PersonalAccessToken
		scopes            string
		expires, lastUsed sql.NullInt64
		created, updated  int64
	)
	if err := r.Scan(&t.ID, &t.UserUID, &t.Note, &scopes, &t.Hash, &t.LastEight,
		&expires, &created, &updated, &lastUsed); err != nil {
		return store.PersonalAccessToken{}, err
	}
	var err error
	if t.Scopes, err = parseStrList(scopes); err != nil {
		return store.PersonalAccessToken{}, err
	}
	t.ExpiresAt, t.LastUsedAt = fromNullMicros(expires), fromNullMicros(lastUsed)
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return t, nil
}

// CreatePAT implements store.PersonalAccessTokens.
func (s *Store) CreatePAT(ctx context.Context, t store.PersonalAccessToken) error {
	scopes, err := strList(t.Scopes)
	if err != nil {
		return wrap("create pat", err)
	}
	_, err = s.wx.ExecContext(ctx, `INSERT INTO personal_access_tokens (`+patColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.UserUID, t.Note, scopes, t.Hash, t.LastEight,
		nullMicros(t.ExpiresAt), micros(t.CreatedAt), micros(t.UpdatedAt), nullMicros(t.LastUsedAt))
	return wrap("create pat", err)
}

// GetPAT implements store.PersonalAccessTokens.
func (s *Store) GetPAT(ctx context.Context, id string) (store.PersonalAccessToken, error) {
	t, err := scanPAT(s.rx.QueryRowContext(ctx,
		`SELECT `+patColumns+` FROM personal_access_tokens WHERE id = ?`, id))
	return t, wrap("get pat", err)
}

// GetPATByHash implements store.PersonalAccessTokens.
func (s *Store) GetPATByHash(ctx context.Context, hash string) (store.PersonalAccessToken, error) {
	t, err := scanPAT(s.rx.QueryRowContext(ctx,
		`SELECT `+patColumns+` FROM personal_access_tokens WHERE hash = ?`, hash))
	return t, wrap("get pat by hash", err)
}

// ListPATs implements store.PersonalAccessTokens. The page and the count
// are two reads, not one snapshot: a concurrent create or delete may make
// them disagree by one, as any paginated listing may.
func (s *Store) ListPATs(ctx context.Context, userUID string, offset, limit int) ([]store.PersonalAccessToken, int, error) {
	var total int
	if err := s.rx.QueryRowContext(ctx,
		`SELECT count(*) FROM personal_access_tokens WHERE user_uid = ?`, userUID).Scan(&total); err != nil {
		return nil, 0, wrap("list pats", err)
	}
	rows, err := s.rx.QueryContext(ctx, `SELECT `+patColumns+` FROM personal_access_tokens
		WHERE user_uid = ? ORDER BY created_at, id LIMIT ? OFFSET ?`, userUID, max(limit, 0), max(offset, 0))
	if err != nil {
		return nil, 0, wrap("list pats", err)
	}
	defer rows.Close()
	var ts []store.PersonalAccessToken
	for rows.Next() {
		t, err := scanPAT(rows)
		if err != nil {
			return nil, 0, wrap("list pats", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, wrap("list pats", err)
	}
	return ts, total, nil
}

// UpdatePAT implements store.PersonalAccessTokens.
func (s *Store) UpdatePAT(ctx context.Context, t store.PersonalAccessToken) error {
	scopes, err := strList(t.Scopes)
	if err != nil {
		return wrap("update pat", err)
	}
	res, err := s.wx.ExecContext(ctx, `UPDATE personal_access_tokens
		SET note = ?, scopes = ?, expires_at = ?, updated_at = ?
		WHERE id = ? AND user_uid = ?`,
		t.Note, scopes, nullMicros(t.ExpiresAt), micros(t.UpdatedAt), t.ID, t.UserUID)
	if err != nil {
		return wrap("update pat", err)
	}
	return wrap("update pat", oneRow(res))
}

// DeletePAT implements store.PersonalAccessTokens.
func (s *Store) DeletePAT(ctx context.Context, userUID, id string) error {
	res, err := s.wx.ExecContext(ctx,
		`DELETE FROM personal_access_tokens WHERE id = ? AND user_uid = ?`, id, userUID)
	if err != nil {
		return wrap("delete pat", err)
	}
	return wrap("delete pat", oneRow(res))
}

// TouchPAT implements store.PersonalAccessTokens.
func (s *Store) TouchPAT(ctx context.Context, hash string, at time.Time) error {
	_, err := s.wx.ExecContext(ctx, `UPDATE personal_access_tokens SET last_used_at = ?
		WHERE hash = ? AND (last_used_at IS NULL OR last_used_at < ?)`, micros(at), hash, micros(at))
	return wrap("touch pat", err)
}

// ---- API keys ----

const apiKeyColumns = `k.id, k.user_uid, k.note, k.hash, k.created_at, k.revoked_at`

func scanAPIKey(r row) (store.APIKey, error) {
	var (
		k       store.APIKey
		created int64
		revoked sql.NullInt64
	)
	if err := r.Scan(&k.ID, &k.UserUID, &k.Note, &k.Hash, &created, &revoked); err != nil {
		return store.APIKey{}, err
	}
	k.CreatedAt, k.RevokedAt = fromMicros(created), fromNullMicros(revoked)
	return k, nil
}

// CreateAPIKey implements store.APIKeys.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	_, err := s.wx.ExecContext(ctx, `INSERT INTO api_keys (id, user_uid, note, hash, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.UserUID, k.Note, k.Hash, micros(k.CreatedAt), nullMicros(k.RevokedAt))
	return wrap("create api key", err)
}

// GetAPIKey implements store.APIKeys.
func (s *Store) GetAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanAPIKey(s.rx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE k.id = ?`, id))
	return k, wrap("get api key", err)
}

// GetAPIKeyByHash implements store.APIKeys.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash string) (store.APIKey, error) {
	k, err := scanAPIKey(s.rx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE k.hash = ?`, hash))
	return k, wrap("get api key by hash", err)
}

// ListAPIKeys implements store.APIKeys.
func (s *Store) ListAPIKeys(ctx context.Context, orgUID string) ([]store.APIKey, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if orgUID == "" {
		rows, err = s.rx.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k ORDER BY k.created_at, k.id`)
	} else {
		rows, err = s.rx.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k
			JOIN users u ON u.uid = k.user_uid WHERE u.org_uid = ? ORDER BY k.created_at, k.id`, orgUID)
	}
	if err != nil {
		return nil, wrap("list api keys", err)
	}
	defer rows.Close()
	var ks []store.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, wrap("list api keys", err)
		}
		ks = append(ks, k)
	}
	return ks, wrap("list api keys", rows.Err())
}

// RevokeAPIKey implements store.APIKeys: the conditional UPDATE claims the
// key, so of concurrent callers only the first finds it unrevoked.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) (bool, error) {
	revoked := false
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		revoked = false
		res, err := tx.ExecContext(ctx,
			`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(at), id)
		if err != nil {
			return err
		}
		if oneRow(res) == nil {
			revoked = true
			return nil
		}
		var found bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?)`, id).Scan(&found); err != nil {
			return err
		}
		if !found {
			return sql.ErrNoRows
		}
		return nil
	})
	if err != nil {
		return false, wrap("revoke api key", err)
	}
	return revoked, nil
}
