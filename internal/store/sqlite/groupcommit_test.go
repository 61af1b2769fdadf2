package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCommitterAnswersOnlyAfterSync: a write is not reported done until the
// fsync covering its commit has returned, and a failing fsync fails the
// write (fail closed) although the row was committed.
func TestCommitterAnswersOnlyAfterSync(t *testing.T) {
	db, _ := writerDB(t)
	release := make(chan error)
	synced := make(chan struct{}, 16)
	c := newCommitter(db, func() error { synced <- struct{}{}; return <-release })
	defer func() { close(release); c.close() }()

	done := make(chan error, 1)
	go func() {
		done <- c.do(context.Background(), func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO t VALUES (1)`)
			return err
		})
	}()
	<-synced // the commit happened and the fsync started
	select {
	case err := <-done:
		t.Fatalf("write answered (%v) before its fsync returned", err)
	case <-time.After(50 * time.Millisecond):
	}
	release <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	go func() {
		done <- c.do(context.Background(), func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO t VALUES (2)`)
			return err
		})
	}()
	<-synced
	release <- errors.New("disk on fire")
	if err := <-done; err == nil {
		t.Fatal("a write whose fsync failed was reported durable")
	}

	// A write that fails needs no fsync and is answered at once.
	err := c.do(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO nope VALUES (1)`)
		return err
	})
	if err == nil {
		t.Fatal("bad SQL succeeded")
	}
}

// do and doEarly submit fn as an ordinary and as an issuance write.
func (c *committer) do(ctx context.Context, fn func(*sql.Tx) error) error {
	return c.submit(writeOp{ctx: ctx, fn: fn})
}

func (c *committer) doEarly(ctx context.Context, fn func(*sql.Tx) error) error {
	return c.submit(writeOp{ctx: ctx, fn: fn, early: true})
}

// insert is a write of v into writerDB's table t.
func insert(v int) func(*sql.Tx) error {
	return func(tx *sql.Tx) error { _, err := tx.Exec(`INSERT INTO t VALUES (?)`, v); return err }
}

// writerDB opens a database with one writer connection and a table t,
// as the committer's tests need; it is closed when the test ends.
func writerDB(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "w.db")
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return db, path
}

func TestWALSyncerFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(context.Background(), filepath.Join(dir, "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := st.wal.sync(); err != nil {
		t.Fatal(err)
	}
	if st.wal.f == nil || st.wal.f.Name() != filepath.Join(dir, "w.db-wal") {
		t.Fatalf("syncer does not hold the WAL file open: %v", st.wal.f)
	}
	missing := &walSyncer{path: filepath.Join(dir, "none.db-wal")}
	if err := missing.sync(); err != nil {
		t.Fatalf("no WAL file is not an error: %v", err)
	}
}

// TestCommitterAnswersIssuanceAtCommit: an early (issuance) write is
// answered once committed, while its fsync is still running, and is
// readable then; a write of the same batch that is not early still waits
// for the fsync.
func TestCommitterAnswersIssuanceAtCommit(t *testing.T) {
	db, path := writerDB(t)
	release := make(chan error)
	synced := make(chan struct{}, 16)
	c := newCommitter(db, func() error { synced <- struct{}{}; return <-release })
	defer func() { close(release); c.close() }()

	early := make(chan error, 1)
	go func() { early <- c.doEarly(context.Background(), insert(1)) }()
	select {
	case err := <-early:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("issuance write not answered while its fsync is held")
	}
	<-synced // its fsync still follows the commit
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int
	if err := r.QueryRow(`SELECT count(*) FROM t WHERE v = 1`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("answered issuance write not visible: n=%d err=%v", n, err)
	}

	durable := make(chan error, 1)
	go func() { durable <- c.do(context.Background(), insert(2)) }()
	select {
	case err := <-durable:
		t.Fatalf("ordinary write answered (%v) before the fsync returned", err)
	case <-time.After(50 * time.Millisecond):
	}
	release <- nil // the first fsync (the early write's)
	select {
	case err := <-durable:
		t.Fatalf("ordinary write answered (%v) by the fsync of an earlier commit", err)
	case <-synced: // its own fsync started
	}
	release <- nil
	if err := <-durable; err != nil {
		t.Fatal(err)
	}
}

// TestCommitterPacesIssuanceFsyncs: an fsync that only issuance waits
// for (its writes were answered at commit) waits for the pacing interval
// after the previous fsync, covering what commits meanwhile; a write that
// waits for its fsync ends the pacing at once, and so does the interval.
func TestCommitterPacesIssuanceFsyncs(t *testing.T) {
	for _, end := range []string{"a waiting write", "the interval"} {
		t.Run(end, func(t *testing.T) {
			db, _ := writerDB(t)
			var syncs atomic.Int32
			synced := make(chan struct{}, 16)
			pacing, fire := make(chan time.Duration, 1), make(chan time.Time)
			c := newPacedCommitter(db, func() error { syncs.Add(1); synced <- struct{}{}; return nil }, time.Hour,
				func(d time.Duration) <-chan time.Time { pacing <- d; return fire })
			defer c.close()
			wait := func(ch <-chan struct{}, what string) {
				t.Helper()
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					t.Fatal(what)
				}
			}
			if err := c.doEarly(context.Background(), insert(1)); err != nil {
				t.Fatal(err)
			}
			wait(synced, "no fsync after the first commit") // the first one is not paced
			for v := 2; v <= 4; v++ {
				if err := c.doEarly(context.Background(), insert(v)); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case d := <-pacing:
				if d <= 0 || d > time.Hour {
					t.Fatalf("paced for %v", d)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the fsync of issuance commits right after another fsync is not paced")
			}
			if n := syncs.Load(); n != 1 {
				t.Fatalf("%d fsyncs while pacing, want 1", n)
			}
			switch end {
			case "a waiting write":
				done := make(chan struct{})
				go func() {
					if err := c.do(context.Background(), insert(5)); err != nil {
						t.Error(err)
					}
					close(done)
				}()
				wait(done, "a write that waits for its fsync waited for the pacing")
			case "the interval":
				fire <- time.Now()
				wait(synced, "no fsync when the pacing interval ended")
			}
			if n := syncs.Load(); n != 2 {
				t.Fatalf("%d fsyncs, want 2 (one covering the paced commits)", n)
			}
		})
	}
}

// TestCommitterBatchesWhatQueuesBehindTheLeader: writes that arrive while
// a batch runs share the next transaction, all of them succeed, and close
// waits for them.
func TestCommitterBatchesWhatQueuesBehindTheLeader(t *testing.T) {
	db, _ := writerDB(t)
	c := newCommitter(db, func() error { return nil })

	hold, running := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- c.do(context.Background(), func(tx *sql.Tx) error {
			close(running)
			<-hold
			_, err := tx.Exec(`INSERT INTO t VALUES (0)`)
			return err
		})
	}()
	<-running
	const queued = 10
	var mu sync.Mutex
	txs := map[*sql.Tx]int{}
	errs := make(chan error, queued)
	for i := 1; i <= queued; i++ {
		go func() {
			errs <- c.doEarly(context.Background(), func(tx *sql.Tx) error {
				mu.Lock()
				txs[tx]++
				mu.Unlock()
				_, err := tx.Exec(`INSERT INTO t VALUES (?)`, i)
				return err
			})
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		n := c.b.Queued()
		if n == queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued behind the running batch, want %d", n, queued)
		}
		time.Sleep(time.Millisecond)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < queued; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if len(txs) != 1 {
		t.Fatalf("the %d queued writes ran in %d transactions, want 1", queued, len(txs))
	}
	c.close()
	c.close() // idempotent
	if err := c.do(context.Background(), func(*sql.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("write after close: %v, want errClosed", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != queued+1 {
		t.Fatalf("%d rows (%v), want %d", n, err, queued+1)
	}
}

// TestCommitterSurvivesAPanickingWrite: a write that panics fails alone
// (inside a savepoint) or fails its batch (a single statement), and the
// committer keeps working: the next writes are answered and committed.
func TestCommitterSurvivesAPanickingWrite(t *testing.T) {
	db, _ := writerDB(t)
	c := newCommitter(db, func() error { return nil })
	defer c.close()
	ctx := context.Background()
	if err := c.do(ctx, func(*sql.Tx) error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panicking write: %v", err)
	}
	if err := c.submit(writeOp{ctx: ctx, single: true, fn: func(*sql.Tx) error { panic("bang") }}); err == nil {
		t.Fatal("panicking single statement reported success")
	}
	done := make(chan error, 1)
	go func() { done <- c.do(ctx, insert(7)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the committer stopped after a panicking write")
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t WHERE v = 7`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("write after the panic: n=%d err=%v", n, err)
	}
}

// TestSweepAnsweredAtCommitWithItsCount: retention's deletes (groupExec
// count, early) report how many rows they deleted, read inside the batch,
// and are answered once committed while the fsync is still held.
func TestSweepAnsweredAtCommitWithItsCount(t *testing.T) {
	db, _ := writerDB(t)
	if _, err := db.Exec(`INSERT INTO t VALUES (1), (2), (3), (4)`); err != nil {
		t.Fatal(err)
	}
	release := make(chan error)
	c := newCommitter(db, func() error { return <-release })
	stmts := newStmtCache(db)
	defer func() { close(release); c.close(); stmts.close() }()
	g := groupExec{c: c, stmts: stmts, early: true}

	done := make(chan error, 1)
	var n int64
	go func() {
		var err error
		n, err = g.count(context.Background(), `DELETE FROM t WHERE v < ?`, 3)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil || n != 2 {
			t.Fatalf("count = %d, %v; want 2", n, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a sweep delete waited for the fsync")
	}
}

// TestCommitterCommitsWhileAnFsyncRuns: the leader of a batch hands the
// writer on once the batch has committed, not once its own write is
// durable, so the next batch commits while the fsync runs (here: an
// issuance write is answered while the fsync of the write before it has
// not returned).
func TestCommitterCommitsWhileAnFsyncRuns(t *testing.T) {
	db, _ := writerDB(t)
	release := make(chan struct{})
	synced := make(chan struct{}, 16)
	c := newPacedCommitter(db, func() error { synced <- struct{}{}; <-release; return nil }, 0, time.After)
	defer func() { close(release); c.close() }()

	first := make(chan error, 1)
	go func() { first <- c.do(context.Background(), insert(1)) }()
	<-synced // committed; its fsync is running and does not return

	second := make(chan error, 1)
	go func() { second <- c.doEarly(context.Background(), insert(2)) }()
	select {
	case err := <-second:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write waited for the fsync of the batch before it")
	}
	select {
	case err := <-first:
		t.Fatalf("write answered (%v) before its fsync returned", err)
	default:
	}
}

// TestCommitterSavepointsArePrepared: the savepoints around multi-statement
// writes run on statements prepared once on the writer, and still roll
// back a failing write alone in its batch.
func TestCommitterSavepointsArePrepared(t *testing.T) {
	db, _ := writerDB(t)
	c := newCommitter(db, func() error { return nil })
	defer c.close()
	ctx := context.Background()
	fail := errors.New("refused")
	hold, running := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- c.do(ctx, func(tx *sql.Tx) error { close(running); <-hold; return insert(1)(tx) })
	}()
	<-running
	// Queued behind the running batch, so both share the next transaction.
	errs := make(chan error, 2)
	go func() {
		errs <- c.do(ctx, func(tx *sql.Tx) error {
			if err := insert(2)(tx); err != nil {
				return err
			}
			return fail
		})
	}()
	go func() { errs <- c.do(ctx, insert(3)) }()
	for deadline := time.Now().Add(10 * time.Second); c.b.Queued() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the writes did not queue")
		}
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	var failed, ok int
	for range 2 {
		switch err := <-errs; {
		case errors.Is(err, fail):
			failed++
		case err == nil:
			ok++
		default:
			t.Fatal(err)
		}
	}
	if failed != 1 || ok != 1 {
		t.Fatalf("%d failed, %d succeeded; want 1 and 1", failed, ok)
	}
	if c.sp == nil {
		t.Fatal("the savepoints were not prepared")
	}
	var vs []int
	rows, err := db.Query(`SELECT v FROM t ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if !slices.Equal(vs, []int{1, 3}) {
		t.Fatalf("rows %v, want [1 3] (the failing write rolled back alone)", vs)
	}
}
