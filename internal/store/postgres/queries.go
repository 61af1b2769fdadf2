package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tolk-project/tolk/internal/store"
)

// execer is satisfied by both *pgxpool.Pool and pgx.Tx.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// row is satisfied by pgx.Row and pgx.Rows.
type row interface {
	Scan(dest ...any) error
}

// oneRow turns "no row affected" into pgx.ErrNoRows (hence ErrNotFound).
func oneRow(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return pgx.ErrNoRows
	}
	return nil
}

// ---- organizations ----

const orgColumns = `uid, name, created_at`

func insertOrganization(ctx context.Context, db execer, o store.Organization) error {
	_, err := db.Exec(ctx,
		`INSERT INTO organizations (uid, name, created_at) VALUES ($1, $2, $3)`,
		o.UID, o.Name, o.CreatedAt)
	return err
}

func scanOrganization(r row) (store.Organization, error) {
	var o store.Organization
	if err := r.Scan(&o.UID, &o.Name, &o.CreatedAt); err != nil {
		return store.Organization{}, err
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return o, nil
}

// CreateOrganization implements store.Organizations.
func (s *Store) CreateOrganization(ctx context.Context, o store.Organization) error {
	return wrap("create organization", insertOrganization(ctx, s.pool, o))
}

// GetOrganization implements store.Organizations.
func (s *Store) GetOrganization(ctx context.Context, uid string) (store.Organization, error) {
	o, err := scanOrganization(s.pool.QueryRow(ctx,
		`SELECT `+orgColumns+` FROM organizations WHERE uid = $1`, uid))
	return o, wrap("get organization", err)
}

// ---- users ----

const userColumns = `uid, id, org_uid, user_name, email, first_name, last_name,
	role, password_hash, active, last_invalidate_all, created_at, updated_at`

func insertUser(ctx context.Context, db execer, u store.User) error {
	_, err := db.Exec(ctx, `INSERT INTO users (
			uid, id, org_uid, user_name, user_name_key, email, email_key,
			first_name, last_name, role, password_hash, active,
			last_invalidate_all, created_at, updated_at
		) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		u.UID, u.ID, u.OrgUID, u.UserName, foldKey(u.UserName), u.Email, foldKey(u.Email),
		u.FirstName, u.LastName, string(u.Role), u.PasswordHash, u.Active,
		nullTime(u.LastInvalidateAll), u.CreatedAt, u.UpdatedAt)
	return err
}

// userScan receives userColumns (dests) and decodes them (user).
type userScan struct {
	u              store.User
	role           string
	lastInvalidate *time.Time
}

func (s *userScan) dests() []any {
	u := &s.u
	return []any{&u.UID, &u.ID, &u.OrgUID, &u.UserName, &u.Email, &u.FirstName, &u.LastName,
		&s.role, &u.PasswordHash, &u.Active, &s.lastInvalidate, &u.CreatedAt, &u.UpdatedAt}
}

func (s *userScan) user() store.User {
	u := s.u
	u.Role = store.Role(s.role)
	u.LastInvalidateAll = fromNullTime(s.lastInvalidate)
	u.CreatedAt = u.CreatedAt.UTC()
	u.UpdatedAt = u.UpdatedAt.UTC()
	return u
}

// getWithUser runs q, a store.WithUser query, scanning the row into
// dests and returning its user.
func (s *Store) getWithUser(ctx context.Context, q, key string, dests []any) (store.User, error) {
	var us userScan
	if err := s.reads.do(ctx, rowRead{q: q, args: []any{key}, dests: append(dests, us.dests()...)}); err != nil {
		return store.User{}, err
	}
	return us.user(), nil
}

func scanUser(r row) (store.User, error) {
	var s userScan
	if err := r.Scan(s.dests()...); err != nil {
		return store.User{}, err
	}
	return s.user(), nil
}

// CreateUser implements store.Users.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return wrap("create user", insertUser(ctx, s.pool, u))
}

// GetUser implements store.Users.
func (s *Store) GetUser(ctx context.Context, uid string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE uid = $1`, uid))
	return u, wrap("get user", err)
}

// GetUserByUserName implements store.Users.
func (s *Store) GetUserByUserName(ctx context.Context, userName string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE user_name_key = $1`, foldKey(userName)))
	return u, wrap("get user by user name", err)
}

// GetUserByEmail implements store.Users.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE email_key = $1`, foldKey(email)))
	return u, wrap("get user by email", err)
}

// ListUsers implements store.Users. Users created in the same microsecond
// are ordered by UID, bytewise (COLLATE "C") as in SQLite.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+userColumns+` FROM users ORDER BY created_at, uid COLLATE "C"`)
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	var us []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("list users", err)
		}
		us = append(us, u)
	}
	return us, wrap("list users", rows.Err())
}

// CountUsers implements store.Users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, wrap("count users", err)
}

// UpdatePasswordHash implements store.Users; at becomes UpdatedAt.
func (s *Store) UpdatePasswordHash(ctx context.Context, uid, hash string, at time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE users SET password_hash = $1, updated_at = $2 WHERE uid = $3`, hash, at, uid)
	if err != nil {
		return wrap("update password hash", err)
	}
	return wrap("update password hash", oneRow(tag))
}

// ---- API tokens ----

// CreateAPIToken implements store.APITokens.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	_, err := s.issue.Exec(ctx,
		`INSERT INTO api_tokens (hash, user_uid, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		t.Hash, t.UserUID, t.CreatedAt, t.ExpiresAt)
	return wrap("create api token", err)
}

// GetAPIToken implements store.APITokens.
func (s *Store) GetAPIToken(ctx context.Context, hash string) (store.APIToken, error) {
	var t store.APIToken
	err := s.pool.QueryRow(ctx,
		`SELECT hash, user_uid, created_at, expires_at FROM api_tokens WHERE hash = $1`, hash,
	).Scan(&t.Hash, &t.UserUID, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return store.APIToken{}, wrap("get api token", err)
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// DeleteAPIToken implements store.APITokens. Concurrent DELETEs of one row
// serialize on its row lock; only the first affects it.
func (s *Store) DeleteAPIToken(ctx context.Context, hash string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_tokens WHERE hash = $1`, hash)
	if err != nil {
		return false, wrap("delete api token", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteExpiredAPITokens implements store.APITokens.
func (s *Store) DeleteExpiredAPITokens(ctx context.Context, t time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_tokens WHERE expires_at < $1`, t)
	if err != nil {
		return 0, wrap("delete expired api tokens", err)
	}
	return int(tag.RowsAffected()), nil
}

// ---- web sessions ----

// CreateWebSession implements store.WebSessions.
func (s *Store) CreateWebSession(ctx context.Context, ws store.WebSession) error {
	_, err := s.issue.Exec(ctx, `INSERT INTO web_sessions
			(hash, user_uid, csrf_token, auth_time, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		ws.Hash, ws.UserUID, ws.CSRFToken, ws.AuthTime, ws.CreatedAt, ws.ExpiresAt)
	return wrap("create web session", err)
}

// GetWebSession implements store.WebSessions.
func (s *Store) GetWebSession(ctx context.Context, hash string) (store.WebSession, error) {
	var ws store.WebSession
	err := s.pool.QueryRow(ctx, `SELECT hash, user_uid, csrf_token, auth_time, created_at, expires_at
		FROM web_sessions WHERE hash = $1`, hash,
	).Scan(&ws.Hash, &ws.UserUID, &ws.CSRFToken, &ws.AuthTime, &ws.CreatedAt, &ws.ExpiresAt)
	if err != nil {
		return store.WebSession{}, wrap("get web session", err)
	}
	ws.AuthTime, ws.CreatedAt, ws.ExpiresAt = ws.AuthTime.UTC(), ws.CreatedAt.UTC(), ws.ExpiresAt.UTC()
	return ws, nil
}

// DeleteWebSession implements store.WebSessions (see DeleteAPIToken).
func (s *Store) DeleteWebSession(ctx context.Context, hash string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM web_sessions WHERE hash = $1`, hash)
	if err != nil {
		return false, wrap("delete web session", err)
	}
	return tag.RowsAffected() == 1, nil
}

// SignOutUser implements store.WebSessions.
func (s *Store) SignOutUser(ctx context.Context, userUID string, at time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The user first: an unknown user fails before anything is deleted,
		// and the row lock orders concurrent sign-outs of one user.
		tag, err := tx.Exec(ctx,
			`UPDATE users SET last_invalidate_all = $1 WHERE uid = $2`, nullTime(at), userUID)
		if err != nil {
			return err
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM web_sessions WHERE user_uid = $1`, userUID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM api_tokens WHERE user_uid = $1`, userUID)
		return err
	})
	return wrap("sign out user", err)
}

// ---- bootstrap ----

// errAlreadyBootstrapped rolls back BootstrapAdmin's transaction.
var errAlreadyBootstrapped = errors.New("already bootstrapped")

// BootstrapAdmin implements store.Bootstrap. It first claims the one row of
// the bootstrap table: a concurrent claimer blocks on the uncommitted row and
// then, once the first commits, inserts nothing. Only the transaction that
// inserted the row goes on to create the organization and admin, and only if
// no user exists. Claiming first also keeps losers from ever reaching the
// users table, where the same admin name would surface as ErrConflict.
func (s *Store) BootstrapAdmin(ctx context.Context, org store.Organization, admin store.User) (bool, error) {
	if admin.OrgUID != org.UID {
		return false, fmt.Errorf("postgres: bootstrap admin: admin.OrgUID %q is not org.UID %q", admin.OrgUID, org.UID)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO bootstrap (id, org_uid, admin_uid, created_at)
			VALUES (1, $1, $2, now()) ON CONFLICT (id) DO NOTHING`,
			org.UID, admin.UID)
		if err != nil {
			return err
		}
		if oneRow(tag) != nil {
			return errAlreadyBootstrapped
		}
		var users bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&users); err != nil {
			return err
		}
		if users {
			return errAlreadyBootstrapped
		}
		if err := insertOrganization(ctx, tx, org); err != nil {
			return err
		}
		return insertUser(ctx, tx, admin)
	})
	if errors.Is(err, errAlreadyBootstrapped) {
		return false, nil
	}
	if err != nil {
		return false, wrap("bootstrap admin", err)
	}
	return true, nil
}

// DefaultOrganization implements store.Bootstrap.
func (s *Store) DefaultOrganization(ctx context.Context) (store.Organization, error) {
	o, err := scanOrganization(s.pool.QueryRow(ctx, `SELECT o.uid, o.name, o.created_at
		FROM bootstrap b JOIN organizations o ON o.uid = b.org_uid WHERE b.id = 1`))
	return o, wrap("default organization", err)
}
