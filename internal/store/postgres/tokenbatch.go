package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlstore"
)

// newTokenBatcher gathers access-token inserts made at the same time into
// one multi-row INSERT on pool. A token request's only statement is that
// INSERT, and one INSERT per token costs a round trip on each side and, in
// the PostgreSQL backend, a statement and a transaction per row, most of a
// token's cost there (docs/performance.md); a batch of k shares them. A batch that fails (a row whose client was just
// deleted, a duplicate) is retried row by row, so that each caller gets its
// own outcome and no other row is lost.
func newTokenBatcher(h *health, pool *pgxpool.Pool) *batcher[store.AccessToken] {
	return newBatcher(2, maxTokenBatch, func(ctx context.Context, toks []store.AccessToken, errs []error) {
		insertTokens(ctx, h, pool, toks, errs)
	})
}

// maxTokenBatch bounds a token batch's rows (10 parameters each, far below
// PostgreSQL's 65535).
const maxTokenBatch = 64

// insertTokens inserts toks, one multi-row INSERT or, when that fails, row
// by row, and answers each in errs. Each token's hash is fresh and
// random, so an INSERT runs again across a short outage even when an
// attempt's answer was lost (insertOp): finding its rows there means that
// attempt committed.
func insertTokens(ctx context.Context, h *health, pool *pgxpool.Pool, toks []store.AccessToken, errs []error) {
	if len(toks) > 1 {
		args := make([]any, 0, len(toks)*len(accessTokenTypes))
		for _, t := range toks {
			args = append(args, accessTokenArgs(t)...)
		}
		err := h.do(ctx, insertOp, func() error {
			_, err := pool.Exec(ctx, multiRowInserts[len(toks)], args...)
			return err
		})
		if err == nil {
			return
		}
		if unavailable(err) {
			// Still unreachable after the outage wait: row by row would
			// wait it out once per row.
			for i := range errs {
				errs[i] = err
			}
			return
		}
	}
	for i, t := range toks {
		errs[i] = h.do(ctx, insertOp, func() error { return insertAccessToken(ctx, pool, t) })
	}
}

// multiRowInserts holds the INSERT of k rows at index k: one text per
// size, so that each is prepared once per connection.
var multiRowInserts = func() []string {
	qs := make([]string, maxTokenBatch+1)
	for k := 2; k <= maxTokenBatch; k++ {
		qs[k] = insertRows("access_tokens", sqlstore.AccessTokenColumns, k, len(accessTokenTypes))
	}
	return qs
}()

// insertRows is an INSERT into table of rows rows of cols parameters each
// ($1 … $rows×cols, row by row).
func insertRows(table, columns string, rows, cols int) string {
	var q strings.Builder
	q.WriteString("INSERT INTO " + table + " (" + columns + ") VALUES ")
	for r := range rows {
		if r > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for c := range cols {
			if c > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('$')
			q.WriteString(strconv.Itoa(r*cols + c + 1))
		}
		q.WriteByte(')')
	}
	return q.String()
}
