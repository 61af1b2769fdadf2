package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// Group commit. With synchronous=FULL every COMMIT waits for an fsync, and
// with one writer connection the fsyncs queue up: that, not SQL, bounds how
// many tokens per second tolk can issue. The committer therefore runs the
// writes that arrive while a commit is in flight together in the next
// transaction, each inside its own SAVEPOINT so that one failing write is
// rolled back alone. Every caller still returns only after the COMMIT that
// contains its write has reached the disk, so durability is unchanged; only
// the number of fsyncs shrinks.

// maxBatch bounds how many writes share one transaction, so one batch
// cannot hold the write lock for long.
const maxBatch = 128

var errClosed = errors.New("sqlite: store closed")

type writeOp struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	done chan error
	// single: fn runs exactly one statement, which SQLite makes atomic on
	// its own, so it needs no savepoint.
	single bool
}

type committer struct {
	once sync.Once
	db   *sql.DB
	ops  chan writeOp
	quit chan struct{}
	done chan struct{}
}

func newCommitter(db *sql.DB) *committer {
	c := &committer{db: db, ops: make(chan writeOp), quit: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// do runs fn in a write transaction shared with concurrent writes and
// returns once that transaction has committed (or fn has failed and been
// rolled back). It waits for the outcome even if ctx ends meanwhile, so a
// caller never reports failure for a write that committed.
func (c *committer) do(ctx context.Context, fn func(*sql.Tx) error) error {
	return c.submit(writeOp{ctx: ctx, fn: fn})
}

func (c *committer) submit(op writeOp) error {
	if err := op.ctx.Err(); err != nil {
		return err
	}
	op.done = make(chan error, 1)
	select {
	case c.ops <- op:
	case <-c.quit:
		return errClosed
	}
	return <-op.done
}

// close stops the committer; Store.Close may be called more than once.
func (c *committer) close() {
	c.once.Do(func() { close(c.quit) })
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	for {
		var first writeOp
		select {
		case first = <-c.ops:
		case <-c.quit:
			return
		}
		batch := []writeOp{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case op := <-c.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		c.run(batch)
	}
}

func (c *committer) run(batch []writeOp) {
	results := make([]error, len(batch))
	finish := func() {
		for i, op := range batch {
			op.done <- results[i]
		}
	}
	defer finish()
	// Not a request's context: the transaction serves the whole batch.
	tx, err := c.db.BeginTx(context.Background(), nil)
	if err != nil {
		for i := range results {
			results[i] = err
		}
		return
	}
	ok := 0
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if op.single {
			if results[i] = op.fn(tx); results[i] == nil {
				ok++
			}
			continue
		}
		if _, err := tx.Exec("SAVEPOINT op"); err != nil {
			results[i] = err
			continue
		}
		if err := op.fn(tx); err != nil {
			results[i] = err
			if _, rerr := tx.Exec("ROLLBACK TO op"); rerr != nil {
				// The transaction is unusable: fail the whole batch.
				_ = tx.Rollback()
				for j := range results {
					if results[j] == nil {
						results[j] = rerr
					}
				}
				return
			}
		} else {
			ok++
		}
		if _, err := tx.Exec("RELEASE op"); err != nil && results[i] == nil {
			results[i] = err
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
}

// groupExec is an execer whose every statement is its own write in the
// committer, for single-statement writes.
type groupExec struct {
	c     *committer
	stmts *stmtCache
}

func (g groupExec) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	// Prepare before queueing: the writer connection is busy inside the
	// batch transaction, and preparing there would wait on itself.
	st, err := g.stmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	var res sql.Result
	err = g.c.submit(writeOp{ctx: ctx, single: true, fn: func(tx *sql.Tx) error {
		var err error
		res, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		return err
	}})
	return res, err
}
