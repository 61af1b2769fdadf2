package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- encoding helpers ----

// parseStrList decodes strList's encoding; an empty list comes back nil.
func parseStrList(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("decode string list: %w", err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

// strLists encodes several lists at once, for an INSERT's arguments.
func strLists(vs ...[]string) ([]string, error) {
	out := make([]string, len(vs))
	for i, v := range vs {
		s, err := strList(v)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// nullString encodes "" as NULL.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// blob keeps a nil byte slice from becoming NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ---- clients ----

const clientColumns = `id, org_uid, name, description, secret_hash, redirect_uris, grant_types,
	scopes, audiences, public, admin_consent, jwt_access_tokens, always_refresh, created_at, updated_at`

func scanClient(r row) (store.Client, error) {
	var (
		c                                    store.Client
		redirects, grants, scopes, audiences string
		created, updated                     int64
	)
	if err := r.Scan(&c.ID, &c.OrgUID, &c.Name, &c.Description, &c.SecretHash,
		&redirects, &grants, &scopes, &audiences,
		&c.Public, &c.AdminConsent, &c.JWTAccessTokens, &c.AlwaysRefresh, &created, &updated); err != nil {
		return store.Client{}, err
	}
	var err error
	if c.RedirectURIs, err = parseStrList(redirects); err != nil {
		return store.Client{}, err
	}
	if c.GrantTypes, err = parseStrList(grants); err != nil {
		return store.Client{}, err
	}
	if c.Scopes, err = parseStrList(scopes); err != nil {
		return store.Client{}, err
	}
	if c.Audiences, err = parseStrList(audiences); err != nil {
		return store.Client{}, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

// CreateClient implements store.Clients.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	l, err := strLists(c.RedirectURIs, c.GrantTypes, c.Scopes, c.Audiences)
	if err != nil {
		return wrap("create client", err)
	}
	_, err = s.wx.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.OrgUID, c.Name, c.Description, c.SecretHash, l[0], l[1], l[2], l[3],
		c.Public, c.AdminConsent, c.JWTAccessTokens, c.AlwaysRefresh,
		micros(c.CreatedAt), micros(c.UpdatedAt))
	return wrap("create client", err)
}

// GetClient implements store.Clients.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.rx.QueryRowContext(ctx,
		`SELECT `+clientColumns+` FROM clients WHERE id = ?`, id))
	return c, wrap("get client", err)
}

// ListClients implements store.Clients. Clients created in the same
// microsecond are ordered by ID.
func (s *Store) ListClients(ctx context.Context, orgUID string) ([]store.Client, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if orgUID == "" {
		rows, err = s.rx.QueryContext(ctx,
			`SELECT `+clientColumns+` FROM clients ORDER BY created_at, id`)
	} else {
		rows, err = s.rx.QueryContext(ctx,
			`SELECT `+clientColumns+` FROM clients WHERE org_uid = ? ORDER BY created_at, id`, orgUID)
	}
	if err != nil {
		return nil, wrap("list clients", err)
	}
	defer rows.Close()
	var cs []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, wrap("list clients", err)
		}
		cs = append(cs, c)
	}
	return cs, wrap("list clients", rows.Err())
}

// UpdateClient implements store.Clients.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	l, err := strLists(c.RedirectURIs, c.GrantTypes, c.Scopes, c.Audiences)
	if err != nil {
		return wrap("update client", err)
	}
	res, err := s.wx.ExecContext(ctx, `UPDATE clients SET
			name = ?, description = ?, secret_hash = ?,
			redirect_uris = ?, grant_types = ?, scopes = ?, audiences = ?,
			public = ?, admin_consent = ?, jwt_access_tokens = ?, always_refresh = ?,
			updated_at = ?
		WHERE id = ?`,
		c.Name, c.Description, c.SecretHash, l[0], l[1], l[2], l[3],
		c.Public, c.AdminConsent, c.JWTAccessTokens, c.AlwaysRefresh,
		micros(c.UpdatedAt), c.ID)
	if err != nil {
		return wrap("update client", err)
	}
	return wrap("update client", oneRow(res))
}

// DeleteClient implements store.Clients; foreign keys cascade to the
// client's codes, tokens and consents. An unknown ID is ErrNotFound.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
	if err != nil {
		return wrap("delete client", err)
	}
	return wrap("delete client", oneRow(res))
}

// ---- authorization codes ----

const authCodeColumns = `hash, client_id, user_uid, redirect_uri, scopes, audiences, nonce,
	code_challenge, code_challenge_method, auth_time, grant_id, created_at, expires_at, used_at`

// CreateAuthCode implements store.Tokens.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	l, err := strLists(c.Scopes, c.Audiences)
	if err != nil {
		return wrap("create auth code", err)
	}
	_, err = s.ix.ExecContext(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.ClientID, c.UserUID, c.RedirectURI, l[0], l[1], c.Nonce,
		c.CodeChallenge, c.CodeChallengeMethod, nullMicros(c.AuthTime), c.GrantID,
		micros(c.CreatedAt), micros(c.ExpiresAt), nullMicros(c.UsedAt))
	return wrap("create auth code", err)
}

// authCodeScan receives authCodeColumns (dests) and decodes them (code).
type authCodeScan struct {
	c                store.AuthCode
	scopes, auds     string
	authTime, usedAt sql.NullInt64
	created, expires int64
}

func (s *authCodeScan) dests() []any {
	c := &s.c
	return []any{&c.Hash, &c.ClientID, &c.UserUID, &c.RedirectURI, &s.scopes, &s.auds, &c.Nonce,
		&c.CodeChallenge, &c.CodeChallengeMethod, &s.authTime, &c.GrantID, &s.created, &s.expires, &s.usedAt}
}

func (s *authCodeScan) code() (store.AuthCode, error) {
	c := s.c
	var err error
	if c.Scopes, err = parseStrList(s.scopes); err != nil {
		return store.AuthCode{}, err
	}
	if c.Audiences, err = parseStrList(s.auds); err != nil {
		return store.AuthCode{}, err
	}
	c.AuthTime, c.UsedAt = fromNullMicros(s.authTime), fromNullMicros(s.usedAt)
	c.CreatedAt, c.ExpiresAt = fromMicros(s.created), fromMicros(s.expires)
	return c, nil
}

// GetAuthCode implements store.Tokens.
func (s *Store) GetAuthCode(ctx context.Context, hash string) (store.AuthCode, error) {
	var cs authCodeScan
	err := s.rx.QueryRowContext(ctx, `SELECT `+authCodeColumns+` FROM auth_codes WHERE hash = ?`, hash).Scan(cs.dests()...)
	if err != nil {
		return store.AuthCode{}, wrap("get auth code", err)
	}
	c, err := cs.code()
	return c, wrap("get auth code", err)
}

// getAuthCodeAndUser is built once: the code grant runs it on every
// request.
var getAuthCodeAndUser = store.WithUser("auth_codes", authCodeColumns, userColumns, "hash", "?")

// GetAuthCodeAndUser implements store.Tokens in one query.
func (s *Store) GetAuthCodeAndUser(ctx context.Context, hash string) (store.AuthCode, store.User, error) {
	var cs authCodeScan
	u, err := s.getWithUser(ctx, getAuthCodeAndUser, hash, cs.dests())
	if err != nil {
		return store.AuthCode{}, store.User{}, wrap("get auth code and user", err)
	}
	c, err := cs.code()
	if err != nil {
		return store.AuthCode{}, store.User{}, wrap("get auth code and user", err)
	}
	return c, u, nil
}

const claimAuthCodeSQL = `UPDATE auth_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL`

// RedeemAuthCode implements store.Tokens. The conditional UPDATE claims the
// code; on the single writer connection only the first of concurrent
// callers finds it unused. It does not check the code's expiry (callers
// do, as with GetAuthCode).
func (s *Store) RedeemAuthCode(ctx context.Context, codeHash string, at time.Time, access store.AccessToken, refresh *store.RefreshToken) error {
	err := s.claimAndIssue(ctx, claimAuthCodeSQL, []any{micros(at), codeHash},
		`SELECT EXISTS (SELECT 1 FROM auth_codes WHERE hash = ?)`, codeHash, access, refresh)
	return wrap("redeem auth code", err)
}

// claimAndIssue claims a single-use credential with claim (a conditional
// UPDATE of one row) and stores the tokens issued for it, in one
// transaction on statements prepared beforehand (preparedSet). When the
// claim finds no row, exists (given hash) tells store.ErrAlreadyUsed from
// not found.
func (s *Store) claimAndIssue(ctx context.Context, claim string, claimArgs []any, exists, hash string,
	access store.AccessToken, refresh *store.RefreshToken) error {
	pt, err := s.prepared(ctx, claim, insertAccessTokenSQL, insertRefreshTokenSQL)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ex := pt.on(tx)
		res, err := ex.ExecContext(ctx, claim, claimArgs...)
		if err != nil {
			return err
		}
		if oneRow(res) != nil {
			return usedOrMissing(ctx, tx, exists, hash)
		}
		if err := insertAccessToken(ctx, ex, access); err != nil {
			return err
		}
		if refresh != nil {
			return insertRefreshToken(ctx, ex, *refresh)
		}
		return nil
	})
}

// usedOrMissing tells why a single-use credential could not be claimed:
// store.ErrAlreadyUsed if exists finds it, else sql.ErrNoRows.
func usedOrMissing(ctx context.Context, tx *sql.Tx, exists, hash string) error {
	var found bool
	if err := tx.QueryRowContext(ctx, exists, hash).Scan(&found); err != nil {
		return err
	}
	if found {
		return store.ErrAlreadyUsed
	}
	return sql.ErrNoRows
}

// ---- access tokens ----

const accessTokenColumns = `hash, client_id, user_uid, org_uid, scopes, audiences, grant_id,
	auth_time, created_at, expires_at`

const insertAccessTokenSQL = `INSERT INTO access_tokens (` + accessTokenColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func insertAccessToken(ctx context.Context, db execer, t store.AccessToken) error {
	l, err := strLists(t.Scopes, t.Audiences)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, insertAccessTokenSQL,
		t.Hash, t.ClientID, nullString(t.UserUID), t.OrgUID, l[0], l[1], t.GrantID,
		nullMicros(t.AuthTime), micros(t.CreatedAt), micros(t.ExpiresAt))
	return err
}

// CreateAccessToken implements store.Tokens. An empty UserUID
// (client_credentials) is stored as NULL.
func (s *Store) CreateAccessToken(ctx context.Context, t store.AccessToken) error {
	return wrap("create access token", missingParent(insertAccessToken(ctx, s.ix, t)))
}

// missingParent reports a foreign key violation (the row names a client
// or user that is gone) as store.ErrNotFound, keeping err in the chain.
func missingParent(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return err
}

// GetAccessToken implements store.Tokens. It returns the token whatever its
// expiry; callers check it.
func (s *Store) GetAccessToken(ctx context.Context, hash string) (store.AccessToken, error) {
	var (
		t                store.AccessToken
		user             sql.NullString
		scopes, auds     string
		authTime         sql.NullInt64
		created, expires int64
	)
	err := s.rx.QueryRowContext(ctx, `SELECT `+accessTokenColumns+` FROM access_tokens WHERE hash = ?`, hash).Scan(
		&t.Hash, &t.ClientID, &user, &t.OrgUID, &scopes, &auds, &t.GrantID, &authTime, &created, &expires)
	if err == nil {
		if t.Scopes, err = parseStrList(scopes); err == nil {
			t.Audiences, err = parseStrList(auds)
		}
	}
	if err != nil {
		return store.AccessToken{}, wrap("get access token", err)
	}
	t.UserUID = user.String
	t.AuthTime = fromNullMicros(authTime)
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromMicros(expires)
	return t, nil
}

// RevokeAccessToken implements store.Tokens; of concurrent calls for one
// token exactly one reports true.
func (s *Store) RevokeAccessToken(ctx context.Context, hash string) (bool, error) {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM access_tokens WHERE hash = ?`, hash)
	if err != nil {
		return false, wrap("revoke access token", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("revoke access token", err)
}

// ---- refresh tokens ----

const refreshTokenColumns = `hash, client_id, user_uid, org_uid, scopes, audiences, grant_id,
	auth_time, created_at, expires_at, used_at`

const insertRefreshTokenSQL = `INSERT INTO refresh_tokens (` + refreshTokenColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func insertRefreshToken(ctx context.Context, db execer, t store.RefreshToken) error {
	l, err := strLists(t.Scopes, t.Audiences)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, insertRefreshTokenSQL,
		t.Hash, t.ClientID, t.UserUID, t.OrgUID, l[0], l[1], t.GrantID,
		nullMicros(t.AuthTime), micros(t.CreatedAt), nullMicros(t.ExpiresAt), nullMicros(t.UsedAt))
	return err
}

// GetRefreshToken implements store.Tokens. It returns the token whether
// used or expired; callers check.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	var rs refreshTokenScan
	if err := s.rx.QueryRowContext(ctx, `SELECT `+refreshTokenColumns+` FROM refresh_tokens WHERE hash = ?`, hash).Scan(rs.dests()...); err != nil {
		return store.RefreshToken{}, wrap("get refresh token", err)
	}
	t, err := rs.token()
	return t, wrap("get refresh token", err)
}

// refreshTokenScan receives refreshTokenColumns (dests) and decodes them
// (token).
type refreshTokenScan struct {
	t                         store.RefreshToken
	scopes, auds              string
	authTime, expires, usedAt sql.NullInt64
	created                   int64
}

func (s *refreshTokenScan) dests() []any {
	t := &s.t
	return []any{&t.Hash, &t.ClientID, &t.UserUID, &t.OrgUID, &s.scopes, &s.auds, &t.GrantID,
		&s.authTime, &s.created, &s.expires, &s.usedAt}
}

func (s *refreshTokenScan) token() (store.RefreshToken, error) {
	t := s.t
	var err error
	if t.Scopes, err = parseStrList(s.scopes); err != nil {
		return store.RefreshToken{}, err
	}
	if t.Audiences, err = parseStrList(s.auds); err != nil {
		return store.RefreshToken{}, err
	}
	t.AuthTime, t.ExpiresAt, t.UsedAt = fromNullMicros(s.authTime), fromNullMicros(s.expires), fromNullMicros(s.usedAt)
	t.CreatedAt = fromMicros(s.created)
	return t, nil
}

// getRefreshTokenAndUser is built once: the refresh grant runs it on
// every request.
var getRefreshTokenAndUser = store.WithUser("refresh_tokens", refreshTokenColumns, userColumns, "hash", "?")

// GetRefreshTokenAndUser implements store.Tokens in one query.
func (s *Store) GetRefreshTokenAndUser(ctx context.Context, hash string) (store.RefreshToken, store.User, error) {
	var rs refreshTokenScan
	u, err := s.getWithUser(ctx, getRefreshTokenAndUser, hash, rs.dests())
	if err != nil {
		return store.RefreshToken{}, store.User{}, wrap("get refresh token and user", err)
	}
	t, err := rs.token()
	if err != nil {
		return store.RefreshToken{}, store.User{}, wrap("get refresh token and user", err)
	}
	return t, u, nil
}

const claimRefreshTokenSQL = `UPDATE refresh_tokens SET used_at = coalesce(used_at, ?)
			WHERE hash = ? AND (used_at IS NULL OR used_at > ?)`

// RotateRefreshToken implements store.Tokens. The old token is claimed by
// a conditional UPDATE: unused, or (grace > 0) used after at-grace, in
// which case its first UsedAt is kept. It does not check the old token's
// expiry (callers do).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, at time.Time, grace time.Duration,
	access store.AccessToken, refresh store.RefreshToken) error {
	// NULL when there is no grace: "used_at > NULL" is never true.
	var cutoff sql.NullInt64
	if grace > 0 {
		cutoff = sql.NullInt64{Int64: micros(at.Add(-grace)), Valid: true}
	}
	err := s.claimAndIssue(ctx, claimRefreshTokenSQL, []any{micros(at), oldHash, cutoff},
		`SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE hash = ?)`, oldHash, access, &refresh)
	return wrap("rotate refresh token", err)
}

// Access tokens by grant and by user. Their indexes leave out tokens
// without a user (client_credentials: revoked only by hash), so each query
// says user_uid IS NOT NULL, or implies it, to be planned on them
// (migration 0010, TestAccessTokenPlans).
const (
	revokeGrantAccessSQL = `DELETE FROM access_tokens WHERE grant_id = ? AND user_uid IS NOT NULL`
	userFamilyAccessSQL  = `DELETE FROM access_tokens WHERE grant_id IN (SELECT grant_id FROM refresh_tokens WHERE user_uid = ?) AND user_uid IS NOT NULL`
	userAccessSQL        = `DELETE FROM access_tokens WHERE user_uid = ?`
)

// RevokeGrant implements store.Tokens. The grant's authorization code, if
// any, stays (used), so a replay of it is still recognized. Revoking an
// unknown grant is not an error.
func (s *Store) RevokeGrant(ctx context.Context, grantID string) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, revokeGrantAccessSQL, grantID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE grant_id = ?`, grantID)
		return err
	})
	return wrap("revoke grant", err)
}

// DeleteExpiredTokens implements store.Tokens: codes and access tokens
// that expired before t, and refresh tokens with an expiry before t (never-
// expiring ones stay), used or not. It returns how many rows it deleted.
func (s *Store) DeleteExpiredTokens(ctx context.Context, t time.Time) (int, error) {
	total := 0
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		total = 0
		for _, q := range []string{
			`DELETE FROM auth_codes WHERE expires_at < ?`,
			`DELETE FROM access_tokens WHERE expires_at < ?`,
			`DELETE FROM refresh_tokens WHERE expires_at IS NOT NULL AND expires_at < ?`,
		} {
			res, err := tx.ExecContext(ctx, q, micros(t))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, wrap("delete expired tokens", err)
	}
	return total, nil
}

// ---- consents ----

// GetConsent implements store.Consents.
func (s *Store) GetConsent(ctx context.Context, userUID, clientID string) (store.Consent, error) {
	var (
		c       store.Consent
		scopes  string
		granted int64
	)
	err := s.rx.QueryRowContext(ctx, `SELECT user_uid, client_id, scopes, granted_at
		FROM consents WHERE user_uid = ? AND client_id = ?`, userUID, clientID,
	).Scan(&c.UserUID, &c.ClientID, &scopes, &granted)
	if err == nil {
		c.Scopes, err = parseStrList(scopes)
	}
	if err != nil {
		return store.Consent{}, wrap("get consent", err)
	}
	c.GrantedAt = fromMicros(granted)
	return c, nil
}

// SaveConsent implements store.Consents.
func (s *Store) SaveConsent(ctx context.Context, c store.Consent) error {
	scopes, err := strList(c.Scopes)
	if err != nil {
		return wrap("save consent", err)
	}
	_, err = s.wx.ExecContext(ctx, `INSERT INTO consents (user_uid, client_id, scopes, granted_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (user_uid, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.UserUID, c.ClientID, scopes, micros(c.GrantedAt))
	return wrap("save consent", err)
}

// revokeAuthorizationSQL are RevokeAuthorization's statements, each with
// the parameters user, client. The access tokens' one is planned on the
// partial index by user (TestAccessTokenPlans).
var revokeAuthorizationSQL = []string{
	`DELETE FROM consents WHERE user_uid = ? AND client_id = ?`,
	`DELETE FROM auth_codes WHERE user_uid = ? AND client_id = ? AND used_at IS NULL`,
	revokeAuthorizationAccessSQL,
	`DELETE FROM refresh_tokens WHERE user_uid = ? AND client_id = ?`,
}

const revokeAuthorizationAccessSQL = `DELETE FROM access_tokens WHERE user_uid = ? AND client_id = ?`

// RevokeAuthorization implements store.Consents in one write transaction:
// SQLite runs one writer at a time, so no redemption or rotation can
// interleave with it; one that comes after finds its code or token gone.
func (s *Store) RevokeAuthorization(ctx context.Context, userUID, clientID string) error {
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n = 0
		for _, q := range revokeAuthorizationSQL {
			res, err := tx.ExecContext(ctx, q, userUID, clientID)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	if err == nil && n == 0 {
		err = sql.ErrNoRows
	}
	return wrap("revoke authorization", err)
}

// ---- signing keys ----

const signingKeyColumns = `kid, alg, sealed_key, public_key, created_at, retired_at, published_to`

func scanSigningKey(r row) (store.SigningKey, error) {
	var (
		k                  store.SigningKey
		created            int64
		retired, published sql.NullInt64
	)
	if err := r.Scan(&k.KID, &k.Alg, &k.SealedKey, &k.PublicKey, &created, &retired, &published); err != nil {
		return store.SigningKey{}, err
	}
	k.CreatedAt = fromMicros(created)
	k.RetiredAt, k.PublishedTo = fromNullMicros(retired), fromNullMicros(published)
	return k, nil
}

// insertActiveKey stores k as active: its RetiredAt and PublishedTo are
// ignored.
func insertActiveKey(ctx context.Context, db execer, k store.SigningKey) error {
	_, err := db.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`)
		VALUES (?, ?, ?, ?, ?, NULL, NULL)`,
		k.KID, k.Alg, blob(k.SealedKey), blob(k.PublicKey), micros(k.CreatedAt))
	return err
}

// ListSigningKeys implements store.SigningKeys: newest first, keys created
// in the same microsecond by KID.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.rx.QueryContext(ctx,
		`SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	defer rows.Close()
	var ks []store.SigningKey
	for rows.Next() {
		k, err := scanSigningKey(rows)
		if err != nil {
			return nil, wrap("list signing keys", err)
		}
		ks = append(ks, k)
	}
	return ks, wrap("list signing keys", rows.Err())
}

// EnsureSigningKey implements store.SigningKeys. BEGIN IMMEDIATE holds the
// database's write lock from the look-up to the insert, so of concurrent
// callers, in this process or others, only the first inserts.
func (s *Store) EnsureSigningKey(ctx context.Context, k store.SigningKey) (store.SigningKey, error) {
	var active store.SigningKey
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		const q = `SELECT ` + signingKeyColumns + ` FROM signing_keys
			WHERE alg = ? AND retired_at IS NULL ORDER BY created_at DESC, kid LIMIT 1`
		var err error
		active, err = scanSigningKey(tx.QueryRowContext(ctx, q, k.Alg))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := insertActiveKey(ctx, tx, k); err != nil {
			return err
		}
		active, err = scanSigningKey(tx.QueryRowContext(ctx, q, k.Alg))
		return err
	})
	if err != nil {
		return store.SigningKey{}, wrap("ensure signing key", err)
	}
	return active, nil
}

// RotateSigningKey implements store.SigningKeys. A zero at is refused: it
// would leave the old key active.
func (s *Store) RotateSigningKey(ctx context.Context, k store.SigningKey, at, publishUntil time.Time) error {
	if at.IsZero() {
		return errors.New("sqlite: rotate signing key: zero retirement time")
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE signing_keys SET retired_at = ?, published_to = ? WHERE alg = ? AND retired_at IS NULL`,
			micros(at), nullMicros(publishUntil), k.Alg); err != nil {
			return err
		}
		return insertActiveKey(ctx, tx, k)
	})
	return wrap("rotate signing key", err)
}

// DeleteUnpublishedKeys implements store.SigningKeys. A retired key with a
// zero PublishedTo counts as unpublished, like any time before t.
func (s *Store) DeleteUnpublishedKeys(ctx context.Context, t time.Time) (int, error) {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM signing_keys
		WHERE retired_at IS NOT NULL AND (published_to IS NULL OR published_to < ?)`, micros(t))
	if err != nil {
		return 0, wrap("delete unpublished keys", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("delete unpublished keys", err)
}
