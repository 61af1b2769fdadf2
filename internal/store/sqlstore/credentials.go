package sqlstore

import (
	"context"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- personal access tokens ----

const patColumns = `id, user_uid, note, scopes, hash, last_eight, expires_at, created_at, updated_at, last_used_at`

var (
	insertPATSQL = Q(`INSERT INTO personal_access_tokens (` + patColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getPATSQL       = Q(`SELECT ` + patColumns + ` FROM personal_access_tokens WHERE id = ?`)
	getPATByHashSQL = Q(`SELECT ` + patColumns + ` FROM personal_access_tokens WHERE hash = ?`)
	countPATsSQL    = Q(`SELECT count(*) FROM personal_access_tokens WHERE user_uid = ?`)
	listPATsSQL     = Q(`SELECT ` + patColumns + ` FROM personal_access_tokens
		WHERE user_uid = ? ORDER BY created_at, id COLLATE "C" LIMIT ? OFFSET ?`)
	updatePATSQL = Q(`UPDATE personal_access_tokens
		SET note = ?, scopes = ?, expires_at = ?, updated_at = ?
		WHERE id = ? AND user_uid = ?`)
	deletePATSQL = Q(`DELETE FROM personal_access_tokens WHERE id = ? AND user_uid = ?`)
	touchPATSQL  = Q(`UPDATE personal_access_tokens SET last_used_at = ?
		WHERE hash = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
)

func (s *Store) scanPAT(r Row) (store.PersonalAccessToken, error) {
	var t store.PersonalAccessToken
	d := s.db
	if err := r.Scan(&t.ID, &t.UserUID, &t.Note, d.StringsDest(&t.Scopes), &t.Hash, &t.LastEight,
		d.TimeDest(&t.ExpiresAt), d.TimeDest(&t.CreatedAt), d.TimeDest(&t.UpdatedAt), d.TimeDest(&t.LastUsedAt)); err != nil {
		return store.PersonalAccessToken{}, err
	}
	return t, nil
}

// CreatePAT implements store.PersonalAccessTokens.
func (s *Store) CreatePAT(ctx context.Context, t store.PersonalAccessToken) error {
	d := s.db
	_, err := d.Exec(ctx, insertPATSQL, t.ID, t.UserUID, t.Note, d.Strings(t.Scopes), t.Hash, t.LastEight,
		d.NullTime(t.ExpiresAt), d.Time(t.CreatedAt), d.Time(t.UpdatedAt), d.NullTime(t.LastUsedAt))
	return s.Wrap("create pat", err)
}

// GetPAT implements store.PersonalAccessTokens.
func (s *Store) GetPAT(ctx context.Context, id string) (store.PersonalAccessToken, error) {
	t, err := s.scanPAT(s.db.QueryRow(ctx, getPATSQL, id))
	return t, s.Wrap("get pat", err)
}

// GetPATByHash implements store.PersonalAccessTokens.
func (s *Store) GetPATByHash(ctx context.Context, hash string) (store.PersonalAccessToken, error) {
	t, err := s.scanPAT(s.db.QueryRow(ctx, getPATByHashSQL, hash))
	return t, s.Wrap("get pat by hash", err)
}

// ListPATs implements store.PersonalAccessTokens. The page and the count
// are two reads, not one snapshot: a concurrent create or delete may make
// them disagree by one, as any paginated listing may.
func (s *Store) ListPATs(ctx context.Context, userUID string, offset, limit int) ([]store.PersonalAccessToken, int, error) {
	var total int
	if err := s.db.QueryRow(ctx, countPATsSQL, userUID).Scan(&total); err != nil {
		return nil, 0, s.Wrap("list pats", err)
	}
	rows, err := s.db.Query(ctx, listPATsSQL, userUID, max(limit, 0), max(offset, 0))
	ts, err := scanAll(rows, err, s.scanPAT)
	if err != nil {
		return nil, 0, s.Wrap("list pats", err)
	}
	return ts, total, nil
}

// UpdatePAT implements store.PersonalAccessTokens.
func (s *Store) UpdatePAT(ctx context.Context, t store.PersonalAccessToken) error {
	d := s.db
	err := oneRow(d.Exec(ctx, updatePATSQL, t.Note, d.Strings(t.Scopes), d.NullTime(t.ExpiresAt), d.Time(t.UpdatedAt), t.ID, t.UserUID))
	return s.Wrap("update pat", err)
}

// DeletePAT implements store.PersonalAccessTokens; of concurrent deleters
// only the first finds the row.
func (s *Store) DeletePAT(ctx context.Context, userUID, id string) error {
	return s.Wrap("delete pat", oneRow(s.db.Exec(ctx, deletePATSQL, id, userUID)))
}

// TouchPAT implements store.PersonalAccessTokens.
func (s *Store) TouchPAT(ctx context.Context, hash string, at time.Time) error {
	_, err := s.db.Exec(ctx, touchPATSQL, s.db.Time(at), hash, s.db.Time(at))
	return s.Wrap("touch pat", err)
}

// ---- API keys ----

const apiKeyColumns = `k.id, k.user_uid, k.note, k.hash, k.created_at, k.revoked_at`

var (
	insertAPIKeySQL = Q(`INSERT INTO api_keys (id, user_uid, note, hash, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?)`)
	getAPIKeySQL       = Q(`SELECT ` + apiKeyColumns + ` FROM api_keys k WHERE k.id = ?`)
	getAPIKeyByHashSQL = Q(`SELECT ` + apiKeyColumns + ` FROM api_keys k WHERE k.hash = ?`)
	listAPIKeysSQL     = Q(`SELECT ` + apiKeyColumns + ` FROM api_keys k ORDER BY k.created_at, k.id COLLATE "C"`)
	listOrgAPIKeysSQL  = Q(`SELECT ` + apiKeyColumns + ` FROM api_keys k
			JOIN users u ON u.uid = k.user_uid WHERE u.org_uid = ? ORDER BY k.created_at, k.id COLLATE "C"`)
	revokeAPIKeySQL = Q(`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`)
	apiKeyExistsSQL = Q(`SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?)`)
)

func (s *Store) scanAPIKey(r Row) (store.APIKey, error) {
	var k store.APIKey
	if err := r.Scan(&k.ID, &k.UserUID, &k.Note, &k.Hash, s.db.TimeDest(&k.CreatedAt), s.db.TimeDest(&k.RevokedAt)); err != nil {
		return store.APIKey{}, err
	}
	return k, nil
}

// CreateAPIKey implements store.APIKeys.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	_, err := s.db.Exec(ctx, insertAPIKeySQL, k.ID, k.UserUID, k.Note, k.Hash, s.db.Time(k.CreatedAt), s.db.NullTime(k.RevokedAt))
	return s.Wrap("create api key", err)
}

// GetAPIKey implements store.APIKeys.
func (s *Store) GetAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	k, err := s.scanAPIKey(s.db.QueryRow(ctx, getAPIKeySQL, id))
	return k, s.Wrap("get api key", err)
}

// GetAPIKeyByHash implements store.APIKeys.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash string) (store.APIKey, error) {
	k, err := s.scanAPIKey(s.db.QueryRow(ctx, getAPIKeyByHashSQL, hash))
	return k, s.Wrap("get api key by hash", err)
}

// ListAPIKeys implements store.APIKeys.
func (s *Store) ListAPIKeys(ctx context.Context, orgUID string) ([]store.APIKey, error) {
	var (
		rows Rows
		err  error
	)
	if orgUID == "" {
		rows, err = s.db.Query(ctx, listAPIKeysSQL)
	} else {
		rows, err = s.db.Query(ctx, listOrgAPIKeysSQL, orgUID)
	}
	ks, err := scanAll(rows, err, s.scanAPIKey)
	return ks, s.Wrap("list api keys", err)
}

// RevokeAPIKey implements store.APIKeys: the conditional UPDATE claims the
// key, so of concurrent callers only the first finds it unrevoked (SQLite's
// single writer; PostgreSQL's row lock, after which READ COMMITTED
// re-checks "revoked_at IS NULL" against the winner's row).
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) (bool, error) {
	var revoked bool
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		revoked = false
		n, err := tx.Exec(ctx, revokeAPIKeySQL, s.db.Time(at), id)
		if err != nil {
			return err
		}
		if n == 1 {
			revoked = true
			return nil
		}
		var found bool
		if err := tx.QueryRow(ctx, apiKeyExistsSQL, id).Scan(&found); err != nil {
			return err
		}
		if !found {
			return errNoRows
		}
		return nil
	})
	if err != nil {
		return false, s.Wrap("revoke api key", err)
	}
	return revoked, nil
}

// ---- platform API tokens (store.PlatformTokens) ----

const platformTokenColumns = `id, user_uid, name, hash, last_eight, created_at, last_used_at, expires_at`

var (
	insertPlatformTokenSQL = Q(`INSERT INTO platform_tokens (` + platformTokenColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	getPlatformTokenByHashSQL = Q(`SELECT ` + platformTokenColumns + ` FROM platform_tokens WHERE hash = ?`)
	getPlatformTokenSQL       = Q(`SELECT ` + platformTokenColumns + ` FROM platform_tokens WHERE id = ?`)
	listPlatformTokensSQL     = Q(`SELECT ` + platformTokenColumns + ` FROM platform_tokens WHERE user_uid = ? ORDER BY created_at, id COLLATE "C"`)
	deletePlatformTokenSQL    = Q(`DELETE FROM platform_tokens WHERE id = ? AND user_uid = ?`)
	touchPlatformTokenSQL     = Q(`UPDATE platform_tokens SET last_used_at = ?
		WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`)
	// Built once: the exchange and JWT verification run them on every
	// request.
	getPlatformTokenAndUser     = withUser("platform_tokens", platformTokenColumns, "hash")
	getPlatformTokenByIDAndUser = withUser("platform_tokens", platformTokenColumns, "id")
)

func (s *Store) platformTokenDests(t *store.PlatformToken) []any {
	d := s.db
	return []any{&t.ID, &t.UserUID, &t.Name, &t.Hash, &t.LastEight, d.TimeDest(&t.CreatedAt), d.TimeDest(&t.LastUsedAt), d.TimeDest(&t.ExpiresAt)}
}

func (s *Store) scanPlatformToken(r Row) (store.PlatformToken, error) {
	var t store.PlatformToken
	if err := r.Scan(s.platformTokenDests(&t)...); err != nil {
		return store.PlatformToken{}, err
	}
	return t, nil
}

// CreatePlatformToken implements store.PlatformTokens.
func (s *Store) CreatePlatformToken(ctx context.Context, t store.PlatformToken) error {
	d := s.db
	_, err := d.Exec(ctx, insertPlatformTokenSQL, t.ID, t.UserUID, t.Name, t.Hash, t.LastEight,
		d.Time(t.CreatedAt), d.NullTime(t.LastUsedAt), d.NullTime(t.ExpiresAt))
	return s.Wrap("create platform token", err)
}

// GetPlatformTokenByHash implements store.PlatformTokens.
func (s *Store) GetPlatformTokenByHash(ctx context.Context, hash string) (store.PlatformToken, error) {
	t, err := s.scanPlatformToken(s.db.QueryRow(ctx, getPlatformTokenByHashSQL, hash))
	return t, s.Wrap("get platform token", err)
}

// GetPlatformTokenAndUser implements store.PlatformTokens in one query.
func (s *Store) GetPlatformTokenAndUser(ctx context.Context, hash string) (store.PlatformToken, store.User, error) {
	return s.platformTokenWithUser(ctx, getPlatformTokenAndUser, hash)
}

// GetPlatformTokenByIDAndUser implements store.PlatformTokens in one query.
func (s *Store) GetPlatformTokenByIDAndUser(ctx context.Context, id string) (store.PlatformToken, store.User, error) {
	return s.platformTokenWithUser(ctx, getPlatformTokenByIDAndUser, id)
}

func (s *Store) platformTokenWithUser(ctx context.Context, q Query, key string) (store.PlatformToken, store.User, error) {
	var t store.PlatformToken
	u, err := s.getWithUser(ctx, q, key, s.platformTokenDests(&t))
	if err != nil {
		return store.PlatformToken{}, store.User{}, s.Wrap("get platform token and user", err)
	}
	return t, u, nil
}

// GetPlatformToken implements store.PlatformTokens: a primary-key read,
// which sees every committed revocation.
func (s *Store) GetPlatformToken(ctx context.Context, id string) (store.PlatformToken, error) {
	t, err := s.scanPlatformToken(s.db.QueryRow(ctx, getPlatformTokenSQL, id))
	return t, s.Wrap("get platform token", err)
}

// ListPlatformTokens implements store.PlatformTokens. Tokens created in the
// same microsecond are ordered by ID, bytewise.
func (s *Store) ListPlatformTokens(ctx context.Context, userUID string) ([]store.PlatformToken, error) {
	rows, err := s.db.Query(ctx, listPlatformTokensSQL, userUID)
	ts, err := scanAll(rows, err, s.scanPlatformToken)
	return ts, s.Wrap("list platform tokens", err)
}

// DeletePlatformToken implements store.PlatformTokens: one DELETE keyed by
// user and id, which only the first of concurrent calls finds.
func (s *Store) DeletePlatformToken(ctx context.Context, userUID, id string) error {
	return s.Wrap("delete platform token", oneRow(s.db.Exec(ctx, deletePlatformTokenSQL, id, userUID)))
}

// TouchPlatformToken implements store.PlatformTokens with one conditional
// UPDATE.
func (s *Store) TouchPlatformToken(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error) {
	n, err := s.db.Exec(ctx, touchPlatformTokenSQL, s.db.Time(at), id, s.db.Time(at.Add(-every)))
	return n == 1, s.Wrap("touch platform token", err)
}
