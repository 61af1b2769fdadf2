package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/tolk-project/tolk/internal/store/internal/batch"
)

// batcher gathers operations made at the same time into batches, each run
// as one statement or one pipeline: one round trip on each side and one
// commit for the batch instead of one per operation. On 2 cores next to
// tolk, the per-statement cost in the PostgreSQL backend (round trip,
// executor start, commit, foreign-key lock) is most of a token request's.
// The leader hand-off is batch's, as in SQLite's group commit.
type batcher[T any] struct {
	*batch.Batcher[T]
	// exec runs a batch (at least one operation, none whose context has
	// ended) and answers each operation in errs, which is as long as ops.
	// Its ctx is no caller's (see run).
	exec func(ctx context.Context, ops []T, errs []error)
}

// newBatcher runs batches of at most max operations with exec, at most
// lanes at a time: enough to keep connections busy, few enough that
// batches fill.
func newBatcher[T any](lanes, max int, exec func(ctx context.Context, ops []T, errs []error)) *batcher[T] {
	b := &batcher[T]{exec: exec}
	b.Batcher = batch.New(lanes, max, b.run)
	return b
}

// do runs v in a batch and returns its outcome.
func (b *batcher[T]) do(ctx context.Context, v T) error { return b.Do(ctx, v) }

// batchTimeout bounds a batch's statements; its callers fail when it
// passes.
const batchTimeout = 10 * time.Second

// run executes live and answers every operation in it.
func (b *batcher[T]) run(live []batch.Op[T]) {
	// The statements serve every operation of the batch: no one caller's
	// cancellation may end them, but they are bounded, so that a row
	// stuck on a lock (a client being deleted) cannot hold every
	// operation behind it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].Ctx), batchTimeout)
	defer cancel()
	vs := make([]T, len(live))
	for i, op := range live {
		vs[i] = op.V
	}
	errs := make([]error, len(live))
	defer func() {
		// A panic in exec answers the batch's callers (and, through the
		// leader's hand-off, passes the lane on) before it goes on up the
		// leader's stack.
		if r := recover(); r != nil {
			for _, op := range live {
				op.Answer(fmt.Errorf("postgres: batch failed: %v", r))
			}
			panic(r)
		}
	}()
	b.exec(ctx, vs, errs)
	for i, op := range live {
		op.Answer(errs[i])
	}
}
