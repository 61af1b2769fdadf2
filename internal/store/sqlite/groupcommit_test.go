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
