package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlstore"
)

// The token endpoint's claims: each runs in one transaction on statements
// prepared beforehand (preparedSet); the other token methods are shared
// (sqlstore).

var (
	claimAuthCodeSQL      = sqlstore.Q(`UPDATE auth_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL`)
	claimRefreshTokenSQL  = sqlstore.Q(`UPDATE refresh_tokens SET used_at = coalesce(used_at, ?) WHERE hash = ? AND (used_at IS NULL OR used_at > ?)`)
	insertAccessTokenSQL  = sqlstore.InsertAccessToken.In(sqlstore.SQLite)
	insertRefreshTokenSQL = sqlstore.InsertRefreshToken.In(sqlstore.SQLite)
)

// RedeemAuthCode implements store.Tokens. The conditional UPDATE claims the
// code; on the single writer connection only the first of concurrent
// callers finds it unused. It does not check the code's expiry (callers
// do, as with GetAuthCode).
func (s *Store) RedeemAuthCode(ctx context.Context, codeHash string, at time.Time, access *store.AccessToken, refresh *store.RefreshToken) error {
	err := s.claimAndIssue(ctx, claimAuthCodeSQL, []any{micros(at), codeHash}, sqlstore.CodeExists, codeHash, access, refresh)
	return wrap("redeem auth code", err)
}

// RotateRefreshToken implements store.Tokens. The old token is claimed by
// a conditional UPDATE: unused, or (grace > 0) used after at-grace, in
// which case its first UsedAt is kept. It does not check the old token's
// expiry (callers do).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, at time.Time, grace time.Duration,
	access *store.AccessToken, refresh store.RefreshToken) error {
	// NULL when there is no grace: "used_at > NULL" is never true.
	var cutoff sql.NullInt64
	if grace > 0 {
		cutoff = sql.NullInt64{Int64: micros(at.Add(-grace)), Valid: true}
	}
	err := s.claimAndIssue(ctx, claimRefreshTokenSQL, []any{micros(at), oldHash, cutoff}, sqlstore.RefreshExists, oldHash, access, &refresh)
	return wrap("rotate refresh token", err)
}

// claimAndIssue claims a single-use credential with claim (a conditional
// UPDATE of one row) and stores the tokens issued for it, in one
// transaction on statements prepared beforehand (preparedSet). A nil
// access is self-contained: it has no row. When the claim finds no row,
// exists (given hash) tells store.ErrAlreadyUsed from not found.
func (s *Store) claimAndIssue(ctx context.Context, claim sqlstore.Query, claimArgs []any, exists sqlstore.Query, hash string,
	access *store.AccessToken, refresh *store.RefreshToken) error {
	claimSQL := claim.In(sqlstore.SQLite)
	pt, err := s.prepared(ctx, claimSQL, insertAccessTokenSQL, insertRefreshTokenSQL)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ex := pt.on(tx)
		n, err := affected(ex.ExecContext(ctx, claimSQL, claimArgs...))
		if err != nil {
			return err
		}
		if n == 0 {
			return sqlstore.UsedOrMissing(tx.QueryRowContext(ctx, exists.In(sqlstore.SQLite), hash))
		}
		if access != nil {
			if _, err := ex.ExecContext(ctx, insertAccessTokenSQL, sqlstore.AccessTokenArgs(codec{}, *access)...); err != nil {
				return err
			}
		}
		if refresh != nil {
			_, err = ex.ExecContext(ctx, insertRefreshTokenSQL, sqlstore.RefreshTokenArgs(codec{}, *refresh)...)
		}
		return err
	})
}
