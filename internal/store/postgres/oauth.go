package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- encoding helpers ----

// strList keeps a nil list from becoming NULL: text[] columns are NOT NULL.
func strList(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// fromStrList returns an empty list as nil, as the sqlite backend does.
func fromStrList(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	return v
}

// nullString encodes "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func fromNullString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

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
	var c store.Client
	if err := r.Scan(&c.ID, &c.OrgUID, &c.Name, &c.Description, &c.SecretHash,
		&c.RedirectURIs, &c.GrantTypes, &c.Scopes, &c.Audiences,
		&c.Public, &c.AdminConsent, &c.JWTAccessTokens, &c.AlwaysRefresh, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return store.Client{}, err
	}
	c.RedirectURIs, c.GrantTypes = fromStrList(c.RedirectURIs), fromStrList(c.GrantTypes)
	c.Scopes, c.Audiences = fromStrList(c.Scopes), fromStrList(c.Audiences)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

// CreateClient implements store.Clients.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.ID, c.OrgUID, c.Name, c.Description, c.SecretHash,
		strList(c.RedirectURIs), strList(c.GrantTypes), strList(c.Scopes), strList(c.Audiences),
		c.Public, c.AdminConsent, c.JWTAccessTokens, c.AlwaysRefresh, c.CreatedAt, c.UpdatedAt)
	return wrap("create client", err)
}

// GetClient implements store.Clients.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.pool.QueryRow(ctx,
		`SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
	return c, wrap("get client", err)
}

// ListClients implements store.Clients. Clients created in the same
// microsecond are ordered by ID, bytewise (COLLATE "C") as in SQLite.
func (s *Store) ListClients(ctx context.Context, orgUID string) ([]store.Client, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if orgUID == "" {
		rows, err = s.pool.Query(ctx,
			`SELECT `+clientColumns+` FROM clients ORDER BY created_at, id COLLATE "C"`)
	} else {
		rows, err = s.pool.Query(ctx,
			`SELECT `+clientColumns+` FROM clients WHERE org_uid = $1 ORDER BY created_at, id COLLATE "C"`, orgUID)
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
	tag, err := s.pool.Exec(ctx, `UPDATE clients SET
			name = $1, description = $2, secret_hash = $3,
			redirect_uris = $4, grant_types = $5, scopes = $6, audiences = $7,
			public = $8, admin_consent = $9, jwt_access_tokens = $10, always_refresh = $11,
			updated_at = $12
		WHERE id = $13`,
		c.Name, c.Description, c.SecretHash,
		strList(c.RedirectURIs), strList(c.GrantTypes), strList(c.Scopes), strList(c.Audiences),
		c.Public, c.AdminConsent, c.JWTAccessTokens, c.AlwaysRefresh, c.UpdatedAt, c.ID)
	if err != nil {
		return wrap("update client", err)
	}
	return wrap("update client", oneRow(tag))
}

// DeleteClient implements store.Clients; foreign keys cascade to the
// client's codes, tokens and consents. An unknown ID is ErrNotFound.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	if err != nil {
		return wrap("delete client", err)
	}
	return wrap("delete client", oneRow(tag))
}

// ---- authorization codes ----

const authCodeColumns = `hash, client_id, user_uid, redirect_uri, scopes, audiences, nonce,
	code_challenge, code_challenge_method, auth_time, grant_id, created_at, expires_at, used_at`

// CreateAuthCode implements store.Tokens.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	_, err := s.issue.Exec(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		c.Hash, c.ClientID, c.UserUID, c.RedirectURI, strList(c.Scopes), strList(c.Audiences), c.Nonce,
		c.CodeChallenge, c.CodeChallengeMethod, nullTime(c.AuthTime), c.GrantID,
		c.CreatedAt, c.ExpiresAt, nullTime(c.UsedAt))
	return wrap("create auth code", err)
}

// authCodeScan receives authCodeColumns (dests) and decodes them (code).
type authCodeScan struct {
	c                store.AuthCode
	authTime, usedAt *time.Time
}

func (s *authCodeScan) dests() []any {
	c := &s.c
	return []any{&c.Hash, &c.ClientID, &c.UserUID, &c.RedirectURI, &c.Scopes, &c.Audiences, &c.Nonce,
		&c.CodeChallenge, &c.CodeChallengeMethod, &s.authTime, &c.GrantID, &c.CreatedAt, &c.ExpiresAt, &s.usedAt}
}

func (s *authCodeScan) code() store.AuthCode {
	c := s.c
	c.Scopes, c.Audiences = fromStrList(c.Scopes), fromStrList(c.Audiences)
	c.AuthTime, c.UsedAt = fromNullTime(s.authTime), fromNullTime(s.usedAt)
	c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	return c
}

// GetAuthCode implements store.Tokens.
func (s *Store) GetAuthCode(ctx context.Context, hash string) (store.AuthCode, error) {
	var cs authCodeScan
	if err := s.pool.QueryRow(ctx, `SELECT `+authCodeColumns+` FROM auth_codes WHERE hash = $1`, hash).Scan(cs.dests()...); err != nil {
		return store.AuthCode{}, wrap("get auth code", err)
	}
	return cs.code(), nil
}

// getAuthCodeAndUser is built once: the code grant runs it on every
// request.
var getAuthCodeAndUser = store.WithUser("auth_codes", authCodeColumns, userColumns, "hash", "$1")

// GetAuthCodeAndUser implements store.Tokens in one query.
func (s *Store) GetAuthCodeAndUser(ctx context.Context, hash string) (store.AuthCode, store.User, error) {
	var cs authCodeScan
	u, err := s.getWithUser(ctx, getAuthCodeAndUser, hash, cs.dests())
	if err != nil {
		return store.AuthCode{}, store.User{}, wrap("get auth code and user", err)
	}
	return cs.code(), u, nil
}

// RedeemAuthCode implements store.Tokens in one statement (claimAndIssueSQL):
// the conditional UPDATE claims the code: concurrent callers queue on its
// row lock and, under READ COMMITTED, re-check "used_at IS NULL" against
// the winner's committed row, so only the first matches (in one batch of
// claimbatch.go, the claims are in order within one transaction: the
// second sees the first's row). It does not
// check the code's expiry (callers do, as with GetAuthCode).
func (s *Store) RedeemAuthCode(ctx context.Context, codeHash string, at time.Time, access store.AccessToken, refresh *store.RefreshToken) error {
	return wrap("redeem auth code", s.claim(ctx, codeClaim(codeHash, at, access, refresh)))
}

// codeClaim is RedeemAuthCode's statement.
func codeClaim(codeHash string, at time.Time, access store.AccessToken, refresh *store.RefreshToken) claim {
	c := claim{q: redeemCode, args: append([]any{at, codeHash}, accessTokenArgs(access)...), hash: codeHash, table: "auth_codes"}
	if refresh != nil {
		c.q, c.args = redeemCodeWithRefresh, append(c.args, refreshTokenArgs(*refresh)...)
	}
	return c
}

// claim runs c, one round trip instead of four (BEGIN, UPDATE, INSERT,
// COMMIT), shared with the redemptions made at the same time
// (claimbatch.go).
func (s *Store) claim(ctx context.Context, c claim) error {
	return s.claimed(ctx, c, s.claims.do(ctx, c))
}

// claimed is c's outcome given err, what running it answered: when the
// claim matched nothing (nothing is written), store.ErrAlreadyUsed if the
// credential exists, else pgx.ErrNoRows.
func (s *Store) claimed(ctx context.Context, c claim, err error) error {
	if !errors.Is(err, errUnclaimed) {
		return err
	}
	var found bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+c.table+` WHERE hash = $1)`, c.hash).Scan(&found); err != nil {
		return err
	}
	if found {
		return store.ErrAlreadyUsed
	}
	return pgx.ErrNoRows
}

// claimAuthCode claims an unused code.
const claimAuthCode = `UPDATE auth_codes SET used_at = $1 WHERE hash = $2 AND used_at IS NULL`

// The claim-and-issue statements, built once.
var (
	redeemCode            = claimAndIssueSQL(claimAuthCode, 2, false)
	redeemCodeWithRefresh = claimAndIssueSQL(claimAuthCode, 2, true)
	rotateRefresh         = claimAndIssueSQL(`UPDATE refresh_tokens SET used_at = coalesce(used_at, $1)
			WHERE hash = $2 AND (used_at IS NULL OR used_at > $3::timestamptz)`, 3, true)
)

// claimAndIssueSQL is one statement that runs claim (an UPDATE of one
// single-use row, with claimArgs parameters) and, only if it matched,
// inserts an access token (the next parameters, accessTokenArgs) and,
// with refresh, a refresh token (then refreshTokenArgs). Data-modifying
// CTEs commit together or not at all, like a transaction.
func claimAndIssueSQL(claim string, claimArgs int, refresh bool) string {
	var q strings.Builder
	n := claimArgs
	params := func(types []string) {
		for i, t := range types {
			if i > 0 {
				q.WriteString(", ")
			}
			n++
			fmt.Fprintf(&q, "$%d::%s", n, t)
		}
	}
	// The casts: an INSERT … SELECT does not take the columns' types.
	q.WriteString("WITH claimed AS (" + claim + " RETURNING 1),\n")
	q.WriteString("access AS (INSERT INTO access_tokens (" + accessTokenColumns + ") SELECT ")
	params(accessTokenTypes)
	q.WriteString(" FROM claimed)")
	if refresh {
		q.WriteString(",\nrefresh AS (INSERT INTO refresh_tokens (" + refreshTokenColumns + ") SELECT ")
		params(refreshTokenTypes)
		q.WriteString(" FROM claimed)")
	}
	q.WriteString("\nSELECT count(*) FROM claimed")
	return q.String()
}

// ---- access tokens ----

const accessTokenColumns = `hash, client_id, user_uid, org_uid, scopes, audiences, grant_id,
	auth_time, created_at, expires_at`

// accessTokenTypes are the types of accessTokenColumns.
var accessTokenTypes = []string{"text", "text", "text", "text", "text[]", "text[]", "text", "timestamptz", "timestamptz", "timestamptz"}

func accessTokenArgs(t store.AccessToken) []any {
	return []any{t.Hash, t.ClientID, nullString(t.UserUID), t.OrgUID, strList(t.Scopes), strList(t.Audiences),
		t.GrantID, nullTime(t.AuthTime), t.CreatedAt, t.ExpiresAt}
}

func insertAccessToken(ctx context.Context, db execer, t store.AccessToken) error {
	_, err := db.Exec(ctx, `INSERT INTO access_tokens (`+accessTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, accessTokenArgs(t)...)
	return err
}

// CreateAccessToken implements store.Tokens. An empty UserUID
// (client_credentials) is stored as NULL. Concurrent calls share one
// multi-row INSERT (tokenBatcher).
func (s *Store) CreateAccessToken(ctx context.Context, t store.AccessToken) error {
	return wrap("create access token", missingParent(s.tokens.do(ctx, t)))
}

// missingParent reports a foreign key violation (the row names a client
// or user that is gone) as store.ErrNotFound, keeping err in the chain.
func missingParent(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return err
}

// GetAccessToken implements store.Tokens. It returns the token whatever its
// expiry; callers check it.
func (s *Store) GetAccessToken(ctx context.Context, hash string) (store.AccessToken, error) {
	var (
		t        store.AccessToken
		user     *string
		authTime *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT `+accessTokenColumns+` FROM access_tokens WHERE hash = $1`, hash).Scan(
		&t.Hash, &t.ClientID, &user, &t.OrgUID, &t.Scopes, &t.Audiences, &t.GrantID,
		&authTime, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return store.AccessToken{}, wrap("get access token", err)
	}
	t.UserUID = fromNullString(user)
	t.Scopes, t.Audiences = fromStrList(t.Scopes), fromStrList(t.Audiences)
	t.AuthTime = fromNullTime(authTime)
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// RevokeAccessToken implements store.Tokens; of concurrent calls for one
// token exactly one reports true.
func (s *Store) RevokeAccessToken(ctx context.Context, hash string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM access_tokens WHERE hash = $1`, hash)
	if err != nil {
		return false, wrap("revoke access token", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ---- refresh tokens ----

const refreshTokenColumns = `hash, client_id, user_uid, org_uid, scopes, audiences, grant_id,
	auth_time, created_at, expires_at, used_at`

// refreshTokenTypes are the types of refreshTokenColumns.
var refreshTokenTypes = []string{"text", "text", "text", "text", "text[]", "text[]", "text", "timestamptz", "timestamptz", "timestamptz", "timestamptz"}

func refreshTokenArgs(t store.RefreshToken) []any {
	return []any{t.Hash, t.ClientID, t.UserUID, t.OrgUID, strList(t.Scopes), strList(t.Audiences), t.GrantID,
		nullTime(t.AuthTime), t.CreatedAt, nullTime(t.ExpiresAt), nullTime(t.UsedAt)}
}

// GetRefreshToken implements store.Tokens. It returns the token whether
// used or expired; callers check.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	var rs refreshTokenScan
	if err := s.pool.QueryRow(ctx, `SELECT `+refreshTokenColumns+` FROM refresh_tokens WHERE hash = $1`, hash).Scan(rs.dests()...); err != nil {
		return store.RefreshToken{}, wrap("get refresh token", err)
	}
	return rs.token(), nil
}

// refreshTokenScan receives refreshTokenColumns (dests) and decodes them
// (token).
type refreshTokenScan struct {
	t                         store.RefreshToken
	authTime, expires, usedAt *time.Time
}

func (s *refreshTokenScan) dests() []any {
	t := &s.t
	return []any{&t.Hash, &t.ClientID, &t.UserUID, &t.OrgUID, &t.Scopes, &t.Audiences, &t.GrantID,
		&s.authTime, &t.CreatedAt, &s.expires, &s.usedAt}
}

func (s *refreshTokenScan) token() store.RefreshToken {
	t := s.t
	t.Scopes, t.Audiences = fromStrList(t.Scopes), fromStrList(t.Audiences)
	t.AuthTime, t.ExpiresAt, t.UsedAt = fromNullTime(s.authTime), fromNullTime(s.expires), fromNullTime(s.usedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	return t
}

// getRefreshTokenAndUser is built once: the refresh grant runs it on
// every request.
var getRefreshTokenAndUser = store.WithUser("refresh_tokens", refreshTokenColumns, userColumns, "hash", "$1")

// GetRefreshTokenAndUser implements store.Tokens in one query.
func (s *Store) GetRefreshTokenAndUser(ctx context.Context, hash string) (store.RefreshToken, store.User, error) {
	var rs refreshTokenScan
	u, err := s.getWithUser(ctx, getRefreshTokenAndUser, hash, rs.dests())
	if err != nil {
		return store.RefreshToken{}, store.User{}, wrap("get refresh token and user", err)
	}
	return rs.token(), u, nil
}

// RotateRefreshToken implements store.Tokens. The old token is claimed by
// a conditional UPDATE: unused, or (grace > 0) used after at-grace, in
// which case its first UsedAt is kept. Concurrent callers queue on the
// row lock and re-check the condition against the committed row, so with
// grace 0 only the first matches. It does not check the old token's
// expiry (callers do).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, at time.Time, grace time.Duration,
	access store.AccessToken, refresh store.RefreshToken) error {
	return wrap("rotate refresh token", s.claim(ctx, rotateClaim(oldHash, at, grace, access, refresh)))
}

// rotateClaim is RotateRefreshToken's statement.
func rotateClaim(oldHash string, at time.Time, grace time.Duration, access store.AccessToken, refresh store.RefreshToken) claim {
	// NULL when there is no grace: "used_at > NULL" is never true.
	var cutoff any
	if grace > 0 {
		cutoff = at.Add(-grace)
	}
	args := append(append([]any{at, oldHash, cutoff}, accessTokenArgs(access)...), refreshTokenArgs(refresh)...)
	return claim{q: rotateRefresh, args: args, hash: oldHash, table: "refresh_tokens"}
}

// RevokeGrant implements store.Tokens. The grant's authorization code, if
// any, stays (used), so a replay of it is still recognized. Revoking an
// unknown grant is not an error.
func (s *Store) RevokeGrant(ctx context.Context, grantID string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM access_tokens WHERE grant_id = $1 AND user_uid IS NOT NULL`, grantID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE grant_id = $1`, grantID)
		return err
	})
	return wrap("revoke grant", err)
}

// DeleteExpiredTokens implements store.Tokens: codes and access tokens
// that expired before t, and refresh tokens with an expiry before t (never-
// expiring ones stay), used or not. It returns how many rows it deleted.
func (s *Store) DeleteExpiredTokens(ctx context.Context, t time.Time) (int, error) {
	total := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		total = 0 // inTx may run this again
		for _, q := range []string{
			`DELETE FROM auth_codes WHERE expires_at < $1`,
			`DELETE FROM access_tokens WHERE expires_at < $1`,
			`DELETE FROM refresh_tokens WHERE expires_at IS NOT NULL AND expires_at < $1`,
		} {
			tag, err := tx.Exec(ctx, q, t)
			if err != nil {
				return err
			}
			total += int(tag.RowsAffected())
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
	var c store.Consent
	err := s.pool.QueryRow(ctx, `SELECT user_uid, client_id, scopes, granted_at
		FROM consents WHERE user_uid = $1 AND client_id = $2`, userUID, clientID,
	).Scan(&c.UserUID, &c.ClientID, &c.Scopes, &c.GrantedAt)
	if err != nil {
		return store.Consent{}, wrap("get consent", err)
	}
	c.Scopes = fromStrList(c.Scopes)
	c.GrantedAt = c.GrantedAt.UTC()
	return c, nil
}

// SaveConsent implements store.Consents.
func (s *Store) SaveConsent(ctx context.Context, c store.Consent) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO consents (user_uid, client_id, scopes, granted_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_uid, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.UserUID, c.ClientID, strList(c.Scopes), c.GrantedAt)
	return wrap("save consent", err)
}

// maxRevokeRounds bounds RevokeAuthorization's rounds; each round but the
// last removes tokens that rotations committed during the round before,
// so more than a few means the app rotates faster than it can be revoked.
const maxRevokeRounds = 100

// RevokeAuthorization implements store.Consents in one transaction.
//
// Under READ COMMITTED a DELETE does not see rows committed after it
// started: a rotation (or redemption) that holds its old row's lock while
// the DELETE starts commits a new token the DELETE misses. So the unused
// codes go first (a DELETE waits for a redemption holding the code, whose
// tokens the later statements then see), and the refresh tokens are
// deleted in rounds until a round finds none: a rotation needs its old
// token, so once none is left and every one deleted is locked by this
// transaction, no new token of the grant can be committed. The access
// tokens go last, after every rotation that could add one has committed.
func (s *Store) RevokeAuthorization(ctx context.Context, userUID, clientID string) error {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n = 0 // inTx may run this again
		exec := func(q string) (int64, error) {
			tag, err := tx.Exec(ctx, q, userUID, clientID)
			n += tag.RowsAffected()
			return tag.RowsAffected(), err
		}
		for _, q := range []string{
			`DELETE FROM consents WHERE user_uid = $1 AND client_id = $2`,
			`DELETE FROM auth_codes WHERE user_uid = $1 AND client_id = $2 AND used_at IS NULL`,
		} {
			if _, err := exec(q); err != nil {
				return err
			}
		}
		for round := 0; ; round++ {
			if round == maxRevokeRounds {
				return fmt.Errorf("refresh tokens still being rotated after %d rounds", round)
			}
			k, err := exec(`DELETE FROM refresh_tokens WHERE user_uid = $1 AND client_id = $2`)
			if err != nil {
				return err
			}
			if k == 0 {
				break
			}
		}
		_, err := exec(`DELETE FROM access_tokens WHERE user_uid = $1 AND client_id = $2`)
		return err
	})
	if err == nil && n == 0 {
		err = pgx.ErrNoRows
	}
	return wrap("revoke authorization", err)
}

// ---- signing keys ----

const signingKeyColumns = `kid, alg, sealed_key, public_key, created_at, retired_at, published_to`

// signingKeyLockClass is the first key of the two-key advisory locks that
// serialize EnsureSigningKey and RotateSigningKey per algorithm ("tolk" in
// ASCII); the second is hashtext(alg). Two-key locks never collide with
// the one-key migration lock.
const signingKeyLockClass int32 = 0x746f6c6b

func lockAlg(ctx context.Context, tx pgx.Tx, alg string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, signingKeyLockClass, alg)
	return err
}

func scanSigningKey(r row) (store.SigningKey, error) {
	var (
		k                  store.SigningKey
		retired, published *time.Time
	)
	if err := r.Scan(&k.KID, &k.Alg, &k.SealedKey, &k.PublicKey, &k.CreatedAt, &retired, &published); err != nil {
		return store.SigningKey{}, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.RetiredAt, k.PublishedTo = fromNullTime(retired), fromNullTime(published)
	return k, nil
}

// insertActiveKey stores k as active: its RetiredAt and PublishedTo are
// ignored.
func insertActiveKey(ctx context.Context, db execer, k store.SigningKey) error {
	_, err := db.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, NULL, NULL)`,
		k.KID, k.Alg, blob(k.SealedKey), blob(k.PublicKey), k.CreatedAt)
	return err
}

// ListSigningKeys implements store.SigningKeys: newest first, keys created
// in the same microsecond by KID (bytewise, as in SQLite).
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at DESC, kid COLLATE "C"`)
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

// EnsureSigningKey implements store.SigningKeys. The transaction first
// takes the algorithm's advisory lock, so concurrent callers, in this
// process or others, take turns; under READ COMMITTED each later statement
// sees what earlier lock holders committed, so only the first inserts.
func (s *Store) EnsureSigningKey(ctx context.Context, k store.SigningKey) (store.SigningKey, error) {
	var active store.SigningKey
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAlg(ctx, tx, k.Alg); err != nil {
			return err
		}
		const q = `SELECT ` + signingKeyColumns + ` FROM signing_keys
			WHERE alg = $1 AND retired_at IS NULL ORDER BY created_at DESC, kid COLLATE "C" LIMIT 1`
		var err error
		active, err = scanSigningKey(tx.QueryRow(ctx, q, k.Alg))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := insertActiveKey(ctx, tx, k); err != nil {
			return err
		}
		active, err = scanSigningKey(tx.QueryRow(ctx, q, k.Alg))
		return err
	})
	if err != nil {
		return store.SigningKey{}, wrap("ensure signing key", err)
	}
	return active, nil
}

// RotateSigningKey implements store.SigningKeys, under the algorithm's
// advisory lock (see EnsureSigningKey). A zero at is refused: it would
// leave the old key active.
func (s *Store) RotateSigningKey(ctx context.Context, k store.SigningKey, at, publishUntil time.Time) error {
	if at.IsZero() {
		return errors.New("postgres: rotate signing key: zero retirement time")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAlg(ctx, tx, k.Alg); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`UPDATE signing_keys SET retired_at = $1, published_to = $2 WHERE alg = $3 AND retired_at IS NULL`,
			at, nullTime(publishUntil), k.Alg); err != nil {
			return err
		}
		return insertActiveKey(ctx, tx, k)
	})
	return wrap("rotate signing key", err)
}

// DeleteUnpublishedKeys implements store.SigningKeys. A retired key with a
// zero PublishedTo counts as unpublished, like any time before t.
func (s *Store) DeleteUnpublishedKeys(ctx context.Context, t time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM signing_keys
		WHERE retired_at IS NOT NULL AND (published_to IS NULL OR published_to < $1)`, t)
	if err != nil {
		return 0, wrap("delete unpublished keys", err)
	}
	return int(tag.RowsAffected()), nil
}
