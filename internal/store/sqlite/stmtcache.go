package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements per query text. Preparing (parsing
// and planning) costs more than running most of tolk's point queries, and
// database/sql re-prepares a *sql.Stmt on each pooled connection by itself.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	st := c.m[q]
	c.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if prev := c.m[q]; prev != nil {
		c.mu.Unlock()
		st.Close()
		return prev, nil
	}
	c.m[q] = st
	c.mu.Unlock()
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// readExec runs read queries through cached statements on the read pool.
type readExec struct{ c *stmtCache }

// QueryRowContext runs a one-row lookup. It is not interrupted when ctx
// ends once it has started: the driver watches a cancellable context with a
// goroutine per statement, which cost more than the lookup by primary key
// it would interrupt. A ctx already done still fails it at once.
func (r readExec) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if ctx.Err() == nil {
		ctx = context.WithoutCancel(ctx)
	}
	st, err := r.c.get(ctx, q)
	if err != nil {
		// Surface the prepare error through the Row, as database/sql does.
		return r.c.db.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (r readExec) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := r.c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// preparedSet is a few statements prepared on the writer connection, for a
// multi-statement write transaction (Store.tx) on a hot path: a statement
// given to tx.ExecContext as text is prepared and finalized anew on every
// call, which in pure-Go SQLite costs more than running it. They are
// prepared before the transaction starts: the writer's only connection is
// busy inside it, and preparing there would wait on itself.
type preparedSet map[string]*sql.Stmt

func (s *Store) prepared(ctx context.Context, qs ...string) (preparedSet, error) {
	p := make(preparedSet, len(qs))
	for _, q := range qs {
		st, err := s.ws.get(ctx, q)
		if err != nil {
			return nil, err
		}
		p[q] = st
	}
	return p, nil
}

// execer is satisfied by *sql.DB, *sql.Tx and preparedTx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// on returns an execer that runs p's statements inside tx (the text of any
// other statement as tx.ExecContext does).
func (p preparedSet) on(tx *sql.Tx) execer { return preparedTx{tx, p} }

type preparedTx struct {
	tx *sql.Tx
	p  preparedSet
}

func (e preparedTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st, ok := e.p[q]; ok {
		return e.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return e.tx.ExecContext(ctx, q, args...)
}
