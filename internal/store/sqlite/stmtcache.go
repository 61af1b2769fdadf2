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
