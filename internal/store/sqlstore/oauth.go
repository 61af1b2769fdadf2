package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- clients ----

const clientColumns = `id, org_uid, name, description, secret_hash, redirect_uris, grant_types,
	scopes, audiences, public, admin_consent, jwt_access_tokens, always_refresh, created_at, updated_at`

var (
	insertClientSQL = Q(`INSERT INTO clients (` + clientColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getClientSQL      = Q(`SELECT ` + clientColumns + ` FROM clients WHERE id = ?`)
	listClientsSQL    = Q(`SELECT ` + clientColumns + ` FROM clients ORDER BY created_at, id COLLATE "C"`)
	listOrgClientsSQL = Q(`SELECT ` + clientColumns + ` FROM clients WHERE org_uid = ? ORDER BY created_at, id COLLATE "C"`)
	updateClientSQL   = Q(`UPDATE clients SET
			name = ?, description = ?,
			redirect_uris = ?, grant_types = ?, scopes = ?, audiences = ?,
			public = ?, admin_consent = ?, jwt_access_tokens = ?, always_refresh = ?,
			updated_at = ?
		WHERE id = ?`)
	deleteClientSQL    = Q(`DELETE FROM clients WHERE id = ?`)
	setClientSecretSQL = Q(`UPDATE clients SET secret_hash = ?, updated_at = ? WHERE id = ?`)
)

func (s *Store) scanClient(r Row) (store.Client, error) {
	var c store.Client
	d := s.db
	if err := r.Scan(&c.ID, &c.OrgUID, &c.Name, &c.Description, &c.SecretHash,
		d.StringsDest(&c.RedirectURIs), d.StringsDest(&c.GrantTypes), d.StringsDest(&c.Scopes), d.StringsDest(&c.Audiences),
		&c.Public, &c.AdminConsent, &c.JWTAccessTokens, &c.AlwaysRefresh, d.TimeDest(&c.CreatedAt), d.TimeDest(&c.UpdatedAt)); err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// CreateClient implements store.Clients.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	d := s.db
	_, err := d.Exec(ctx, insertClientSQL, c.ID, c.OrgUID, c.Name, c.Description, c.SecretHash,
		d.Strings(c.RedirectURIs), d.Strings(c.GrantTypes), d.Strings(c.Scopes), d.Strings(c.Audiences),
		c.Public, c.AdminConsent, c.JWTAccessTokens, c.AlwaysRefresh, d.Time(c.CreatedAt), d.Time(c.UpdatedAt))
	return s.Wrap("create client", err)
}

// GetClient implements store.Clients.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := s.scanClient(s.db.QueryRow(ctx, getClientSQL, id))
	return c, s.Wrap("get client", err)
}

// ListClients implements store.Clients. Clients created in the same
// microsecond are ordered by ID, bytewise.
func (s *Store) ListClients(ctx context.Context, orgUID string) ([]store.Client, error) {
	var (
		rows Rows
		err  error
	)
	if orgUID == "" {
		rows, err = s.db.Query(ctx, listClientsSQL)
	} else {
		rows, err = s.db.Query(ctx, listOrgClientsSQL, orgUID)
	}
	cs, err := scanAll(rows, err, s.scanClient)
	return cs, s.Wrap("list clients", err)
}

// UpdateClient implements store.Clients.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	d := s.db
	err := oneRow(d.Exec(ctx, updateClientSQL, c.Name, c.Description,
		d.Strings(c.RedirectURIs), d.Strings(c.GrantTypes), d.Strings(c.Scopes), d.Strings(c.Audiences),
		c.Public, c.AdminConsent, c.JWTAccessTokens, c.AlwaysRefresh, d.Time(c.UpdatedAt), c.ID))
	return s.Wrap("update client", err)
}

// SetClientSecret implements store.Clients.
func (s *Store) SetClientSecret(ctx context.Context, id, secretHash string, at time.Time) error {
	return s.Wrap("set client secret", oneRow(s.db.Exec(ctx, setClientSecretSQL, secretHash, s.db.Time(at), id)))
}

// DeleteClient implements store.Clients; foreign keys cascade to the
// client's codes, tokens and consents. An unknown ID is ErrNotFound, and
// stores no cuts. Without cuts it is one statement.
func (s *Store) DeleteClient(ctx context.Context, id string, cuts ...store.Cutoff) error {
	if len(cuts) == 0 {
		return s.Wrap("delete client", oneRow(s.db.Exec(ctx, deleteClientSQL, id)))
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := oneRow(tx.Exec(ctx, deleteClientSQL, id)); err != nil {
			return err
		}
		return s.storeCuts(ctx, tx.Exec, cuts)
	})
	return s.Wrap("delete client", err)
}

// ---- authorization codes ----

// AuthCodeColumns are the columns AuthCodeScan receives.
const AuthCodeColumns = `hash, client_id, user_uid, redirect_uri, scopes, audiences, nonce,
	code_challenge, code_challenge_method, auth_time, grant_id, created_at, expires_at, used_at`

var (
	insertAuthCodeSQL = Q(`INSERT INTO auth_codes (` + AuthCodeColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getAuthCodeSQL = Q(`SELECT ` + AuthCodeColumns + ` FROM auth_codes WHERE hash = ?`)
	// getAuthCodeAndUser is built once: the code grant runs it on every
	// request.
	getAuthCodeAndUser = withUser("auth_codes", AuthCodeColumns, "hash")
)

// CreateAuthCode implements store.Tokens.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	d := s.db
	err := d.Issue(ctx, insertAuthCodeSQL, c.Hash, c.ClientID, c.UserUID, c.RedirectURI,
		d.Strings(c.Scopes), d.Strings(c.Audiences), c.Nonce, c.CodeChallenge, c.CodeChallengeMethod,
		d.NullTime(c.AuthTime), c.GrantID, d.Time(c.CreatedAt), d.Time(c.ExpiresAt), d.NullTime(c.UsedAt))
	return s.Wrap("create auth code", err)
}

func (s *Store) authCodeDests(c *store.AuthCode) []any {
	d := s.db
	return []any{&c.Hash, &c.ClientID, &c.UserUID, &c.RedirectURI, d.StringsDest(&c.Scopes), d.StringsDest(&c.Audiences), &c.Nonce,
		&c.CodeChallenge, &c.CodeChallengeMethod, d.TimeDest(&c.AuthTime), &c.GrantID,
		d.TimeDest(&c.CreatedAt), d.TimeDest(&c.ExpiresAt), d.TimeDest(&c.UsedAt)}
}

// GetAuthCode implements store.Tokens. It returns the code whether used
// or expired; callers check.
func (s *Store) GetAuthCode(ctx context.Context, hash string) (store.AuthCode, error) {
	var c store.AuthCode
	if err := s.db.QueryRow(ctx, getAuthCodeSQL, hash).Scan(s.authCodeDests(&c)...); err != nil {
		return store.AuthCode{}, s.Wrap("get auth code", err)
	}
	return c, nil
}

// GetAuthCodeAndUser implements store.Tokens in one query.
func (s *Store) GetAuthCodeAndUser(ctx context.Context, hash string) (store.AuthCode, store.User, error) {
	var c store.AuthCode
	u, err := s.getWithUser(ctx, getAuthCodeAndUser, hash, s.authCodeDests(&c))
	if err != nil {
		return store.AuthCode{}, store.User{}, s.Wrap("get auth code and user", err)
	}
	return c, u, nil
}

// CodeExists and RefreshExists tell, after a claim matched nothing,
// whether the credential exists (UsedOrMissing).
var (
	CodeExists    = Q(`SELECT EXISTS (SELECT 1 FROM auth_codes WHERE hash = ?)`)
	RefreshExists = Q(`SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE hash = ?)`)
)

// UsedOrMissing tells from r, the row of CodeExists or RefreshExists, why
// a single-use credential could not be claimed: store.ErrAlreadyUsed if it
// exists, else sql.ErrNoRows.
func UsedOrMissing(r Row) error {
	var found bool
	if err := r.Scan(&found); err != nil {
		return err
	}
	if found {
		return store.ErrAlreadyUsed
	}
	return errNoRows
}

// ---- access tokens ----

// AccessTokenColumns are the columns AccessTokenArgs gives.
const AccessTokenColumns = `hash, client_id, user_uid, org_uid, scopes, audiences, grant_id,
	auth_time, created_at, expires_at`

var (
	// InsertAccessToken inserts one access token (AccessTokenArgs).
	InsertAccessToken = Q(`INSERT INTO access_tokens (` + AccessTokenColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getAccessTokenSQL    = Q(`SELECT ` + AccessTokenColumns + ` FROM access_tokens WHERE hash = ?`)
	revokeAccessTokenSQL = Q(`DELETE FROM access_tokens WHERE hash = ?`)
)

// AccessTokenArgs are the arguments of AccessTokenColumns for t. A token
// without a user (client_credentials) has a NULL user.
func AccessTokenArgs(c Codec, t store.AccessToken) []any {
	return []any{t.Hash, t.ClientID, NullString(t.UserUID), t.OrgUID, c.Strings(t.Scopes), c.Strings(t.Audiences),
		t.GrantID, c.NullTime(t.AuthTime), c.Time(t.CreatedAt), c.Time(t.ExpiresAt)}
}

// CreateAccessToken implements store.Tokens. A foreign key violation (the
// client or user was just deleted) is store.ErrNotFound.
func (s *Store) CreateAccessToken(ctx context.Context, t store.AccessToken) error {
	err := s.db.Issue(ctx, InsertAccessToken, AccessTokenArgs(s.db, t)...)
	return s.Wrap("create access token", s.MissingParent(err))
}

// GetAccessToken implements store.Tokens. It returns the token whatever
// its expiry; callers check it.
func (s *Store) GetAccessToken(ctx context.Context, hash string) (store.AccessToken, error) {
	var t store.AccessToken
	d := s.db
	err := d.QueryRow(ctx, getAccessTokenSQL, hash).Scan(&t.Hash, &t.ClientID, d.NullStringDest(&t.UserUID), &t.OrgUID,
		d.StringsDest(&t.Scopes), d.StringsDest(&t.Audiences), &t.GrantID,
		d.TimeDest(&t.AuthTime), d.TimeDest(&t.CreatedAt), d.TimeDest(&t.ExpiresAt))
	if err != nil {
		return store.AccessToken{}, s.Wrap("get access token", err)
	}
	return t, nil
}

// RevokeAccessToken implements store.Tokens; of concurrent calls for one
// token exactly one reports true.
func (s *Store) RevokeAccessToken(ctx context.Context, hash string) (bool, error) {
	n, err := s.db.Exec(ctx, revokeAccessTokenSQL, hash)
	return n == 1, s.Wrap("revoke access token", err)
}

// ---- refresh tokens ----

// RefreshTokenColumns are the columns RefreshTokenArgs gives.
const RefreshTokenColumns = `hash, client_id, user_uid, org_uid, scopes, audiences, grant_id,
	auth_time, created_at, expires_at, used_at`

var (
	// InsertRefreshToken inserts one refresh token (RefreshTokenArgs).
	InsertRefreshToken = Q(`INSERT INTO refresh_tokens (` + RefreshTokenColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getRefreshTokenSQL = Q(`SELECT ` + RefreshTokenColumns + ` FROM refresh_tokens WHERE hash = ?`)
	// getRefreshTokenAndUser is built once: the refresh grant runs it on
	// every request.
	getRefreshTokenAndUser = withUser("refresh_tokens", RefreshTokenColumns, "hash")
)

// RefreshTokenArgs are the arguments of RefreshTokenColumns for t.
func RefreshTokenArgs(c Codec, t store.RefreshToken) []any {
	return []any{t.Hash, t.ClientID, t.UserUID, t.OrgUID, c.Strings(t.Scopes), c.Strings(t.Audiences), t.GrantID,
		c.NullTime(t.AuthTime), c.Time(t.CreatedAt), c.NullTime(t.ExpiresAt), c.NullTime(t.UsedAt)}
}

func (s *Store) refreshTokenDests(t *store.RefreshToken) []any {
	d := s.db
	return []any{&t.Hash, &t.ClientID, &t.UserUID, &t.OrgUID, d.StringsDest(&t.Scopes), d.StringsDest(&t.Audiences), &t.GrantID,
		d.TimeDest(&t.AuthTime), d.TimeDest(&t.CreatedAt), d.TimeDest(&t.ExpiresAt), d.TimeDest(&t.UsedAt)}
}

// GetRefreshToken implements store.Tokens. It returns the token whether
// used or expired; callers check.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	var t store.RefreshToken
	if err := s.db.QueryRow(ctx, getRefreshTokenSQL, hash).Scan(s.refreshTokenDests(&t)...); err != nil {
		return store.RefreshToken{}, s.Wrap("get refresh token", err)
	}
	return t, nil
}

// GetRefreshTokenAndUser implements store.Tokens in one query.
func (s *Store) GetRefreshTokenAndUser(ctx context.Context, hash string) (store.RefreshToken, store.User, error) {
	var t store.RefreshToken
	u, err := s.getWithUser(ctx, getRefreshTokenAndUser, hash, s.refreshTokenDests(&t))
	if err != nil {
		return store.RefreshToken{}, store.User{}, s.Wrap("get refresh token and user", err)
	}
	return t, u, nil
}

// Access tokens by grant and by user. Their indexes leave out tokens
// without a user (client_credentials: revoked only by hash), so each query
// says user_uid IS NOT NULL, or implies it, to be planned on them
// (migration 0010, TestAccessTokenPlans).
var (
	RevokeGrantAccess = Q(`DELETE FROM access_tokens WHERE grant_id = ? AND user_uid IS NOT NULL`)
	UserFamilyAccess  = Q(`DELETE FROM access_tokens WHERE grant_id IN (SELECT grant_id FROM refresh_tokens WHERE user_uid = ?) AND user_uid IS NOT NULL`)
	UserAccess        = Q(`DELETE FROM access_tokens WHERE user_uid = ?`)

	revokeGrantRefreshSQL = Q(`DELETE FROM refresh_tokens WHERE grant_id = ?`)
)

// RevokeGrant implements store.Tokens. The grant's authorization code, if
// any, stays (used), so a replay of it is still recognized. Revoking an
// unknown grant is not an error, and its cuts are stored all the same:
// its self-contained access tokens have no rows.
func (s *Store) RevokeGrant(ctx context.Context, grantID string, cuts ...store.Cutoff) error {
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		if _, err := tx.Exec(ctx, RevokeGrantAccess, grantID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, revokeGrantRefreshSQL, grantID); err != nil {
			return err
		}
		return s.storeCuts(ctx, tx.Exec, cuts)
	})
	return s.Wrap("revoke grant", err)
}

// ---- consents ----

var (
	getConsentSQL = Q(`SELECT user_uid, client_id, scopes, granted_at
		FROM consents WHERE user_uid = ? AND client_id = ?`)
	saveConsentSQL = Q(`INSERT INTO consents (user_uid, client_id, scopes, granted_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (user_uid, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`)
	revokeConsentSQL = []Query{
		Q(`DELETE FROM consents WHERE user_uid = ? AND client_id = ?`),
		Q(`DELETE FROM auth_codes WHERE hash IN (SELECT hash FROM auth_codes
			WHERE user_uid = ? AND client_id = ? AND used_at IS NULL ORDER BY hash COLLATE "C" FOR UPDATE)`),
	}
	// The rows are locked in the order of their hashes, the order in which
	// PostgreSQL's claim batches lock them (claimPipeline): a revocation
	// and a batch of rotations of the same grant then wait for each other
	// instead of deadlocking.
	revokeAuthorizationRefreshSQL = Q(`DELETE FROM refresh_tokens WHERE hash IN (SELECT hash FROM refresh_tokens
		WHERE user_uid = ? AND client_id = ? ORDER BY hash COLLATE "C" FOR UPDATE)`)
	// RevokeAuthorizationAccess is planned on the partial index by user
	// (TestAccessTokenPlans).
	RevokeAuthorizationAccess = Q(`DELETE FROM access_tokens WHERE user_uid = ? AND client_id = ?`)
)

// GetConsent implements store.Consents.
func (s *Store) GetConsent(ctx context.Context, userUID, clientID string) (store.Consent, error) {
	var c store.Consent
	err := s.db.QueryRow(ctx, getConsentSQL, userUID, clientID).Scan(&c.UserUID, &c.ClientID,
		s.db.StringsDest(&c.Scopes), s.db.TimeDest(&c.GrantedAt))
	if err != nil {
		return store.Consent{}, s.Wrap("get consent", err)
	}
	return c, nil
}

// SaveConsent implements store.Consents.
func (s *Store) SaveConsent(ctx context.Context, c store.Consent) error {
	_, err := s.db.Exec(ctx, saveConsentSQL, c.UserUID, c.ClientID, s.db.Strings(c.Scopes), s.db.Time(c.GrantedAt))
	return s.Wrap("save consent", err)
}

// maxRevokeRounds bounds RevokeAuthorization's rounds; each round but the
// last removes tokens that rotations committed during the round before,
// so more than a few means the app rotates faster than it can be revoked.
const maxRevokeRounds = 100

// RevokeAuthorization implements store.Consents in one transaction.
//
// SQLite runs one writer at a time, so no redemption or rotation can
// interleave with it. Under PostgreSQL's READ COMMITTED a DELETE does not
// see rows committed after it started: a rotation (or redemption) that
// holds its old row's lock while the DELETE starts commits a new token the
// DELETE misses. So the unused codes go first (a DELETE waits for a
// redemption holding the code, whose tokens the later statements then
// see), and the refresh tokens are deleted in rounds until a round finds
// none: a rotation needs its old token, so once none is left and every one
// deleted is locked by this transaction, no new token of the grant can be
// committed. The access tokens go last, after every rotation that could
// add one has committed, then the cuts.
//
// The cuts are committed even when no row was found (ErrNotFound): the
// authorization may still have self-contained access tokens, which have
// no rows.
func (s *Store) RevokeAuthorization(ctx context.Context, userUID, clientID string, cuts ...store.Cutoff) error {
	var n int64
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		n = 0
		exec := func(q Query) (int64, error) {
			k, err := tx.Exec(ctx, q, userUID, clientID)
			n += k
			return k, err
		}
		for _, q := range revokeConsentSQL {
			if _, err := exec(q); err != nil {
				return err
			}
		}
		for round := 0; ; round++ {
			if round == maxRevokeRounds {
				return fmt.Errorf("refresh tokens still being rotated after %d rounds", round)
			}
			k, err := exec(revokeAuthorizationRefreshSQL)
			if err != nil {
				return err
			}
			if k == 0 {
				break
			}
		}
		if _, err := exec(RevokeAuthorizationAccess); err != nil {
			return err
		}
		return s.storeCuts(ctx, tx.Exec, cuts)
	})
	if err == nil && n == 0 {
		err = errNoRows
	}
	return s.Wrap("revoke authorization", err)
}

// ---- signing keys ----

const signingKeyColumns = `kid, alg, sealed_key, public_key, created_at, retired_at, published_to`

var (
	insertActiveKeySQL = Q(`INSERT INTO signing_keys (` + signingKeyColumns + `)
		VALUES (?, ?, ?, ?, ?, NULL, NULL)`)
	listSigningKeysSQL = Q(`SELECT ` + signingKeyColumns + ` FROM signing_keys ORDER BY created_at DESC, kid COLLATE "C"`)
	activeKeySQL       = Q(`SELECT ` + signingKeyColumns + ` FROM signing_keys
			WHERE alg = ? AND retired_at IS NULL ORDER BY created_at DESC, kid COLLATE "C" LIMIT 1`)
	retireKeysSQL            = Q(`UPDATE signing_keys SET retired_at = ?, published_to = ? WHERE alg = ? AND retired_at IS NULL`)
	deleteUnpublishedKeysSQL = Q(`DELETE FROM signing_keys
		WHERE retired_at IS NOT NULL AND (published_to IS NULL OR published_to < ?)`)
)

func (s *Store) scanSigningKey(r Row) (store.SigningKey, error) {
	var k store.SigningKey
	d := s.db
	if err := r.Scan(&k.KID, &k.Alg, &k.SealedKey, &k.PublicKey,
		d.TimeDest(&k.CreatedAt), d.TimeDest(&k.RetiredAt), d.TimeDest(&k.PublishedTo)); err != nil {
		return store.SigningKey{}, err
	}
	return k, nil
}

// insertActiveKey stores k as active: its RetiredAt and PublishedTo are
// ignored.
func (s *Store) insertActiveKey(ctx context.Context, tx Tx, k store.SigningKey) error {
	_, err := tx.Exec(ctx, insertActiveKeySQL, k.KID, k.Alg, Blob(k.SealedKey), Blob(k.PublicKey), s.db.Time(k.CreatedAt))
	return err
}

// ListSigningKeys implements store.SigningKeys: newest first, keys created
// in the same microsecond by KID (bytewise).
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.db.Query(ctx, listSigningKeysSQL)
	ks, err := scanAll(rows, err, s.scanSigningKey)
	return ks, s.Wrap("list signing keys", err)
}

// EnsureSigningKey implements store.SigningKeys. The transaction holds
// the algorithm's lock from the look-up to the insert (SQLite's write
// lock, PostgreSQL's advisory lock), so of concurrent callers, in this
// process or others, only the first inserts.
func (s *Store) EnsureSigningKey(ctx context.Context, k store.SigningKey) (store.SigningKey, error) {
	var active store.SigningKey
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := s.db.LockSigningKeys(ctx, tx, k.Alg); err != nil {
			return err
		}
		var err error
		active, err = s.scanSigningKey(tx.QueryRow(ctx, activeKeySQL, k.Alg))
		if !errors.Is(err, errNoRows) {
			return err
		}
		if err := s.insertActiveKey(ctx, tx, k); err != nil {
			return err
		}
		active, err = s.scanSigningKey(tx.QueryRow(ctx, activeKeySQL, k.Alg))
		return err
	})
	if err != nil {
		return store.SigningKey{}, s.Wrap("ensure signing key", err)
	}
	return active, nil
}

// RotateSigningKey implements store.SigningKeys, under the algorithm's
// lock (see EnsureSigningKey). A zero at is refused: it would leave the
// old key active.
func (s *Store) RotateSigningKey(ctx context.Context, k store.SigningKey, at, publishUntil time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("%s: rotate signing key: zero retirement time", s.name)
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := s.db.LockSigningKeys(ctx, tx, k.Alg); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, retireKeysSQL, s.db.Time(at), s.db.NullTime(publishUntil), k.Alg); err != nil {
			return err
		}
		return s.insertActiveKey(ctx, tx, k)
	})
	return s.Wrap("rotate signing key", err)
}

// DeleteUnpublishedKeys implements store.SigningKeys. A retired key with a
// zero PublishedTo counts as unpublished, like any time before t.
func (s *Store) DeleteUnpublishedKeys(ctx context.Context, t time.Time) (int, error) {
	n, err := s.db.Exec(ctx, deleteUnpublishedKeysSQL, s.db.Time(t))
	return int(n), s.Wrap("delete unpublished keys", err)
}
