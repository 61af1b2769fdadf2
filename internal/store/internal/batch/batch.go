// Package batch gathers operations made at the same time into batches,
// for the backends' group commit: SQLite's shared write transactions and
// PostgreSQL's claim, token and read batches.
//
// There is no goroutine of its own: a caller that finds fewer than lanes
// batches in flight leads one (alone, unless callers queued meanwhile:
// batches form once every lane is busy), and hands the lead on to the
// first caller that queued while it ran, which takes the queue with it. A
// lone operation thus runs without a goroutine switch, and a queued one
// costs one wake instead of two.
package batch

import (
	"context"
	"errors"
	"runtime"
	"sync"
)

// Op is one caller's operation in a batch.
type Op[T any] struct {
	Ctx  context.Context
	V    T
	done chan error
}

// Answer gives the caller its outcome; a batch's run calls it once per op,
// at once or later (after an fsync, say).
func (op Op[T]) Answer(err error) { op.done <- err }

// NewOp is an op outside any Batcher, for running a given batch directly
// (tests); Wait returns its answer.
func NewOp[T any](ctx context.Context, v T) Op[T] {
	return Op[T]{Ctx: ctx, V: v, done: make(chan error, 1)}
}

// Wait returns op's answer.
func (op Op[T]) Wait() error { return <-op.done }

// ErrClosed answers operations submitted after Close.
var ErrClosed = errors.New("batch: closed")

// errLead is sent to a queued caller to make it lead the next batch.
var errLead = errors.New("batch: lead the next batch")

// Batcher runs operations of type T in batches.
type Batcher[T any] struct {
	lanes int
	max   int
	run   func(batch []Op[T])

	mu     sync.Mutex
	idle   sync.Cond // signalled when flight drops to 0
	queue  []Op[T]
	flight int // batches in flight
	closed bool
}

// New returns a Batcher with at most lanes batches in flight, each of at
// most max operations, run by run, which must answer every op of the
// batch it is given (none whose context had ended when it was taken).
func New[T any](lanes, max int, run func(batch []Op[T])) *Batcher[T] {
	b := &Batcher[T]{lanes: lanes, max: max, run: run}
	b.idle.L = &b.mu
	return b
}

// Do runs v in a batch and returns its outcome. A caller whose ctx ends
// while it is queued leaves with ctx's error; once its op is in a batch
// it waits for the outcome, so it never reports failure for an operation
// that took effect.
func (b *Batcher[T]) Do(ctx context.Context, v T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := NewOp(ctx, v)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
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
			// Already taken into a batch, or handed the lead (which skips
			// op, answering it with ctx's error).
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
		// Let the goroutines that are runnable now reach their own Do
		// first: under load they join this batch; when nothing else is
		// runnable this returns at once.
		b.mu.Unlock()
		runtime.Gosched()
		b.mu.Lock()
	}
	n := min(len(b.queue), b.max-1)
	batch := make([]Op[T], 0, n+1)
	batch = append(append(batch, op), b.queue[:n]...)
	b.queue = append(b.queue[:0], b.queue[n:]...)
	b.mu.Unlock()

	b.lead(batch)
	return <-op.done
}

// lead runs batch and then hands the lane on, before the leader waits for
// its own answer: run may answer later (SQLite's fsync), and the next
// batch must not wait for that.
func (b *Batcher[T]) lead(batch []Op[T]) {
	defer b.handOn()
	b.runLive(batch)
}

// runLive answers the ops of batch whose context has ended and runs the
// rest.
func (b *Batcher[T]) runLive(batch []Op[T]) {
	live := batch[:0]
	for _, op := range batch {
		if err := op.Ctx.Err(); err != nil {
			op.Answer(err)
			continue
		}
		live = append(live, op)
	}
	if len(live) > 0 {
		b.run(live)
	}
}

// handOn ends a leader's batch: the lane goes to the first queued caller,
// or is freed.
func (b *Batcher[T]) handOn() {
	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		b.queue = b.queue[1:]
		b.mu.Unlock()
		next.done <- errLead
		return
	}
	b.flight--
	if b.flight == 0 {
		b.idle.Broadcast()
	}
	b.mu.Unlock()
}

// leave takes op off the queue, if it is still there.
func (b *Batcher[T]) leave(op Op[T]) bool {
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

// Queued is how many callers wait for a batch.
func (b *Batcher[T]) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// Close refuses new operations and returns once the batches in flight
// and the operations queued for them are done.
func (b *Batcher[T]) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for b.flight > 0 {
		b.idle.Wait()
	}
}
