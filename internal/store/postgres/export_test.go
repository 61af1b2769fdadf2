package postgres

import "context"

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
