package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// execer is satisfied by both *sql.DB and *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// row is satisfied by *sql.Row and *sql.Rows.
type row interface {
	Scan(dest ...any) error
}

// ---- organizations ----

const orgColumns = `uid, name, created_at`

func insertOrganization(ctx context.Context, db execer, o store.Organization) error {
	_, err := db.ExecContext(ctx,
		`INSERT INTO organizations (uid, name, created_at) VALUES (?, ?, ?)`,
		o.UID, o.Name, micros(o.CreatedAt))
	return err
}

func scanOrganization(r row) (store.Organization, error) {
	var o store.Organization
	var created int64
	if err := r.Scan(&o.UID, &o.Name, &created); err != nil {
		return store.Organization{}, err
	}
	o.CreatedAt = fromMicros(created)
	return o, nil
}

// CreateOrganization implements store.Organizations.
func (s *Store) CreateOrganization(ctx context.Context, o store.Organization) error {
	return wrap("create organization", insertOrganization(ctx, s.wx, o))
}

// GetOrganization implements store.Organizations.
func (s *Store) GetOrganization(ctx context.Context, uid string) (store.Organization, error) {
	o, err := scanOrganization(s.rx.QueryRowContext(ctx,
		`SELECT `+orgColumns+` FROM organizations WHERE uid = ?`, uid))
	return o, wrap("get organization", err)
}

// ---- users ----

const userColumns = `uid, id, org_uid, user_name, email, first_name, last_name,
	role, password_hash, active, last_invalidate_all, created_at, updated_at`

func insertUser(ctx context.Context, db execer, u store.User) error {
	_, err := db.ExecContext(ctx, `INSERT INTO users (
			uid, id, org_uid, user_name, user_name_key, email, email_key,
			first_name, last_name, role, password_hash, active,
			last_invalidate_all, created_at, updated_at
		) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.UID, u.ID, u.OrgUID, u.UserName, foldKey(u.UserName), u.Email, foldKey(u.Email),
		u.FirstName, u.LastName, string(u.Role), u.PasswordHash, u.Active,
		nullMicros(u.LastInvalidateAll), micros(u.CreatedAt), micros(u.UpdatedAt))
	return err
}

// userScan receives userColumns (dests) and decodes them (user).
type userScan struct {
	u                store.User
	role             string
	lastInvalidate   sql.NullInt64
	created, updated int64
}

func (s *userScan) dests() []any {
	u := &s.u
	return []any{&u.UID, &u.ID, &u.OrgUID, &u.UserName, &u.Email, &u.FirstName, &u.LastName,
		&s.role, &u.PasswordHash, &u.Active, &s.lastInvalidate, &s.created, &s.updated}
}

func (s *userScan) user() store.User {
	u := s.u
	u.Role = store.Role(s.role)
	u.LastInvalidateAll = fromNullMicros(s.lastInvalidate)
	u.CreatedAt = fromMicros(s.created)
	u.UpdatedAt = fromMicros(s.updated)
	return u
}

// getWithUser runs q, a store.WithUser query, scanning the row into
// dests and returning its user.
func (s *Store) getWithUser(ctx context.Context, q, key string, dests []any) (store.User, error) {
	var us userScan
	if err := s.rx.QueryRowContext(ctx, q, key).Scan(append(dests, us.dests()...)...); err != nil {
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
	return wrap("create user", insertUser(ctx, s.wx, u))
}

// GetUser implements store.Users.
func (s *Store) GetUser(ctx context.Context, uid string) (store.User, error) {
	u, err := scanUser(s.rx.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE uid = ?`, uid))
	return u, wrap("get user", err)
}

// GetUserByUserName implements store.Users.
func (s *Store) GetUserByUserName(ctx context.Context, userName string) (store.User, error) {
	u, err := scanUser(s.rx.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE user_name_key = ?`, foldKey(userName)))
	return u, wrap("get user by user name", err)
}

// GetUserByEmail implements store.Users.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.rx.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE email_key = ?`, foldKey(email)))
	return u, wrap("get user by email", err)
}

// ListUsers implements store.Users. Users created in the same microsecond
// are ordered by UID.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.rx.QueryContext(ctx,
		`SELECT `+userColumns+` FROM users ORDER BY created_at, uid`)
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
	err := s.rx.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, wrap("count users", err)
}

// UpdatePasswordHash implements store.Users; at becomes UpdatedAt.
func (s *Store) UpdatePasswordHash(ctx context.Context, uid, hash string, at time.Time) error {
	res, err := s.wx.ExecContext(ctx,
		`UPDATE users SET password_hash = ?, updated_at = ? WHERE uid = ?`,
		hash, micros(at), uid)
	if err != nil {
		return wrap("update password hash", err)
	}
	return wrap("update password hash", oneRow(res))
}

// oneRow turns "no row affected" into sql.ErrNoRows (hence ErrNotFound).
func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// ---- API tokens ----

// CreateAPIToken implements store.APITokens.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	_, err := s.ix.ExecContext(ctx,
		`INSERT INTO api_tokens (hash, user_uid, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		t.Hash, t.UserUID, micros(t.CreatedAt), micros(t.ExpiresAt))
	return wrap("create api token", err)
}

// GetAPIToken implements store.APITokens.
func (s *Store) GetAPIToken(ctx context.Context, hash string) (store.APIToken, error) {
	t := store.APIToken{}
	var created, expires int64
	err := s.rx.QueryRowContext(ctx,
		`SELECT hash, user_uid, created_at, expires_at FROM api_tokens WHERE hash = ?`, hash,
	).Scan(&t.Hash, &t.UserUID, &created, &expires)
	if err != nil {
		return store.APIToken{}, wrap("get api token", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromMicros(expires)
	return t, nil
}

// DeleteAPIToken implements store.APITokens. The DELETE is one statement on
// the single writer, so exactly one of concurrent callers affects the row.
func (s *Store) DeleteAPIToken(ctx context.Context, hash string) (bool, error) {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM api_tokens WHERE hash = ?`, hash)
	if err != nil {
		return false, wrap("delete api token", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("delete api token", err)
}

// DeleteExpiredAPITokens implements store.APITokens.
func (s *Store) DeleteExpiredAPITokens(ctx context.Context, t time.Time) (int, error) {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM api_tokens WHERE expires_at < ?`, micros(t))
	if err != nil {
		return 0, wrap("delete expired api tokens", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("delete expired api tokens", err)
}

// ---- web sessions ----

// CreateWebSession implements store.WebSessions.
func (s *Store) CreateWebSession(ctx context.Context, ws store.WebSession) error {
	_, err := s.ix.ExecContext(ctx, `INSERT INTO web_sessions
			(hash, user_uid, csrf_token, auth_time, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		ws.Hash, ws.UserUID, ws.CSRFToken, micros(ws.AuthTime), micros(ws.CreatedAt), micros(ws.ExpiresAt))
	return wrap("create web session", err)
}

// GetWebSession implements store.WebSessions.
func (s *Store) GetWebSession(ctx context.Context, hash string) (store.WebSession, error) {
	ws := store.WebSession{}
	var auth, created, expires int64
	err := s.rx.QueryRowContext(ctx, `SELECT hash, user_uid, csrf_token, auth_time, created_at, expires_at
		FROM web_sessions WHERE hash = ?`, hash,
	).Scan(&ws.Hash, &ws.UserUID, &ws.CSRFToken, &auth, &created, &expires)
	if err != nil {
		return store.WebSession{}, wrap("get web session", err)
	}
	ws.AuthTime, ws.CreatedAt, ws.ExpiresAt = fromMicros(auth), fromMicros(created), fromMicros(expires)
	return ws, nil
}

// DeleteWebSession implements store.WebSessions (see DeleteAPIToken).
func (s *Store) DeleteWebSession(ctx context.Context, hash string) (bool, error) {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM web_sessions WHERE hash = ?`, hash)
	if err != nil {
		return false, wrap("delete web session", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("delete web session", err)
}

// SignOutUser implements store.WebSessions.
func (s *Store) SignOutUser(ctx context.Context, userUID string, at time.Time) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// The user first: an unknown user fails before anything is deleted.
		res, err := tx.ExecContext(ctx,
			`UPDATE users SET last_invalidate_all = ? WHERE uid = ?`, nullMicros(at), userUID)
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_uid = ?`, userUID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE user_uid = ?`, userUID)
		return err
	})
	return wrap("sign out user", err)
}

// ---- bootstrap ----

// errAlreadyBootstrapped rolls back BootstrapAdmin's transaction.
var errAlreadyBootstrapped = errors.New("already bootstrapped")

// BootstrapAdmin implements store.Bootstrap. It first claims the one row of
// the bootstrap table; only the transaction that inserted it goes on to
// create the organization and admin, and only if no user exists.
func (s *Store) BootstrapAdmin(ctx context.Context, org store.Organization, admin store.User) (bool, error) {
	if admin.OrgUID != org.UID {
		return false, fmt.Errorf("sqlite: bootstrap admin: admin.OrgUID %q is not org.UID %q", admin.OrgUID, org.UID)
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO bootstrap (id, org_uid, admin_uid, created_at)
			VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			org.UID, admin.UID, micros(time.Now()))
		if err != nil {
			return err
		}
		if oneRow(res) != nil {
			return errAlreadyBootstrapped
		}
		var users bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&users); err != nil {
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
	o, err := scanOrganization(s.rx.QueryRowContext(ctx, `SELECT o.uid, o.name, o.created_at
		FROM bootstrap b JOIN organizations o ON o.uid = b.org_uid WHERE b.id = 1`))
	return o, wrap("default organization", err)
}
