package sqlstore

import (
	"context"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- access token cutoffs ----

var (
	// cutSQL stores one cutoff; a key already cut keeps the later of each
	// time, so that a cutoff never moves back (CASE rather than greatest
	// or max, which the engines spell differently).
	cutSQL = Q(`INSERT INTO access_token_cutoffs (key, not_before, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			not_before = CASE WHEN excluded.not_before > access_token_cutoffs.not_before
				THEN excluded.not_before ELSE access_token_cutoffs.not_before END,
			expires_at = CASE WHEN excluded.expires_at > access_token_cutoffs.expires_at
				THEN excluded.expires_at ELSE access_token_cutoffs.expires_at END`)
	// AccessTokenCutSQL is AccessTokenCut's one read, by primary key
	// (the engines' plan tests): every access token verification runs it.
	// EXISTS answers a row either way, so the common answer (not cut) is
	// no error path.
	AccessTokenCutSQL = Q(`SELECT EXISTS (SELECT 1 FROM access_token_cutoffs
		WHERE key IN (?, ?, ?, ?, ?) AND not_before >= ?)`)
	// accessTokenCutOneSQL is AccessTokenCut for one key (client_credentials
	// asking whether its app was deleted): SQLite runs it in half the time
	// of the IN list, which it builds into a temporary index on every run
	// (BenchmarkAccessTokenCut).
	accessTokenCutOneSQL = Q(`SELECT EXISTS (SELECT 1 FROM access_token_cutoffs WHERE key = ? AND not_before >= ?)`)
)

// storeCuts stores cuts with exec, one statement each: a multi-row upsert
// fails on PostgreSQL when one key comes twice.
func (s *Store) storeCuts(ctx context.Context, exec execFunc, cuts []store.Cutoff) error {
	for _, c := range cuts {
		if _, err := exec(ctx, cutSQL, c.Key, s.db.Time(c.NotBefore), s.db.Time(c.ExpiresAt)); err != nil {
			return err
		}
	}
	return nil
}

// CutAccessTokens implements store.Tokens: one statement alone, several in
// one transaction.
func (s *Store) CutAccessTokens(ctx context.Context, cuts ...store.Cutoff) error {
	var err error
	switch len(cuts) {
	case 0:
	case 1:
		err = s.storeCuts(ctx, s.db.Exec, cuts)
	default:
		err = s.db.InTx(ctx, func(ctx context.Context, tx Tx) error { return s.storeCuts(ctx, tx.Exec, cuts) })
	}
	return s.Wrap("cut access tokens", err)
}

// AccessTokenCut implements store.Tokens in one read, which an engine may
// batch (ReadOne). A key the token does not have is NULL, which no IN
// matches, so that not even a cutoff stored under "" applies to it.
func (s *Store) AccessTokenCut(ctx context.Context, keys store.CutoffKeys, grantTime time.Time) (bool, error) {
	var cut bool
	if k, ok := onlyKey(keys); ok {
		err := s.db.ReadOne(ctx, accessTokenCutOneSQL, []any{k, s.db.Time(grantTime)}, &cut)
		return cut, s.Wrap("access token cut", err)
	}
	err := s.db.ReadOne(ctx, AccessTokenCutSQL, []any{NullString(keys.Token), NullString(keys.Grant),
		NullString(keys.Client), NullString(keys.User), NullString(keys.Authorization), s.db.Time(grantTime)}, &cut)
	return cut, s.Wrap("access token cut", err)
}

// onlyKey returns the one non-empty key of keys, if there is exactly one.
func onlyKey(keys store.CutoffKeys) (string, bool) {
	var only string
	n := 0
	for _, k := range [...]string{keys.Token, keys.Grant, keys.Client, keys.User, keys.Authorization} {
		if k != "" {
			only = k
			n++
		}
	}
	return only, n == 1
}
