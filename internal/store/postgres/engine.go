package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlstore"
)

// engine runs the shared queries (sqlstore) on the pools; the token
// endpoint's reads of a credential with its user, and access token
// verification's read of cutoffs, go through the read batcher.
type engine struct {
	codec
	s *Store
}

func (e engine) Exec(ctx context.Context, q sqlstore.Query, args ...any) (int64, error) {
	var tag pgconn.CommandTag
	err := e.s.health.do(ctx, writeOp, func() (err error) {
		tag, err = e.s.pool.Exec(ctx, q.In(sqlstore.PostgreSQL), args...)
		return err
	})
	return tag.RowsAffected(), err
}

// Issue inserts a new token, code or session under its fresh random hash:
// it may run again after an attempt whose outcome was lost (insertOp).
func (e engine) Issue(ctx context.Context, q sqlstore.Query, args ...any) error {
	return e.s.health.do(ctx, insertOp, func() error {
		_, err := e.s.issue.Exec(ctx, q.In(sqlstore.PostgreSQL), args...)
		return err
	})
}

// Sweep deletes on the issuance pool: its commits do not wait for the
// WAL flush.
func (e engine) Sweep(ctx context.Context, q sqlstore.Query, args ...any) (int64, error) {
	var tag pgconn.CommandTag
	err := e.s.health.do(ctx, writeOp, func() (err error) {
		tag, err = e.s.issue.Exec(ctx, q.In(sqlstore.PostgreSQL), args...)
		return err
	})
	return tag.RowsAffected(), err
}

func (e engine) QueryRow(ctx context.Context, q sqlstore.Query, args ...any) sqlstore.Row {
	sql := q.In(sqlstore.PostgreSQL)
	return retryRow{ctx: ctx, s: e.s, sql: sql, args: args}
}

// retryRow runs its query when scanned, as pgx's Row does, through
// health.do.
type retryRow struct {
	ctx  context.Context
	s    *Store
	sql  string
	args []any
}

func (r retryRow) Scan(dest ...any) error {
	return r.s.health.do(r.ctx, kindOf(r.sql), func() error {
		return r.s.pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	})
}

// Query retries only the start of the query: rows already read cannot be
// read again.
func (e engine) Query(ctx context.Context, q sqlstore.Query, args ...any) (sqlstore.Rows, error) {
	sql := q.In(sqlstore.PostgreSQL)
	var rows pgx.Rows
	err := e.s.health.do(ctx, kindOf(sql), func() (err error) {
		rows, err = e.s.pool.Query(ctx, sql, args...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (e engine) ReadOne(ctx context.Context, q sqlstore.Query, args []any, dests ...any) error {
	return e.s.reads.do(ctx, rowRead{q: q.In(sqlstore.PostgreSQL), args: args, dests: dests})
}

func (e engine) InTx(ctx context.Context, fn func(context.Context, sqlstore.Tx) error) error {
	return e.s.inTx(ctx, func(tx pgx.Tx) error { return fn(ctx, pgTx{tx}) })
}

// signingKeyLockClass is the first key of the two-key advisory locks that
// serialize EnsureSigningKey and RotateSigningKey per algorithm ("tolk" in
// ASCII); the second is hashtext(alg). Two-key locks never collide with
// the one-key migration lock.
const signingKeyLockClass int32 = 0x746f6c6b

var lockAlgSQL = sqlstore.Q(`SELECT pg_advisory_xact_lock(?, hashtext(?))`)

// LockSigningKeys takes alg's advisory lock, so concurrent callers, in
// this process or others, take turns; under READ COMMITTED each later
// statement sees what earlier lock holders committed.
func (engine) LockSigningKeys(ctx context.Context, tx sqlstore.Tx, alg string) error {
	_, err := tx.Exec(ctx, lockAlgSQL, signingKeyLockClass, alg)
	return err
}

type pgTx struct{ tx pgx.Tx }

func (t pgTx) Exec(ctx context.Context, q sqlstore.Query, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, q.In(sqlstore.PostgreSQL), args...)
	return tag.RowsAffected(), err
}

func (t pgTx) QueryRow(ctx context.Context, q sqlstore.Query, args ...any) sqlstore.Row {
	return t.tx.QueryRow(ctx, q.In(sqlstore.PostgreSQL), args...)
}

// codec uses PostgreSQL's own types: timestamptz and text[].
type codec struct{}

func (codec) Time(t time.Time) any     { return t }
func (codec) NullTime(t time.Time) any { return nullTime(t) }

func (codec) TimeDest(p *time.Time) any { return timeDest{p} }

// Strings keeps a nil list from becoming NULL: text[] columns are NOT NULL.
func (codec) Strings(v []string) any {
	if v == nil {
		return []string{}
	}
	return v
}

func (codec) StringsDest(p *[]string) any  { return listDest{p} }
func (codec) NullStringDest(p *string) any { return textDest{p} }

func (codec) Classify(err error, foreignKey bool) error {
	if unavailable(err) {
		return store.ErrUnavailable
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return nil
	}
	switch pe.Code {
	case "23505": // unique_violation
		return store.ErrConflict
	case "23503": // foreign_key_violation
		if foreignKey {
			return store.ErrNotFound
		}
	case "22021": // character_not_in_repertoire: NUL or invalid UTF-8
		// No row can hold such text, so none matches it. Callers refuse
		// it before (store.ValidText); this keeps one they missed a "not
		// found", as on SQLite, instead of a 500.
		return store.ErrNotFound
	}
	return nil
}

// timeDest scans a timestamptz in UTC; NULL is the zero time.
type timeDest struct{ p *time.Time }

func (d timeDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		*d.p = time.Time{}
		return nil
	}
	*d.p = v.Time.UTC()
	return nil
}

// textDest scans text; NULL is "".
type textDest struct{ p *string }

func (d textDest) ScanText(v pgtype.Text) error {
	*d.p = v.String
	return nil
}

// listDest scans a text[]; an empty array is nil, as on SQLite.
type listDest struct{ p *[]string }

func (d listDest) SetDimensions(dims []pgtype.ArrayDimension) error {
	n := 0
	if len(dims) > 0 {
		n = 1
		for _, dim := range dims {
			n *= int(dim.Length)
		}
	}
	if n == 0 {
		*d.p = nil
		return nil
	}
	*d.p = make([]string, n)
	return nil
}

func (d listDest) ScanIndex(i int) any { return &(*d.p)[i] }

func (d listDest) ScanIndexType() any { return new(string) }

// execer is satisfied by *pgxpool.Pool and pgx.Tx.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}
