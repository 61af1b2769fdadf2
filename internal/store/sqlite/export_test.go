package sqlite

import (
	"context"

	"github.com/tolk-project/tolk/internal/store/sqlstore"
)

// WriterPragma and ReaderPragma read a pragma's value on the writer and on
// a reader connection, for tests. name is a constant of the test, not input.
func (s *Store) WriterPragma(ctx context.Context, name string) (v string, err error) {
	err = s.w.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

func (s *Store) ReaderPragma(ctx context.Context, name string) (v string, err error) {
	err = s.r.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// AuditListPlan returns SQLite's query plan of the audit list query.
func (s *Store) AuditListPlan(ctx context.Context) ([]string, error) {
	return s.plan(ctx, listAuditEvents, "org", "", "user", nil, "", 50)
}

// The statements that revoke access tokens by grant, by user, or by user
// and app.
var (
	RevokeGrantAccessSQL         = sqlstore.RevokeGrantAccess.In(sqlstore.SQLite)
	UserFamilyAccessSQL          = sqlstore.UserFamilyAccess.In(sqlstore.SQLite)
	UserAccessSQL                = sqlstore.UserAccess.In(sqlstore.SQLite)
	RevokeAuthorizationAccessSQL = sqlstore.RevokeAuthorizationAccess.In(sqlstore.SQLite)
)

// AccessTokenCutSQL is the read of an access token's cutoffs.
var AccessTokenCutSQL = sqlstore.AccessTokenCutSQL.In(sqlstore.SQLite)

// Plan returns SQLite's query plan of query.
func (s *Store) Plan(ctx context.Context, query string, args ...any) ([]string, error) {
	return s.plan(ctx, query, args...)
}

func (s *Store) plan(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		plan = append(plan, detail)
	}
	return plan, rows.Err()
}
