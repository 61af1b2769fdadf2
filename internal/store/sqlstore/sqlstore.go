// Package sqlstore holds the SQL that the SQLite and PostgreSQL backends
// share: each query written once, in a neutral spelling translated for
// each engine when the program starts, and the store.Store methods built
// on them. A backend embeds a Store and supplies what truly differs
// between the engines through DB: connections and transactions, the
// encoding of times and string lists, and the mapping of its errors.
// Methods on a backend's hot paths (token issuance and redemption, audit
// batches) stay in the backend, using the column lists and scanners here.
//
// The neutral spelling is PostgreSQL's with ? placeholders: Query numbers
// them ($1, $2, …) for PostgreSQL and drops COLLATE "C" for SQLite, which
// compares text bytewise anyway.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// Flavor is an SQL engine.
type Flavor int

const (
	SQLite Flavor = iota
	PostgreSQL
	numFlavors
)

// Query is one statement in each flavor's spelling, translated once by Q.
type Query struct{ text [numFlavors]string }

// Q translates the neutral statement q. It is meant for package-level
// variables, so that no statement is translated per call.
func Q(q string) Query {
	var t Query
	// SQLite compares bytewise already, and has one writer at a time and
	// no row locks to order.
	t.text[SQLite] = strings.NewReplacer(` COLLATE "C"`, "", ` FOR UPDATE`, "").Replace(q)
	t.text[PostgreSQL] = numbered(q)
	return t
}

// In is q in flavor f's spelling.
func (q Query) In(f Flavor) string { return q.text[f] }

// numbered replaces each ? outside quotes in q by $1, $2, ….
func numbered(q string) string {
	var b strings.Builder
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Row is one result row (*sql.Row, pgx.Row).
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Tx runs statements inside a transaction.
type Tx interface {
	// Exec runs a statement and returns the rows it affected.
	Exec(ctx context.Context, q Query, args ...any) (int64, error)
	QueryRow(ctx context.Context, q Query, args ...any) Row
}

// DB is what a backend gives the shared queries.
type DB interface {
	Codec
	// Exec runs a one-statement write.
	Exec(ctx context.Context, q Query, args ...any) (int64, error)
	// Issue runs a one-statement issuance write (a new session or token),
	// which a backend may commit with less waiting: losing one fails
	// closed. It reports no row count: asking for one waits on the
	// SQLite writer connection, busy with the next batch.
	Issue(ctx context.Context, q Query, args ...any) error
	// Sweep runs a one-statement delete of rows that no longer count
	// (expired, full, past retention) and returns how many it deleted.
	// Losing it in a power failure brings back only rows that are refused
	// anyway and go at the next sweep, so a backend may answer it at
	// commit, as Issue, instead of waiting for the disk.
	Sweep(ctx context.Context, q Query, args ...any) (int64, error)
	QueryRow(ctx context.Context, q Query, args ...any) Row
	Query(ctx context.Context, q Query, args ...any) (Rows, error)
	// ReadOne scans the row of q with args into dests, or returns
	// sql.ErrNoRows: the hot reads (a credential with its user at the
	// token endpoint, an access token's cutoffs), which an engine may
	// batch.
	ReadOne(ctx context.Context, q Query, args []any, dests ...any) error
	// InTx runs fn in a write transaction and commits it if fn returns
	// nil. fn may run more than once (PostgreSQL retries serialization
	// failures), so it must reset what it accumulates.
	InTx(ctx context.Context, fn func(context.Context, Tx) error) error
	// LockSigningKeys serializes, within tx, the transactions that change
	// alg's signing keys (where the engine does not do it already).
	LockSigningKeys(ctx context.Context, tx Tx, alg string) error
}

// Codec is how an engine stores the values that SQL does not spell alike.
// Each Dest returns a scan destination writing to p.
type Codec interface {
	// Time and NullTime encode a time; NullTime the zero time as NULL.
	Time(t time.Time) any
	NullTime(t time.Time) any
	// TimeDest scans a time (UTC); NULL becomes the zero time.
	TimeDest(p *time.Time) any
	// Strings encodes a string list (nil as empty); StringsDest scans one,
	// an empty list as nil.
	Strings(v []string) any
	StringsDest(p *[]string) any
	// NullStringDest scans text; NULL becomes "".
	NullStringDest(p *string) any
	// Classify reports the store sentinel an engine error means:
	// store.ErrConflict for a unique violation, store.ErrNotFound for a
	// foreign-key violation with ForeignKey (a parent row is gone) or for
	// text no row can hold, else nil.
	Classify(err error, foreignKey bool) error
}

// Store implements the store.Store methods that both engines run alike.
type Store struct {
	db   DB
	name string // error prefix
}

// New returns the shared methods on db; name prefixes their errors.
func New(db DB, name string) *Store { return &Store{db: db, name: name} }

// Wrap maps err onto the store sentinels, keeping the original error in
// the chain, and names the backend and op.
func (s *Store) Wrap(op string, err error) error { return Wrap(s.name, s.db, op, err) }

// Wrap is Store.Wrap for a backend's own methods: name is the backend, c
// its codec.
func Wrap(name string, c Codec, op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, errNoRows) {
		return fmt.Errorf("%s: %s: %w", name, op, store.ErrNotFound)
	}
	if sentinel := c.Classify(err, false); sentinel != nil {
		return fmt.Errorf("%s: %s: %w: %w", name, op, sentinel, err)
	}
	return fmt.Errorf("%s: %s: %w", name, op, err)
}

// MissingParent reports a foreign-key violation (the client or user of a
// new token was just deleted) as store.ErrNotFound.
func (s *Store) MissingParent(err error) error {
	if err == nil {
		return nil
	}
	if s.db.Classify(err, true) == store.ErrNotFound {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return err
}

// errNoRows is what a read of a missing row returns (pgx.ErrNoRows is
// one too), mapped to store.ErrNotFound by Wrap.
var errNoRows = sql.ErrNoRows

// oneRow turns "no row affected" into errNoRows.
func oneRow(n int64, err error) error {
	if err == nil && n == 0 {
		return errNoRows
	}
	return err
}

// scanAll scans every row of a query with scan.
func scanAll[T any](rows Rows, err error, scan func(Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// FoldKey is the case fold that user name and email uniqueness and
// lookups use, in both engines alike.
func FoldKey(s string) string { return strings.ToLower(s) }

// Blob keeps a nil byte slice from becoming NULL.
func Blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// NullString encodes "" as NULL.
func NullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
