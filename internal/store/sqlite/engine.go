package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlstore"
)

// engine runs the shared queries (sqlstore) on SQLite: writes through the
// group commit, reads through cached statements on the read pool.
type engine struct {
	codec
	s *Store
}

func (e engine) Exec(ctx context.Context, q sqlstore.Query, args ...any) (int64, error) {
	return affected(e.s.wx.ExecContext(ctx, q.In(sqlstore.SQLite), args...))
}

func (e engine) Issue(ctx context.Context, q sqlstore.Query, args ...any) error {
	_, err := e.s.ix.ExecContext(ctx, q.In(sqlstore.SQLite), args...)
	return err
}

// Sweep is answered at commit, as issuance is by default, whatever
// SyncIssuance says: a lost delete of expired rows fails closed.
func (e engine) Sweep(ctx context.Context, q sqlstore.Query, args ...any) (int64, error) {
	return e.s.sx.count(ctx, q.In(sqlstore.SQLite), args...)
}

func (e engine) QueryRow(ctx context.Context, q sqlstore.Query, args ...any) sqlstore.Row {
	return e.s.rx.QueryRowContext(ctx, q.In(sqlstore.SQLite), args...)
}

func (e engine) Query(ctx context.Context, q sqlstore.Query, args ...any) (sqlstore.Rows, error) {
	rows, err := e.s.rx.QueryContext(ctx, q.In(sqlstore.SQLite), args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (e engine) ReadOne(ctx context.Context, q sqlstore.Query, args []any, dests ...any) error {
	return e.s.rx.QueryRowContext(ctx, q.In(sqlstore.SQLite), args...).Scan(dests...)
}

func (e engine) InTx(ctx context.Context, fn func(context.Context, sqlstore.Tx) error) error {
	return e.s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, sqlTx{tx}) })
}

// LockSigningKeys does nothing: BEGIN IMMEDIATE holds the database's
// write lock for the whole transaction.
func (engine) LockSigningKeys(context.Context, sqlstore.Tx, string) error { return nil }

func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) Exec(ctx context.Context, q sqlstore.Query, args ...any) (int64, error) {
	return affected(t.tx.ExecContext(ctx, q.In(sqlstore.SQLite), args...))
}

func (t sqlTx) QueryRow(ctx context.Context, q sqlstore.Query, args ...any) sqlstore.Row {
	return t.tx.QueryRowContext(ctx, q.In(sqlstore.SQLite), args...)
}

// codec stores times as INTEGER microseconds since the Unix epoch and
// string lists as JSON arrays.
type codec struct{}

func (codec) Time(t time.Time) any     { return t.UnixMicro() }
func (codec) NullTime(t time.Time) any { return nullMicros(t) }

func (codec) TimeDest(p *time.Time) any { return microsDest{p} }

func (codec) Strings(v []string) any {
	s, err := strList(v)
	if err != nil {
		return badArg{err}
	}
	return s
}

func (codec) StringsDest(p *[]string) any  { return jsonListDest{p} }
func (codec) NullStringDest(p *string) any { return nullTextDest{p} }

func (codec) Classify(err error, foreignKey bool) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	if se.Code()&0xff == sqlite3.SQLITE_BUSY {
		// Another process held the database past busy_timeout (a backup,
		// a CLI command in a long transaction): the request may succeed
		// in a moment, a 503 rather than a 500.
		return store.ErrUnavailable
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return store.ErrConflict
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		if foreignKey {
			return store.ErrNotFound
		}
	}
	return nil
}

// microsDest scans microseconds into a UTC time; NULL is the zero time.
type microsDest struct{ p *time.Time }

func (d microsDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.p = time.Time{}
	case int64:
		*d.p = fromMicros(v)
	default:
		return fmt.Errorf("sqlite: time column holds %T", src)
	}
	return nil
}

// jsonListDest scans a JSON array of strings; an empty one becomes nil.
type jsonListDest struct{ p *[]string }

func (d jsonListDest) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("sqlite: string list column holds %T", src)
	}
	l, err := parseStrList(s)
	*d.p = l
	return err
}

// nullTextDest scans text; NULL becomes "".
type nullTextDest struct{ p *string }

func (d nullTextDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.p = ""
	case string:
		*d.p = v
	case []byte:
		*d.p = string(v)
	default:
		return fmt.Errorf("sqlite: text column holds %T", src)
	}
	return nil
}

// badArg fails the statement it is given to with err.
type badArg struct{ err error }

func (b badArg) Value() (any, error) { return nil, b.err }

// parseStrList decodes strList's encoding; an empty list comes back nil.
func parseStrList(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("decode string list: %w", err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}
