package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// claim is one claim-and-issue statement (claimAndIssueSQL) with its
// arguments; hash is the single-use credential it claims, in table.
type claim struct {
	q     string
	args  []any
	hash  string
	table string
}

// errUnclaimed answers a claim that matched nothing (used, or missing).
var errUnclaimed = errors.New("postgres: nothing claimed")

// maxClaimBatch bounds a claim batch.
const maxClaimBatch = 32

// newClaimBatcher group-commits redemptions on pool, whose commits are
// synchronous: a batch is one pipeline of claim statements in one implicit
// transaction, and no caller is answered before that transaction's commit
// has returned, so a token answered to a client survives a crash of the
// database server as a lone redemption's does. Within a batch the claims
// run one after the other, so two redemptions of one credential still see
// each other as two transactions would: the second finds it used (or,
// for a refresh token in its grace window, used within it).
func newClaimBatcher(h *health, pool *pgxpool.Pool) *batcher[claim] {
	return newBatcher(2, maxClaimBatch, func(ctx context.Context, cs []claim, errs []error) {
		runClaims(ctx, h, pool, cs, errs)
	})
}

// runClaims runs cs and answers each in errs: nil, errUnclaimed or the
// error of its statement.
func runClaims(ctx context.Context, h *health, pool *pgxpool.Pool, cs []claim, errs []error) {
	if len(cs) > 1 {
		// Across a short outage the pipeline runs again only while it
		// certainly did not run (writeOp): a claim must not be spent twice.
		err := h.do(ctx, writeOp, func() error { return claimPipeline(ctx, pool, cs, errs) })
		if err == nil {
			return
		}
		if !rolledBack(err) || unavailable(err) {
			// The pipeline may have committed (the connection was lost
			// after its commit, say): run again, its claims would find
			// their credentials used and report replays. Or the database
			// stayed unreachable past the outage wait, which each claim
			// alone would only wait out again.
			for i := range errs {
				errs[i] = err
			}
			return
		}
	}
	// Alone, or after a batch that the server rolled back (a deadlock
	// against a client's deletion, a token whose client was just
	// deleted): each claim on its own, so that each gets its own outcome.
	for i, c := range cs {
		errs[i] = claimOne(ctx, h, pool, c)
	}
}

// rolledBack tells whether err, a pipeline's, certainly left its
// transaction rolled back: an error the server reported for a statement
// or the commit, the session still alive.
func rolledBack(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Severity != "FATAL" && pe.Severity != "PANIC"
}

// claimOne runs one claim as its own transaction.
func claimOne(ctx context.Context, h *health, pool *pgxpool.Pool, c claim) error {
	var n int
	// One statement is its own transaction, and can deadlock as one (its
	// row locks against a client's deletion cascading the other way).
	if err := retrying(ctx, func() error {
		return h.do(ctx, writeOp, func() error { return pool.QueryRow(ctx, c.q, c.args...).Scan(&n) })
	}); err != nil {
		return err
	}
	if n == 0 {
		return errUnclaimed
	}
	return nil
}

// claimPipeline runs cs as one pipeline, in one implicit transaction, and
// answers each in errs; on an error errs is untouched (and whether the
// transaction committed is rolledBack's to tell).
//
// The claims run in the order of their credentials' hashes: two batches
// in flight that claim the same two credentials (a replay of both) then
// lock their rows in the same order rather than deadlock.
func claimPipeline(ctx context.Context, pool *pgxpool.Pool, cs []claim, errs []error) error {
	order := make([]int, len(cs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(cs[a].table, cs[b].table), strings.Compare(cs[a].hash, cs[b].hash))
	})
	b := &pgx.Batch{}
	for _, i := range order {
		b.Queue(cs[i].q, cs[i].args...)
	}
	br := pool.SendBatch(ctx, b)
	claimed := make([]bool, len(cs))
	for _, i := range order {
		var n int
		if err := br.QueryRow().Scan(&n); err != nil {
			br.Close()
			return err
		}
		claimed[i] = n > 0
	}
	// Close reads up to the end of the pipeline, past its commit: a
	// claim's row came back before the transaction committed, and is not
	// an answer until it has.
	if err := br.Close(); err != nil {
		return err
	}
	for i, ok := range claimed {
		if !ok {
			errs[i] = errUnclaimed
		}
	}
	return nil
}
