package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- personal access tokens ----

const patColumns = `id, user_uid, note, scopes, hash, last_eight, expires_at, created_at, updated_at, last_used_at`

func scanPAT(r row) (store.PersonalAccessToken, error) {
	var (
		t                 store.PersonalAccessToken
		expires, lastUsed *time.Time
	)
	if err := r.Scan(&t.ID, &t.UserUID, &t.Note, &t.Scopes, &t.Hash, &t.LastEight,
		&expires, &t.CreatedAt, &t.UpdatedAt, &lastUsed); err != nil {
		return store.PersonalAccessToken{}, err
	}
	t.Scopes = fromStrList(t.Scopes)
	t.ExpiresAt, t.LastUsedAt = fromNullTime(expires), fromNullTime(lastUsed)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return t, nil
}

// CreatePAT implements store.PersonalAccessTokens.
func (s *Store) CreatePAT(ctx context.Context, t store.PersonalAccessToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO personal_access_tokens (`+patColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.ID, t.UserUID, t.Note, strList(t.Scopes), t.Hash, t.LastEight,
		nullTime(t.ExpiresAt), t.CreatedAt, t.UpdatedAt, nullTime(t.LastUsedAt))
	return wrap("create pat", err)
}

// GetPAT implements store.PersonalAccessTokens.
func (s *Store) GetPAT(ctx context.Context, id string) (store.PersonalAccessToken, error) {
	t, err := scanPAT(s.pool.QueryRow(ctx,
		`SELECT `+patColumns+` FROM personal_access_tokens WHERE id = $1`, id))
	return t, wrap("get pat", err)
}

// GetPATByHash implements store.PersonalAccessTokens.
func (s *Store) GetPATByHash(ctx context.Context, hash string) (store.PersonalAccessToken, error) {
	t, err := scanPAT(s.pool.QueryRow(ctx,
		`SELECT `+patColumns+` FROM personal_access_tokens WHERE hash = $1`, hash))
	return t, wrap("get pat by hash", err)
}

// ListPATs implements store.PersonalAccessTokens. The page and the count
// are two reads, as in the sqlite backend.
func (s *Store) ListPATs(ctx context.Context, userUID string, offset, limit int) ([]store.PersonalAccessToken, int, error) {
	var total int
	if err := s.pool.QueryRow(ctx,
		`SELECT count(*) FROM personal_access_tokens WHERE user_uid = $1`, userUID).Scan(&total); err != nil {
		return nil, 0, wrap("list pats", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+patColumns+` FROM personal_access_tokens
		WHERE user_uid = $1 ORDER BY created_at, id COLLATE "C" LIMIT $2 OFFSET $3`,
		userUID, max(limit, 0), max(offset, 0))
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
	tag, err := s.pool.Exec(ctx, `UPDATE personal_access_tokens
		SET note = $1, scopes = $2, expires_at = $3, updated_at = $4
		WHERE id = $5 AND user_uid = $6`,
		t.Note, strList(t.Scopes), nullTime(t.ExpiresAt), t.UpdatedAt, t.ID, t.UserUID)
	if err != nil {
		return wrap("update pat", err)
	}
	return wrap("update pat", oneRow(tag))
}

// DeletePAT implements store.PersonalAccessTokens; concurrent deleters
// queue on the row lock and only the first finds the row.
func (s *Store) DeletePAT(ctx context.Context, userUID, id string) error {
	tag, err := s.pool.Exec(ctx,
		`DELETE FROM personal_access_tokens WHERE id = $1 AND user_uid = $2`, id, userUID)
	if err != nil {
		return wrap("delete pat", err)
	}
	return wrap("delete pat", oneRow(tag))
}

// TouchPAT implements store.PersonalAccessTokens.
func (s *Store) TouchPAT(ctx context.Context, hash string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE personal_access_tokens SET last_used_at = $1
		WHERE hash = $2 AND (last_used_at IS NULL OR last_used_at < $1)`, at, hash)
	return wrap("touch pat", err)
}

// ---- API keys ----

const apiKeyColumns = `k.id, k.user_uid, k.note, k.hash, k.created_at, k.revoked_at`

func scanAPIKey(r row) (store.APIKey, error) {
	var (
		k       store.APIKey
		revoked *time.Time
	)
	if err := r.Scan(&k.ID, &k.UserUID, &k.Note, &k.Hash, &k.CreatedAt, &revoked); err != nil {
		return store.APIKey{}, err
	}
	k.CreatedAt, k.RevokedAt = k.CreatedAt.UTC(), fromNullTime(revoked)
	return k, nil
}

// CreateAPIKey implements store.APIKeys.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, user_uid, note, hash, created_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.UserUID, k.Note, k.Hash, k.CreatedAt, nullTime(k.RevokedAt))
	return wrap("create api key", err)
}

// GetAPIKey implements store.APIKeys.
func (s *Store) GetAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE k.id = $1`, id))
	return k, wrap("get api key", err)
}

// GetAPIKeyByHash implements store.APIKeys.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash string) (store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE k.hash = $1`, hash))
	return k, wrap("get api key by hash", err)
}

// ListAPIKeys implements store.APIKeys.
func (s *Store) ListAPIKeys(ctx context.Context, orgUID string) ([]store.APIKey, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if orgUID == "" {
		rows, err = s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k ORDER BY k.created_at, k.id COLLATE "C"`)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k
			JOIN users u ON u.uid = k.user_uid WHERE u.org_uid = $1 ORDER BY k.created_at, k.id COLLATE "C"`, orgUID)
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

// RevokeAPIKey implements store.APIKeys. Under READ COMMITTED concurrent
// UPDATEs queue on the row lock and re-check "revoked_at IS NULL" against
// the winner's committed row, so only the first matches.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) (bool, error) {
	var revoked bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		revoked = false
		tag, err := tx.Exec(ctx,
			`UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, at, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			revoked = true
			return nil
		}
		var found bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = $1)`, id).Scan(&found); err != nil {
			return err
		}
		if !found {
			return pgx.ErrNoRows
		}
		return nil
	})
	if err != nil {
		return false, wrap("revoke api key", err)
	}
	return revoked, nil
}
