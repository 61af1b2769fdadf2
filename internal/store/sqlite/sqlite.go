// Package sqlite is the SQLite backend of store.Store, built on the pure-Go
// driver modernc.org/sqlite so tolk builds without cgo.
//
// Encoding: times are INTEGER microseconds since the Unix epoch and come back
// in UTC (sub-microsecond parts are truncated, as in PostgreSQL); a zero
// User.LastInvalidateAll is NULL. User names and emails are unique by their
// strings.ToLower fold, kept in *_key columns (SQLite's lower() folds ASCII
// only, and both backends must agree).
//
// Concurrency: every write goes through one dedicated connection whose
// transactions all BEGIN IMMEDIATE, so writers in this process queue in Go
// instead of failing with SQLITE_BUSY; busy_timeout covers writers in other
// processes sharing the file. Reads use a separate pool of query_only
// connections, which WAL lets run alongside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/store/sqlstore"
)

// Store is a store.Store on one SQLite database file. It is safe for
// concurrent use, also by several processes on the same file.
type Store struct {
	*sqlstore.Store // the queries both engines share, run through engine

	w   *sql.DB    // exactly one connection: the in-process write queue
	r   *sql.DB    // query_only connections for reads outside transactions
	c   *committer // group commit over w; every write goes through it
	wx  groupExec  // single-statement writes through c
	ix  groupExec  // single-statement issuance writes through c (answered at commit unless SyncIssuance)
	sx  groupExec  // retention's deletes through c (answered at commit)
	rx  readExec   // reads through cached prepared statements on r
	wal *walSyncer // fsyncs the WAL after group commits
	ws  *stmtCache // prepared statements on w, for single-statement writes

	path string // the database file, which BackupTo opens a connection of its own to
}

// Options tune a Store.
type Options struct {
	// SyncIssuance answers issuance writes (new tokens, codes, audit
	// events) only after the fsync that covers them, like every other
	// write, instead of at commit (see groupcommit.go).
	SyncIssuance bool
	// Existing refuses a path where no database file exists instead of
	// creating one: for commands that read a database (tolk backup), a
	// mistyped path is an error, not a new empty database.
	Existing bool
}

// Open opens (creating if needed) the database file at path with the
// default Options. It does not migrate; call Migrate.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	switch {
	case path == "":
		return nil, errors.New("sqlite: empty database path")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// Each pooled connection would get its own in-memory database, and
		// URI names would bypass the DSN parameters below.
		return nil, fmt.Errorf("sqlite: %q: want a plain file path", path)
	case strings.Contains(path, "?"):
		// The driver splits the DSN at the first '?'.
		return nil, fmt.Errorf("sqlite: %q: path must not contain '?'", path)
	}

	if o.Existing {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlite: %s: no such database file: %w", path, fs.ErrNotExist)
		} else if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	} else if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Connect the writer first: it creates the file and switches it to WAL
	// before any reader attaches.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wal := &walSyncer{path: path + "-wal"}
	c := newCommitter(w, wal.sync)
	ws := newStmtCache(w)
	s := &Store{path: path, w: w, r: r, c: c, wal: wal, wx: groupExec{c: c, stmts: ws}, ix: groupExec{c: c, stmts: ws, early: !o.SyncIssuance},
		sx: groupExec{c: c, stmts: ws, early: true}, rx: readExec{newStmtCache(r)}, ws: ws}
	s.Store = sqlstore.New(engine{s: s}, "sqlite")
	return s, nil
}

// createPrivate creates the database file at path, empty (which SQLite
// reads as an empty database) and readable by its owner only, unless it
// exists. SQLite would create it 0644, and it gives the -wal and -shm files
// the mode of the database file: all three hold password and token hashes
// and sealed keys.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn builds the driver DSN. The pragmas are DSN parameters, not statements
// run after Open, so that every connection the pool ever opens gets them.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL, with the fsync done by the committer after each group
	// commit and before any caller is answered (groupcommit.go): the same
	// durability as FULL — a commit answered to a client survives power
	// loss, so neither an issued token nor a revocation can be lost — but
	// the disk wait no longer blocks the writer connection.
	q.Add("_pragma", "synchronous(NORMAL)")
	// Savepoint and statement journals (every multi-statement write and
	// the audit batches use them) and temporary tables in memory instead
	// of temporary files, whose pages cost a pwrite each. They hold what
	// one transaction changes (maxBatch bounds a batch); tolk's queries
	// sort through indexes, so no sort spills there.
	q.Add("_pragma", "temp_store(MEMORY)")
	// BEGIN IMMEDIATE takes the write lock up front; a deferred transaction
	// upgrading from read to write can fail with SQLITE_BUSY without ever
	// consulting busy_timeout.
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Set("_query_only", "1")
	}
	return path + "?" + q.Encode()
}

// Ping checks that both connection pools answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.c.close()
	s.rx.c.close()
	s.ws.close()
	s.wal.close()
	return errors.Join(s.r.Close(), s.w.Close())
}

// inTx runs fn in a write (IMMEDIATE) transaction, possibly shared with
// concurrent writes (group commit), and returns once it has committed. A
// failing fn is rolled back alone. fn gets ctx without its cancellation:
// the driver interrupts a statement whose context ends, and an interrupted
// write rolls back the whole shared transaction, failing the other
// callers' writes too. A ctx that ends before fn's turn still skips it.
func (s *Store) inTx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	return s.tx(ctx, false, fn)
}

// inIssueTx is inTx for issuance, answered at commit unless SyncIssuance
// (groupcommit.go): only for writes whose loss in a power failure fails
// closed, such as a new token that would then be refused.
func (s *Store) inIssueTx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	return s.tx(ctx, s.ix.early, fn)
}

func (s *Store) tx(ctx context.Context, early bool, fn func(context.Context, *sql.Tx) error) error {
	detached := context.WithoutCancel(ctx)
	return s.c.submit(writeOp{ctx: ctx, early: early, fn: func(tx *sql.Tx) error { return fn(detached, tx) }})
}

// wrap maps driver errors onto the store sentinels, keeping the original
// error in the chain.
func wrap(op string, err error) error { return sqlstore.Wrap("sqlite", codec{}, op, err) }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicros encodes the zero time as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}
