package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// batcher gathers operations made at the same time into batches, each run
// as one statement or one pipeline: one round trip on each side and one
// commit for the batch instead of one per operation. On 2 cores next to
// tolk, the per-statement cost in the PostgreSQL backend (round trip,
// executor start, commit, foreign-key lock) is most of a token request's.
//
// As in SQLite's group commit, there is no goroutine of its own: a caller
// that finds fewer than lanes batches in flight leads one (alone, unless
// callers queued meanwhile: batches form once every lane is busy), and
// hands the lead on to the first caller that queued while it ran, which
// takes the queue with it.
type batcher[T any] struct {
	// lanes bounds the batches in flight: enough to keep connections busy,
	// few enough that batches fill.
	lanes int
	// max bounds a batch's operations.
	max int
	// exec runs a batch (at least one operation, none whose context has
	// ended) and answers each operation in errs, which is as long as ops.
	// Its ctx is no caller's (see run).
	exec func(ctx context.Context, ops []T, errs []error)

	mu     sync.Mutex
	queue  []pendingOp[T]
	flight int // batches in flight
}

type pendingOp[T any] struct {
	ctx  context.Context
	v    T
	done chan error
}

// batchTimeout bounds a batch's statements; its callers fail when it
// passes.
const batchTimeout = 10 * time.Second

// errLead is sent to a queued caller to make it lead the next batch.
var errLead = errors.New("postgres: lead the next batch")

// do runs v in a batch and returns its outcome.
func (b *batcher[T]) do(ctx context.Context, v T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := pendingOp[T]{ctx: ctx, v: v, done: make(chan error, 1)}
	b.mu.Lock()
	if b.flight >= b.lanes {
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
		if err != errLead {
			return err
		}
		// Handed a lane (flight is unchanged), and taken off the queue
		// for that: no other leader can take op now.
		b.mu.Lock()
	} else {
		b.flight++
		b.mu.Unlock()
		runtime.Gosched()
		b.mu.Lock()
	}
	n := min(len(b.queue), b.max-1)
	batch := append([]pendingOp[T]{op}, b.queue[:n]...)
	b.queue = append(b.queue[:0], b.queue[n:]...)
	b.mu.Unlock()

	defer b.handOn()
	b.run(batch)
	return <-op.done
}

// handOn ends a leader's batch: the lane goes to the first queued caller,
// or is freed.
func (b *batcher[T]) handOn() {
	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		b.queue = b.queue[1:]
		b.mu.Unlock()
		next.done <- errLead
		return
	}
	b.flight--
	b.mu.Unlock()
}

// leave takes op off the queue, if it is still there.
func (b *batcher[T]) leave(op pendingOp[T]) bool {
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

// run executes batch and answers every operation in it.
func (b *batcher[T]) run(batch []pendingOp[T]) {
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
	// The statements serve every operation of the batch: no one caller's
	// cancellation may end them, but they are bounded, so that a row
	// stuck on a lock (a client being deleted) cannot hold every
	// operation behind it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), batchTimeout)
	defer cancel()
	vs := make([]T, len(live))
	for i, op := range live {
		vs[i] = op.v
	}
	errs := make([]error, len(live))
	defer func() {
		// A panic in exec answers the batch's callers (and, through
		// do's handOn, passes the lane on) before it goes on up the
		// leader's stack.
		if r := recover(); r != nil {
			for _, op := range live {
				op.done <- fmt.Errorf("postgres: batch failed: %v", r)
			}
			panic(r)
		}
	}()
	b.exec(ctx, vs, errs)
	for i, op := range live {
		op.done <- errs[i]
	}
}
