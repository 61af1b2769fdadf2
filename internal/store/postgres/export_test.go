package postgres

import (
	"context"

	"github.com/tolk-project/tolk/internal/store"
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
	batch := make([]tokenInsert, len(toks))
	for i, t := range toks {
		batch[i] = tokenInsert{ctx: ctx, t: t, done: make(chan error, 1)}
	}
	s.tokens.run(batch)
	errs := make([]error, len(toks))
	for i, op := range batch {
		errs[i] = wrap("create access token", <-op.done)
	}
	return errs
}
