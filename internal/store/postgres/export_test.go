package postgres

import (
	"context"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/internal/batch"
)

// SynchronousCommit reports synchronous_commit on a connection of the
// main pool and of the issuance pool, for tests.
func (s *Store) SynchronousCommit(ctx context.Context) (main, issue string, err error) {
	if err = s.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&main); err != nil {
		return "", "", err
	}
	err = s.issue.QueryRow(ctx, "SHOW synchronous_commit").Scan(&issue)
	return main, issue, err
}

// MaxConns reports the pools' sizes, for tests.
func (s *Store) MaxConns() (main, issue int32) {
	return s.pool.Config().MaxConns, s.issue.Config().MaxConns
}

// InsertTokenBatch inserts toks as one batch of the token batcher (its
// multi-row INSERT, or row by row when that fails) and returns each
// token's outcome, for tests.
func (s *Store) InsertTokenBatch(ctx context.Context, toks []store.AccessToken) []error {
	errs := runAsBatch(ctx, s.tokens, toks)
	for i, err := range errs {
		errs[i] = wrap("create access token", err)
	}
	return errs
}

// Redemption is one RedeemAuthCode (Refresh nil or not) or, with
// OldRefresh set, one RotateRefreshToken, for ClaimBatch.
type Redemption struct {
	Code       string
	OldRefresh string
	Grace      time.Duration
	At         time.Time
	Access     *store.AccessToken // nil: self-contained, no row
	Refresh    *store.RefreshToken
}

// ClaimBatch runs rs as one batch of the claim batcher (one pipeline, or
// one by one when that fails) and returns each one's outcome as
// RedeemAuthCode or RotateRefreshToken would, for tests.
func (s *Store) ClaimBatch(ctx context.Context, rs []Redemption) []error {
	cs := make([]claim, len(rs))
	for i, r := range rs {
		if r.OldRefresh != "" {
			cs[i] = rotateClaim(r.OldRefresh, r.At, r.Grace, r.Access, *r.Refresh)
		} else {
			cs[i] = codeClaim(r.Code, r.At, r.Access, r.Refresh)
		}
	}
	errs := s.RawClaimBatch(ctx, cs)
	for i := range errs {
		errs[i] = wrap("claim", s.claimed(ctx, cs[i], errs[i]))
	}
	return errs
}

// RawClaim is a claim statement of a test's own: q returns one count.
type RawClaim = claim

// NewRawClaim makes a RawClaim.
func NewRawClaim(q string, args ...any) RawClaim { return claim{q: q, args: args} }

// RawClaimBatch runs cs as one batch of the claim batcher and returns what
// it answered each (errUnclaimed as ErrUnclaimed), for tests.
func (s *Store) RawClaimBatch(ctx context.Context, cs []RawClaim) []error {
	return runAsBatch(ctx, s.claims, cs)
}

// ErrUnclaimed is what the claim batcher answers a claim that matched
// nothing.
var ErrUnclaimed = errUnclaimed

// ReadBatch runs one single-text-column query per key as one batch of the
// read batcher and returns each value and error (pgx.ErrNoRows for no
// row), for tests.
func (s *Store) ReadBatch(ctx context.Context, qs []string, keys []string) ([]string, []error) {
	vals := make([]string, len(qs))
	rs := make([]rowRead, len(qs))
	for i, q := range qs {
		rs[i] = rowRead{q: q, args: []any{keys[i]}, dests: []any{&vals[i]}}
	}
	return vals, runAsBatch(ctx, s.reads, rs)
}

// runAsBatch runs vs as one batch of b and returns each one's outcome.
func runAsBatch[T any](ctx context.Context, b *batcher[T], vs []T) []error {
	ops := make([]batch.Op[T], len(vs))
	for i, v := range vs {
		ops[i] = batch.NewOp(ctx, v)
	}
	b.run(ops)
	errs := make([]error, len(vs))
	for i, op := range ops {
		errs[i] = op.Wait()
	}
	return errs
}
