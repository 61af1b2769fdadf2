package postgres

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tolk-project/tolk/internal/store"
)

// tokenBatcher gathers access-token inserts made at the same time into one
// multi-row INSERT. A token request's only statement is that INSERT, and
// one INSERT per token costs a round trip on each side and, in the
// PostgreSQL backend, a statement and a transaction per row (measured: ~90
// µs of backend CPU per token, next to tolk on the same cores); a batch of
// k shares them.
//
// As in SQLite's group commit, there is no goroutine of its own: a caller
// that finds fewer than maxLanes batches in flight leads one, first
// yielding once so that the callers runnable now can join, and hands the
// lead on to the first caller that queued meanwhile. A batch that fails
// (a row whose client was just deleted, a duplicate) is retried row by
// row, so that each caller gets its own outcome and no other row is lost.
type tokenBatcher struct {
	pool *pgxpool.Pool

	mu    sync.Mutex
	queue []tokenInsert
	lanes int // batches in flight
}

type tokenInsert struct {
	ctx  context.Context
	t    store.AccessToken
	done chan error
}

const (
	// maxLanes bounds the batches in flight: enough to keep the issuance
	// pool's connections busy, few enough that batches fill.
	maxLanes = 2
	// maxTokenBatch bounds a batch's rows (10 parameters each, far below
	// PostgreSQL's 65535).
	maxTokenBatch = 64
	// batchTimeout bounds a batch's statements; its callers fail when it
	// passes.
	batchTimeout = 10 * time.Second
)

// errTokenLead is sent to a queued caller to make it lead the next batch.
var errTokenLead = errors.New("postgres: lead the next token batch")

func (b *tokenBatcher) insert(ctx context.Context, t store.AccessToken) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := tokenInsert{ctx: ctx, t: t, done: make(chan error, 1)}
	b.mu.Lock()
	if b.lanes >= maxLanes {
		b.queue = append(b.queue, op)
		b.mu.Unlock()
		var err error
		select {
		case err = <-op.done:
		case <-ctx.Done():
			if b.leave(op) {
				return ctx.Err()
			}
			// Already taken into a batch (answered within batchTimeout)
			// or handed the lead (run answers op with ctx's error).
			err = <-op.done
		}
		if err != errTokenLead {
			return err
		}
		// Handed a lane (lanes is unchanged), and taken off the queue
		// for that: no other leader can take op now.
		b.mu.Lock()
	} else {
		b.lanes++
		b.mu.Unlock()
		runtime.Gosched()
		b.mu.Lock()
	}
	n := min(len(b.queue), maxTokenBatch-1)
	batch := append([]tokenInsert{op}, b.queue[:n]...)
	b.queue = append(b.queue[:0], b.queue[n:]...)
	b.mu.Unlock()

	b.run(batch)

	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		b.queue = b.queue[1:]
		b.mu.Unlock()
		next.done <- errTokenLead
	} else {
		b.lanes--
		b.mu.Unlock()
	}
	return <-op.done
}

// leave takes op off the queue, if it is still there.
func (b *tokenBatcher) leave(op tokenInsert) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, q := range b.queue {
		if q.done == op.done {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return true
		}
	}
	return false
}

// run inserts batch and answers every op in it.
func (b *tokenBatcher) run(batch []tokenInsert) {
	live := batch[:0:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.done <- err
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	// The statement serves every op of the batch: no one caller's
	// cancellation may end it, but it is bounded, so that a row stuck on
	// a lock (a client being deleted) cannot hold every token behind it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), batchTimeout)
	defer cancel()
	if len(live) == 1 {
		live[0].done <- insertAccessToken(ctx, b.pool, live[0].t)
		return
	}
	args := make([]any, 0, len(live)*len(accessTokenTypes))
	for _, op := range live {
		args = append(args, accessTokenArgs(op.t)...)
	}
	if _, err := b.pool.Exec(ctx, multiRowInserts[len(live)], args...); err == nil {
		for _, op := range live {
			op.done <- nil
		}
		return
	}
	for _, op := range live {
		op.done <- insertAccessToken(ctx, b.pool, op.t)
	}
}

// multiRowInserts holds the INSERT of k rows at index k: one text per
// size, so that each is prepared once per connection.
var multiRowInserts = func() []string {
	qs := make([]string, maxTokenBatch+1)
	for k := 2; k <= maxTokenBatch; k++ {
		var q strings.Builder
		q.WriteString("INSERT INTO access_tokens (" + accessTokenColumns + ") VALUES ")
		p := 1
		for r := 0; r < k; r++ {
			if r > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('(')
			for c := range accessTokenTypes {
				if c > 0 {
					q.WriteString(", ")
				}
				q.WriteByte('$')
				q.WriteString(strconv.Itoa(p))
				p++
			}
			q.WriteByte(')')
		}
		qs[k] = q.String()
	}
	return qs
}()
