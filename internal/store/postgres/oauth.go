package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlstore"
)

// The token endpoint's writes: each claim runs as one statement in a
// batch (claimbatch.go), and access tokens are inserted in multi-row
// batches (tokenbatch.go); the other token methods are shared (sqlstore).

// RedeemAuthCode implements store.Tokens in one statement (claimAndIssueSQL):
// the conditional UPDATE claims the code: concurrent callers queue on its
// row lock and, under READ COMMITTED, re-check "used_at IS NULL" against
// the winner's committed row, so only the first matches (in one batch of
// claimbatch.go, the claims are in order within one transaction: the
// second sees the first's row). It does not check the code's expiry
// (callers do, as with GetAuthCode). A nil access is self-contained: it
// has no row, and the statement inserts none.
func (s *Store) RedeemAuthCode(ctx context.Context, codeHash string, at time.Time, access *store.AccessToken, refresh *store.RefreshToken) error {
	return wrap("redeem auth code", s.claim(ctx, codeClaim(codeHash, at, access, refresh)))
}

// codeClaim is RedeemAuthCode's statement.
func codeClaim(codeHash string, at time.Time, access *store.AccessToken, refresh *store.RefreshToken) claim {
	// Room for every argument: one allocation whatever is issued.
	c := claim{args: make([]any, 0, 2+len(accessTokenTypes)+len(refreshTokenTypes)), hash: codeHash, table: "auth_codes"}
	c.args = append(c.args, at, codeHash)
	if access != nil {
		c.args = append(c.args, accessTokenArgs(*access)...)
	}
	if refresh != nil {
		c.args = append(c.args, refreshTokenArgs(*refresh)...)
	}
	c.q = redeemCode[b2i(access != nil)][b2i(refresh != nil)]
	return c
}

// RotateRefreshToken implements store.Tokens. The old token is claimed by
// a conditional UPDATE: unused, or (grace > 0) used after at-grace, in
// which case its first UsedAt is kept. Concurrent callers queue on the
// row lock and re-check the condition against the committed row, so with
// grace 0 only the first matches. It does not check the old token's
// expiry (callers do). A nil access is self-contained: it has no row.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, at time.Time, grace time.Duration,
	access *store.AccessToken, refresh store.RefreshToken) error {
	return wrap("rotate refresh token", s.claim(ctx, rotateClaim(oldHash, at, grace, access, refresh)))
}

// rotateClaim is RotateRefreshToken's statement.
func rotateClaim(oldHash string, at time.Time, grace time.Duration, access *store.AccessToken, refresh store.RefreshToken) claim {
	// NULL when there is no grace: "used_at > NULL" is never true.
	var cutoff any
	if grace > 0 {
		cutoff = at.Add(-grace)
	}
	args := append(make([]any, 0, 3+len(accessTokenTypes)+len(refreshTokenTypes)), at, oldHash, cutoff)
	if access != nil {
		args = append(args, accessTokenArgs(*access)...)
	}
	args = append(args, refreshTokenArgs(refresh)...)
	return claim{q: rotateRefresh[b2i(access != nil)], args: args, hash: oldHash, table: "refresh_tokens"}
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
	exists := sqlstore.CodeExists
	if c.table == "refresh_tokens" {
		exists = sqlstore.RefreshExists
	}
	return sqlstore.UsedOrMissing(engine{s: s}.QueryRow(ctx, exists, c.hash))
}

// claimAuthCode claims an unused code.
const claimAuthCode = `UPDATE auth_codes SET used_at = $1 WHERE hash = $2 AND used_at IS NULL`

// claimRefreshToken claims an unused refresh token, or one used within
// the grace ($3; NULL: none).
const claimRefreshToken = `UPDATE refresh_tokens SET used_at = coalesce(used_at, $1)
			WHERE hash = $2 AND (used_at IS NULL OR used_at > $3::timestamptz)`

// The claim-and-issue statements, built once, indexed by whether they
// insert an access token (a self-contained one has no row) and, for
// codes, a refresh token.
var (
	redeemCode = [2][2]string{
		{claimAndIssueSQL(claimAuthCode, 2, false, false), claimAndIssueSQL(claimAuthCode, 2, false, true)},
		{claimAndIssueSQL(claimAuthCode, 2, true, false), claimAndIssueSQL(claimAuthCode, 2, true, true)},
	}
	rotateRefresh = [2]string{claimAndIssueSQL(claimRefreshToken, 3, false, true), claimAndIssueSQL(claimRefreshToken, 3, true, true)}
)

// b2i indexes the statements above.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// claimAndIssueSQL is one statement that runs claim (an UPDATE of one
// single-use row, with claimArgs parameters) and, only if it matched,
// inserts, with access, an access token (the next parameters,
// accessTokenArgs) and, with refresh, a refresh token (then
// refreshTokenArgs). Data-modifying CTEs commit together or not at all,
// like a transaction.
func claimAndIssueSQL(claim string, claimArgs int, access, refresh bool) string {
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
	q.WriteString("WITH claimed AS (" + claim + " RETURNING 1)")
	if access {
		q.WriteString(",\naccess AS (INSERT INTO access_tokens (" + sqlstore.AccessTokenColumns + ") SELECT ")
		params(accessTokenTypes)
		q.WriteString(" FROM claimed)")
	}
	if refresh {
		q.WriteString(",\nrefresh AS (INSERT INTO refresh_tokens (" + sqlstore.RefreshTokenColumns + ") SELECT ")
		params(refreshTokenTypes)
		q.WriteString(" FROM claimed)")
	}
	q.WriteString("\nSELECT count(*) FROM claimed")
	return q.String()
}

// accessTokenTypes and refreshTokenTypes are the types of
// sqlstore.AccessTokenColumns and RefreshTokenColumns.
var (
	accessTokenTypes  = []string{"text", "text", "text", "text", "text[]", "text[]", "text", "timestamptz", "timestamptz", "timestamptz"}
	refreshTokenTypes = []string{"text", "text", "text", "text", "text[]", "text[]", "text", "timestamptz", "timestamptz", "timestamptz", "timestamptz"}
)

func accessTokenArgs(t store.AccessToken) []any { return sqlstore.AccessTokenArgs(codec{}, t) }

func refreshTokenArgs(t store.RefreshToken) []any { return sqlstore.RefreshTokenArgs(codec{}, t) }

var insertAccessTokenSQL = sqlstore.InsertAccessToken.In(sqlstore.PostgreSQL)

func insertAccessToken(ctx context.Context, db execer, t store.AccessToken) error {
	_, err := db.Exec(ctx, insertAccessTokenSQL, accessTokenArgs(t)...)
	return err
}

// CreateAccessToken implements store.Tokens. An empty UserUID
// (client_credentials) is stored as NULL. Concurrent calls share one
// multi-row INSERT (tokenBatcher).
func (s *Store) CreateAccessToken(ctx context.Context, t store.AccessToken) error {
	return wrap("create access token", s.MissingParent(s.tokens.do(ctx, t)))
}
