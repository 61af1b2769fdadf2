package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tolk-project/tolk/internal/store/internal/batch"
)

// Group commit with a pipelined fsync. With one writer connection, an
// fsync inside every COMMIT (synchronous=FULL) serializes the disk wait
// with the SQL work: that, not SQL, bounded how many tokens per second
// tolk could issue. So:
//
//   - the writes that arrive while a batch is running share the next
//     transaction, each inside its own SAVEPOINT so that one failing write
//     is rolled back alone;
//   - there is no writer goroutine: the caller that finds the writer idle
//     runs the batch itself (leader), and when it is done it hands the
//     lead to the first caller that queued meanwhile. A lone write thus
//     runs without any goroutine switch, and a queued one costs one wake
//     instead of two; under load each such switch waited hundreds of
//     microseconds for a processor;
//   - the connection commits with synchronous=NORMAL (no fsync), and a
//     second goroutine fsyncs the WAL file after the commit while the
//     writer already runs the next batch; one fsync covers every batch
//     committed before it started;
//   - a caller is answered only after the fsync that covers its commit
//     has returned. That is exactly FULL's guarantee (a commit frame in a
//     synced WAL survives power loss), so a revocation, logout or
//     deactivation survives a crash of the process or of the machine.
//
// Issuance is the exception (writeOp.early): a new token, code or audit
// event is answered once its transaction has committed into the WAL,
// which survives a crash of the process (SPEC §7; TestT47 kills the server
// with SIGKILL) but not yet a power loss until the fsync that follows:
// fsyncs that only issuance waits for are paced to at most one per
// issuanceSync (5 ms), so that window is issuanceSync plus the fsync's own
// time. That loss fails closed — a token
// the disk lost is refused, and its client signs in again — while a lost
// revocation would fail open, so revocations keep waiting, and a write
// that waits ends the pacing at once. Under load the fsync is most of a
// token request's latency; Options.SyncIssuance restores the wait where power-loss durability of
// issuance matters more than that.

// maxBatch bounds how many writes share one transaction, so one batch
// cannot hold the write lock for long.
const maxBatch = 128

// issuanceSync is the least time between two fsyncs that no caller waits
// for (every write they cover was issuance, answered at commit): under
// load one fsync then covers a few milliseconds of commits instead of one
// or two batches (each fsync costs CPU in the kernel too; figures in
// docs/performance.md), and a power loss can
// take back about that much of the latest issuance (plus what the fsync
// in progress did not cover yet).
const issuanceSync = 5 * time.Millisecond

var errClosed = errors.New("sqlite: store closed")

type writeOp struct {
	ctx context.Context
	fn  func(*sql.Tx) error
	// single: fn runs exactly one statement, which SQLite makes atomic on
	// its own, so it needs no savepoint.
	single bool
	// early: answer at commit, before the fsync (issuance; see above).
	early bool
}

type committer struct {
	db   *sql.DB
	acks chan ackBatch // committed batches waiting for their fsync
	sync func() error  // makes every commit so far durable
	// every is the least time between two fsyncs that only issuance
	// waits for (see syncLoop); after is time.After (tests replace it).
	every time.Duration
	after func(time.Duration) <-chan time.Time
	done  chan struct{} // closed when syncLoop has answered its last batch

	// b runs the batches, one at a time: the caller that finds the
	// writer idle leads (see the top of this file).
	b         *batch.Batcher[writeOp]
	closeOnce sync.Once

	// sp are SAVEPOINT, ROLLBACK TO and RELEASE prepared on the writer
	// connection by the first leader that needs them (only a leader
	// touches sp): as text, database/sql prepares and finalizes each anew
	// on every write, three parses per claim in pure-Go SQLite. Nil until
	// prepared, or if preparing failed (the text is used then).
	sp *savepoints
}

type savepoints struct{ begin, rollback, release *sql.Stmt }

// savepointsPrepared prepares c.sp once. It must run before the batch's
// transaction begins: the writer's only connection is busy inside it.
func (c *committer) savepointsPrepared() {
	if c.sp != nil {
		return
	}
	var sp savepoints
	for _, x := range []struct {
		st **sql.Stmt
		q  string
	}{{&sp.begin, "SAVEPOINT op"}, {&sp.rollback, "ROLLBACK TO op"}, {&sp.release, "RELEASE op"}} {
		st, err := c.db.Prepare(x.q)
		if err != nil {
			sp.close()
			return
		}
		*x.st = st
	}
	c.sp = &sp
}

func (sp *savepoints) close() {
	for _, st := range []*sql.Stmt{sp.begin, sp.rollback, sp.release} {
		if st != nil {
			st.Close()
		}
	}
}

// exec runs one of the savepoint statements in tx: st if prepared, else q.
func (c *committer) exec(tx *sql.Tx, st func(*savepoints) *sql.Stmt, q string) error {
	var err error
	if c.sp != nil {
		_, err = tx.Stmt(st(c.sp)).Exec()
	} else {
		_, err = tx.Exec(q)
	}
	return err
}

func spBegin(sp *savepoints) *sql.Stmt    { return sp.begin }
func spRollback(sp *savepoints) *sql.Stmt { return sp.rollback }
func spRelease(sp *savepoints) *sql.Stmt  { return sp.release }

// ackBatch is a committed batch whose callers wait for durability.
type ackBatch struct {
	ops     []batch.Op[writeOp]
	results []error
}

func newCommitter(db *sql.DB, durable func() error) *committer {
	return newPacedCommitter(db, durable, issuanceSync, time.After)
}

// newPacedCommitter is newCommitter with the pacing of issuance fsyncs
// (every, and a time.After to wait with) given.
func newPacedCommitter(db *sql.DB, durable func() error, every time.Duration, after func(time.Duration) <-chan time.Time) *committer {
	c := &committer{db: db, acks: make(chan ackBatch, maxBatch), sync: durable, done: make(chan struct{}), every: every, after: after}
	c.b = batch.New(1, maxBatch, c.run)
	go c.syncLoop()
	return c
}

// syncLoop fsyncs after commits and then answers their callers. Batches
// that commit while an fsync runs are covered together by the next one.
// A batch whose writes were all early still comes here, so that an fsync
// follows every commit.
func (c *committer) syncLoop() {
	defer close(c.done)
	var last time.Time // when the last fsync returned
	for open := true; open; {
		first, ok := <-c.acks
		if !ok {
			return
		}
		var pending []ackBatch
		pending, open = c.more([]ackBatch{first}, nil)
		// Nobody waits for this fsync: every write it covers was issuance,
		// answered at commit. It may then wait until issuanceSync after
		// the last one, covering the commits made meanwhile too, unless a
		// write that does wait (a revocation, say) commits first.
		if d := c.every - time.Since(last); open && d > 0 && !waits(pending) {
			pending, open = c.more(pending, c.after(d))
		}
		err := c.sync()
		last = time.Now()
		for _, b := range pending {
			for i, op := range b.ops {
				r := b.results[i]
				if r == nil && err != nil {
					// Committed but not known to be durable: fail closed,
					// the client gets an error instead of a token that a
					// crash could take back.
					r = fmt.Errorf("sqlite: sync: %w", err)
				}
				op.Answer(r)
			}
		}
	}
}

// more adds to pending the batches committed since: those queued now
// (until nil), or those that commit before until fires or one of them has
// a write that waits. It reports whether acks is still open.
func (c *committer) more(pending []ackBatch, until <-chan time.Time) ([]ackBatch, bool) {
	for {
		var b ackBatch
		var ok bool
		if until == nil {
			select {
			case b, ok = <-c.acks:
			default:
				return pending, true
			}
		} else {
			select {
			case b, ok = <-c.acks:
			case <-until:
				return pending, true
			}
		}
		if !ok {
			return pending, false
		}
		pending = append(pending, b)
		if until != nil && len(b.ops) > 0 {
			return pending, true
		}
	}
}

// waits reports whether a write of pending waits for its fsync.
func waits(pending []ackBatch) bool {
	for _, b := range pending {
		if len(b.ops) > 0 {
			return true
		}
	}
	return false
}

// submit runs op.fn in a write transaction shared with concurrent writes
// and returns once that transaction has committed (and, unless op.early,
// been fsynced), or op.fn has failed and been rolled back. Once op is in
// a batch it waits for the outcome even if op.ctx ends meanwhile, so a
// caller never reports failure for a write that committed.
func (c *committer) submit(op writeOp) error {
	err := c.b.Do(op.ctx, op)
	if err == batch.ErrClosed {
		return errClosed
	}
	return err
}

// close stops the committer once the writes already queued are done;
// Store.Close may be called more than once.
func (c *committer) close() {
	c.closeOnce.Do(func() {
		c.b.Close()
		close(c.acks)
	})
	<-c.done
	// No leader runs any more (the batcher is closed).
	if c.sp != nil {
		c.sp.close()
		c.sp = nil
	}
}

func (c *committer) run(ops []batch.Op[writeOp]) {
	results := make([]error, len(ops))
	committed := false
	defer func() {
		if committed {
			// Early writes are answered now; the rest wait for the fsync
			// (which also makes the early ones durable).
			waiting := ackBatch{ops: ops[:0:0], results: results[:0:0]}
			for i, op := range ops {
				if op.V.early {
					op.Answer(results[i])
					continue
				}
				waiting.ops = append(waiting.ops, op)
				waiting.results = append(waiting.results, results[i])
			}
			c.acks <- waiting
			return
		}
		for i, op := range ops {
			op.Answer(results[i])
		}
	}()
	for _, o := range ops {
		if !o.V.single {
			c.savepointsPrepared()
			break
		}
	}
	// Not a request's context: the transaction serves the whole batch.
	tx, err := c.db.BeginTx(context.Background(), nil)
	if err != nil {
		for i := range results {
			results[i] = err
		}
		return
	}
	ok := 0
	for i, o := range ops {
		if err := o.Ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		op := o.V
		if op.single {
			var panicked bool
			if results[i], panicked = call(op.fn, tx); panicked {
				// A single statement has no savepoint to go back to:
				// abandon the batch rather than commit what it left.
				_ = tx.Rollback()
				for j := range results {
					if j != i {
						results[j] = errors.Join(errAborted, results[i])
					}
				}
				return
			}
			if results[i] == nil {
				ok++
			}
			continue
		}
		if err := c.exec(tx, spBegin, "SAVEPOINT op"); err != nil {
			results[i] = err
			continue
		}
		if err, _ := call(op.fn, tx); err != nil {
			results[i] = err
			if rerr := c.exec(tx, spRollback, "ROLLBACK TO op"); rerr != nil {
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
		if err := c.exec(tx, spRelease, "RELEASE op"); err != nil && results[i] == nil {
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
		return
	}
	committed = true
}

// errAborted fails the writes of a batch that a panicking write ended.
var errAborted = errors.New("sqlite: batch abandoned after a write panicked")

// call runs fn, turning a panic into an error (with the stack, for the
// log): the leader runs other callers' writes on its own goroutine, and a
// panic must not leave the writer led forever, the batch unanswered and
// the transaction open.
func call(fn func(*sql.Tx) error, tx *sql.Tx) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = fmt.Errorf("sqlite: write panicked: %v\n%s", r, debug.Stack()), true
		}
	}()
	return fn(tx), false
}

// groupExec is an execer whose every statement is its own write in the
// committer, for single-statement writes. early marks issuance writes,
// answered at commit (see the top of this file).
type groupExec struct {
	c     *committer
	stmts *stmtCache
	early bool
}

func (g groupExec) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	// Prepare before queueing: the writer connection is busy inside the
	// batch transaction, and preparing there would wait on itself.
	st, err := g.stmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	var res sql.Result
	err = g.c.submit(writeOp{ctx: ctx, single: true, early: g.early, fn: func(tx *sql.Tx) error {
		// ctx without its cancellation, as in Store.tx: a statement in a
		// shared transaction must not be interrupted when its request
		// ends (SQLite would roll back the whole batch), and watching ctx
		// costs the driver a goroutine. The committer skips ops whose ctx
		// ended before their turn.
		var err error
		detached := context.WithoutCancel(ctx)
		res, err = tx.StmtContext(detached, st).ExecContext(detached, args...)
		return err
	}})
	return res, err
}

// count is ExecContext returning the rows affected, read inside the
// batch: once an early write is answered the connection runs the next
// batch, and reading them from the result afterwards would wait for it.
func (g groupExec) count(ctx context.Context, query string, args ...any) (int64, error) {
	st, err := g.stmts.get(ctx, query)
	if err != nil {
		return 0, err
	}
	var n int64
	err = g.c.submit(writeOp{ctx: ctx, single: true, early: g.early, fn: func(tx *sql.Tx) error {
		detached := context.WithoutCancel(ctx) // as in ExecContext
		res, err := tx.StmtContext(detached, st).ExecContext(detached, args...)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	}})
	return n, err
}

// walSyncer fsyncs a database's WAL file. It keeps the file open and
// reopens it if SQLite has replaced it, so that it always syncs the file
// SQLite writes to.
type walSyncer struct {
	path string
	mu   sync.Mutex
	f    *os.File
	fi   os.FileInfo
}

func (w *walSyncer) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	fi, err := os.Stat(w.path)
	if os.IsNotExist(err) {
		// No WAL: everything was checkpointed into the database file,
		// which SQLite syncs after a checkpoint.
		return nil
	}
	if err != nil {
		return err
	}
	if w.f == nil || !os.SameFile(fi, w.fi) {
		if w.f != nil {
			w.f.Close()
		}
		f, err := os.OpenFile(w.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		w.f, w.fi = f, fi
	}
	return w.f.Sync()
}

func (w *walSyncer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}
