package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestCommitterAnswersOnlyAfterSync: a write is not reported done until the
// fsync covering its commit has returned, and a failing fsync fails the
// write (fail closed) although the row was committed.
func TestCommitterAnswersOnlyAfterSync(t *testing.T) {
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "c.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
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
	err = c.do(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO nope VALUES (1)`)
		return err
	})
	if err == nil {
		t.Fatal("bad SQL succeeded")
	}
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
	path := filepath.Join(t.TempDir(), "e.db")
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	release := make(chan error)
	synced := make(chan struct{}, 16)
	c := newCommitter(db, func() error { synced <- struct{}{}; return <-release })
	defer func() { close(release); c.close() }()

	insert := func(v int) func(*sql.Tx) error {
		return func(tx *sql.Tx) error { _, err := tx.Exec(`INSERT INTO t VALUES (?)`, v); return err }
	}
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
