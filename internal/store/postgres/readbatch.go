package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rowRead is a query of at most one row and where to scan it.
type rowRead struct {
	q     string
	args  []any
	dests []any
}

// maxReadBatch bounds a read batch.
const maxReadBatch = 32

// newReadBatcher pipelines the single-row reads of a credential with its
// user made at the same time (getWithUser: the code or refresh token being
// redeemed, the platform token being exchanged or verified), and of an
// access token's cutoffs (AccessTokenCut), on pool: one
// round trip and one transaction for the batch. Each read takes its own
// snapshot, as it would alone.
func newReadBatcher(h *health, pool *pgxpool.Pool) *batcher[rowRead] {
	return newBatcher(2, maxReadBatch, func(ctx context.Context, rs []rowRead, errs []error) {
		readRows(ctx, h, pool, rs, errs)
	})
}

// readRows runs rs and answers each in errs: nil, pgx.ErrNoRows or the
// error of its query.
func readRows(ctx context.Context, h *health, pool *pgxpool.Pool, rs []rowRead, errs []error) {
	if len(rs) > 1 {
		// Reads run again across a short outage, whatever happened.
		err := h.do(ctx, readOp, func() error {
			b := &pgx.Batch{}
			for _, r := range rs {
				b.Queue(r.q, r.args...)
			}
			br := pool.SendBatch(ctx, b)
			var failed error
			for i, r := range rs {
				err := br.QueryRow().Scan(r.dests...)
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					failed = err
					break
				}
				errs[i] = err
			}
			if err := br.Close(); err != nil {
				return err
			}
			return failed
		})
		if err == nil {
			return
		}
		if unavailable(err) {
			for i := range errs {
				errs[i] = err
			}
			return
		}
	}
	// Alone, or after a pipeline that failed: each read on its own.
	for i, r := range rs {
		errs[i] = h.do(ctx, readOp, func() error { return pool.QueryRow(ctx, r.q, r.args...).Scan(r.dests...) })
	}
}
