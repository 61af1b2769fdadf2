package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- organizations ----

const orgColumns = `uid, name, created_at`

var (
	insertOrganizationSQL  = Q(`INSERT INTO organizations (uid, name, created_at) VALUES (?, ?, ?)`)
	getOrganizationSQL     = Q(`SELECT ` + orgColumns + ` FROM organizations WHERE uid = ?`)
	defaultOrganizationSQL = Q(`SELECT o.uid, o.name, o.created_at
		FROM bootstrap b JOIN organizations o ON o.uid = b.org_uid WHERE b.id = 1`)
)

func (s *Store) insertOrganization(ctx context.Context, exec execFunc, o store.Organization) error {
	_, err := exec(ctx, insertOrganizationSQL, o.UID, o.Name, s.db.Time(o.CreatedAt))
	return err
}

func (s *Store) scanOrganization(r Row) (store.Organization, error) {
	var o store.Organization
	if err := r.Scan(&o.UID, &o.Name, s.db.TimeDest(&o.CreatedAt)); err != nil {
		return store.Organization{}, err
	}
	return o, nil
}

// execFunc is DB.Exec, DB.Issue or Tx.Exec.
type execFunc func(ctx context.Context, q Query, args ...any) (int64, error)

// CreateOrganization implements store.Organizations.
func (s *Store) CreateOrganization(ctx context.Context, o store.Organization) error {
	return s.Wrap("create organization", s.insertOrganization(ctx, s.db.Exec, o))
}

// GetOrganization implements store.Organizations.
func (s *Store) GetOrganization(ctx context.Context, uid string) (store.Organization, error) {
	o, err := s.scanOrganization(s.db.QueryRow(ctx, getOrganizationSQL, uid))
	return o, s.Wrap("get organization", err)
}

// ---- users ----

// UserColumns are the columns UserScan receives.
const UserColumns = `uid, id, org_uid, user_name, email, first_name, last_name,
	role, password_hash, active, last_invalidate_all, created_at, updated_at, language`

var (
	insertUserSQL = Q(`INSERT INTO users (
			uid, id, org_uid, user_name, user_name_key, email, email_key,
			first_name, last_name, role, password_hash, active,
			last_invalidate_all, created_at, updated_at, language
		) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getUserSQL          = Q(`SELECT ` + UserColumns + ` FROM users WHERE uid = ?`)
	getUserByNameSQL    = Q(`SELECT ` + UserColumns + ` FROM users WHERE user_name_key = ?`)
	getUserByEmailSQL   = Q(`SELECT ` + UserColumns + ` FROM users WHERE email_key = ?`)
	listUsersSQL        = Q(`SELECT ` + UserColumns + ` FROM users ORDER BY created_at, uid COLLATE "C"`)
	countUsersSQL       = Q(`SELECT count(*) FROM users`)
	updatePasswordSQL   = Q(`UPDATE users SET password_hash = ?, updated_at = ? WHERE uid = ?`)
	setInvalidateAllSQL = Q(`UPDATE users SET last_invalidate_all = ? WHERE uid = ?`)
	deleteUserSessions  = Q(`DELETE FROM web_sessions WHERE user_uid = ?`)
	deleteUserAPITokens = Q(`DELETE FROM api_tokens WHERE user_uid = ?`)
	bootstrapClaimSQL   = Q(`INSERT INTO bootstrap (id, org_uid, admin_uid, created_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	anyUserSQL          = Q(`SELECT EXISTS (SELECT 1 FROM users)`)
)

func (s *Store) insertUser(ctx context.Context, exec execFunc, u store.User) error {
	_, err := exec(ctx, insertUserSQL,
		u.UID, u.ID, u.OrgUID, u.UserName, FoldKey(u.UserName), u.Email, FoldKey(u.Email),
		u.FirstName, u.LastName, string(u.Role), u.PasswordHash, u.Active,
		s.db.NullTime(u.LastInvalidateAll), s.db.Time(u.CreatedAt), s.db.Time(u.UpdatedAt), u.Language)
	return err
}

// UserScan receives UserColumns (Dests) and decodes them (User).
type UserScan struct {
	u    store.User
	role string
}

// Dests are the scan destinations of UserColumns.
func (us *UserScan) Dests(c Codec) []any {
	u := &us.u
	return []any{&u.UID, &u.ID, &u.OrgUID, &u.UserName, &u.Email, &u.FirstName, &u.LastName,
		&us.role, &u.PasswordHash, &u.Active, c.TimeDest(&u.LastInvalidateAll), c.TimeDest(&u.CreatedAt), c.TimeDest(&u.UpdatedAt), &u.Language}
}

// User is the user scanned.
func (us *UserScan) User() store.User {
	u := us.u
	u.Role = store.Role(us.role)
	return u
}

func (s *Store) scanUser(r Row) (store.User, error) {
	var us UserScan
	if err := r.Scan(us.Dests(s.db)...); err != nil {
		return store.User{}, err
	}
	return us.User(), nil
}

// getWithUser runs q, a store.WithUser query by key, scanning the row
// into dests and returning its user.
func (s *Store) getWithUser(ctx context.Context, q Query, key string, dests []any) (store.User, error) {
	var us UserScan
	if err := s.db.ReadOne(ctx, q, []any{key}, append(dests, us.Dests(s.db)...)...); err != nil {
		return store.User{}, err
	}
	return us.User(), nil
}

// withUser is store.WithUser in the neutral spelling.
func withUser(table, columns, key string) Query {
	return Q(store.WithUser(table, columns, UserColumns, key, "?"))
}

// CreateUser implements store.Users.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return s.Wrap("create user", s.insertUser(ctx, s.db.Exec, u))
}

// GetUser implements store.Users.
func (s *Store) GetUser(ctx context.Context, uid string) (store.User, error) {
	u, err := s.scanUser(s.db.QueryRow(ctx, getUserSQL, uid))
	return u, s.Wrap("get user", err)
}

// GetUserByUserName implements store.Users.
func (s *Store) GetUserByUserName(ctx context.Context, userName string) (store.User, error) {
	u, err := s.scanUser(s.db.QueryRow(ctx, getUserByNameSQL, FoldKey(userName)))
	return u, s.Wrap("get user by user name", err)
}

// GetUserByEmail implements store.Users.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := s.scanUser(s.db.QueryRow(ctx, getUserByEmailSQL, FoldKey(email)))
	return u, s.Wrap("get user by email", err)
}

// ListUsers implements store.Users. Users created in the same microsecond
// are ordered by UID, bytewise.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.db.Query(ctx, listUsersSQL)
	us, err := scanAll(rows, err, s.scanUser)
	return us, s.Wrap("list users", err)
}

// CountUsers implements store.Users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, countUsersSQL).Scan(&n)
	return n, s.Wrap("count users", err)
}

// UpdatePasswordHash implements store.Users; at becomes UpdatedAt.
func (s *Store) UpdatePasswordHash(ctx context.Context, uid, hash string, at time.Time) error {
	return s.Wrap("update password hash", oneRow(s.db.Exec(ctx, updatePasswordSQL, hash, s.db.Time(at), uid)))
}

// ---- API tokens ----

var (
	insertAPITokenSQL = Q(`INSERT INTO api_tokens (hash, user_uid, created_at, expires_at) VALUES (?, ?, ?, ?)`)
	getAPITokenSQL    = Q(`SELECT ` + apiTokenColumns + ` FROM api_tokens WHERE hash = ?`)
	deleteAPITokenSQL = Q(`DELETE FROM api_tokens WHERE hash = ?`)
)

// CreateAPIToken implements store.APITokens.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	err := s.db.Issue(ctx, insertAPITokenSQL, t.Hash, t.UserUID, s.db.Time(t.CreatedAt), s.db.Time(t.ExpiresAt))
	return s.Wrap("create api token", err)
}

// GetAPIToken implements store.APITokens.
func (s *Store) GetAPIToken(ctx context.Context, hash string) (store.APIToken, error) {
	t, err := s.scanAPIToken(s.db.QueryRow(ctx, getAPITokenSQL, hash))
	if err != nil {
		return store.APIToken{}, s.Wrap("get api token", err)
	}
	return t, nil
}

// DeleteAPIToken implements store.APITokens. The DELETE is one statement,
// so exactly one of concurrent callers affects the row (SQLite's single
// writer, PostgreSQL's row lock).
func (s *Store) DeleteAPIToken(ctx context.Context, hash string) (bool, error) {
	n, err := s.db.Exec(ctx, deleteAPITokenSQL, hash)
	return n == 1, s.Wrap("delete api token", err)
}

// ---- web sessions ----

var (
	insertWebSessionSQL = Q(`INSERT INTO web_sessions
			(hash, user_uid, csrf_token, auth_time, created_at, expires_at, user_agent, address)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	getWebSessionSQL    = Q(`SELECT ` + webSessionColumns + ` FROM web_sessions WHERE hash = ?`)
	deleteWebSessionSQL = Q(`DELETE FROM web_sessions WHERE hash = ?`)
)

// CreateWebSession implements store.WebSessions.
func (s *Store) CreateWebSession(ctx context.Context, ws store.WebSession) error {
	err := s.db.Issue(ctx, insertWebSessionSQL, ws.Hash, ws.UserUID, ws.CSRFToken,
		s.db.Time(ws.AuthTime), s.db.Time(ws.CreatedAt), s.db.Time(ws.ExpiresAt), ws.UserAgent, ws.Address)
	return s.Wrap("create web session", err)
}

// GetWebSession implements store.WebSessions.
func (s *Store) GetWebSession(ctx context.Context, hash string) (store.WebSession, error) {
	ws, err := s.scanWebSession(s.db.QueryRow(ctx, getWebSessionSQL, hash))
	if err != nil {
		return store.WebSession{}, s.Wrap("get web session", err)
	}
	return ws, nil
}

// DeleteWebSession implements store.WebSessions (see DeleteAPIToken).
func (s *Store) DeleteWebSession(ctx context.Context, hash string) (bool, error) {
	n, err := s.db.Exec(ctx, deleteWebSessionSQL, hash)
	return n == 1, s.Wrap("delete web session", err)
}

// SignOutUser implements store.WebSessions.
func (s *Store) SignOutUser(ctx context.Context, userUID string, at time.Time) error {
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		// The user first: an unknown user fails before anything is
		// deleted, and on PostgreSQL the row lock orders concurrent
		// sign-outs of one user.
		if err := oneRow(tx.Exec(ctx, setInvalidateAllSQL, s.db.NullTime(at), userUID)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteUserSessions, userUID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, deleteUserAPITokens, userUID)
		return err
	})
	return s.Wrap("sign out user", err)
}

// ---- bootstrap ----

// errAlreadyBootstrapped rolls back BootstrapAdmin's transaction.
var errAlreadyBootstrapped = errors.New("already bootstrapped")

// BootstrapAdmin implements store.Bootstrap. It first claims the one row
// of the bootstrap table; only the transaction that inserted it goes on to
// create the organization and admin, and only if no user exists. On
// PostgreSQL a concurrent claimer blocks on the uncommitted row and then
// inserts nothing, so losers never reach the users table (where the same
// admin name would surface as ErrConflict); SQLite runs one writer at a
// time.
func (s *Store) BootstrapAdmin(ctx context.Context, org store.Organization, admin store.User) (bool, error) {
	if admin.OrgUID != org.UID {
		return false, fmt.Errorf("%s: bootstrap admin: admin.OrgUID %q is not org.UID %q", s.name, admin.OrgUID, org.UID)
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		n, err := tx.Exec(ctx, bootstrapClaimSQL, org.UID, admin.UID, s.db.Time(time.Now()))
		if err != nil {
			return err
		}
		if n == 0 {
			return errAlreadyBootstrapped
		}
		var users bool
		if err := tx.QueryRow(ctx, anyUserSQL).Scan(&users); err != nil {
			return err
		}
		if users {
			return errAlreadyBootstrapped
		}
		if err := s.insertOrganization(ctx, tx.Exec, org); err != nil {
			return err
		}
		return s.insertUser(ctx, tx.Exec, admin)
	})
	if errors.Is(err, errAlreadyBootstrapped) {
		return false, nil
	}
	if err != nil {
		return false, s.Wrap("bootstrap admin", err)
	}
	return true, nil
}

// DefaultOrganization implements store.Bootstrap.
func (s *Store) DefaultOrganization(ctx context.Context) (store.Organization, error) {
	o, err := s.scanOrganization(s.db.QueryRow(ctx, defaultOrganizationSQL))
	return o, s.Wrap("default organization", err)
}

// ---- user administration (store.UserAdmin) ----

var (
	activateUserSQL   = Q(`UPDATE users SET active = ?, updated_at = ? WHERE uid = ?`)
	deactivateUserSQL = Q(`UPDATE users SET active = ?, updated_at = ?, last_invalidate_all = ? WHERE uid = ?`)
	// deactivateSQL end every session and token of a deactivated user:
	// whole families (every access token of a grant the user's refresh
	// tokens belong to), then the user's own tokens.
	deactivateSQL = []Query{
		deleteUserSessions,
		Q(`DELETE FROM pending_logins WHERE user_uid = ?`),
		deleteUserAPITokens,
		UserFamilyAccess,
		UserAccess,
		Q(`DELETE FROM refresh_tokens WHERE user_uid = ?`),
		Q(`DELETE FROM auth_codes WHERE user_uid = ? AND used_at IS NULL`),
		deletePasswordResetSQL, // a link must not outlive a deactivation
	}
	setUserRoleSQL = Q(`UPDATE users SET role = ?, updated_at = ? WHERE uid = ?`)
)

// SetUserActive implements store.UserAdmin. Deactivation is one
// transaction: the user row first (an unknown user fails before anything
// is deleted, and on PostgreSQL the row lock orders it against concurrent
// sign-outs and token issues that read the user), then every session and
// token, then the cuts. Activation ignores cuts.
func (s *Store) SetUserActive(ctx context.Context, uid string, active bool, at time.Time, cuts ...store.Cutoff) error {
	if active {
		return s.Wrap("set user active", oneRow(s.db.Exec(ctx, activateUserSQL, true, s.db.Time(at), uid)))
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := oneRow(tx.Exec(ctx, deactivateUserSQL, false, s.db.Time(at), s.db.Time(at), uid)); err != nil {
			return err
		}
		for _, q := range deactivateSQL {
			if _, err := tx.Exec(ctx, q, uid); err != nil {
				return err
			}
		}
		return s.storeCuts(ctx, tx.Exec, cuts)
	})
	return s.Wrap("set user active", err)
}

// SetUserRole implements store.UserAdmin.
func (s *Store) SetUserRole(ctx context.Context, uid string, role store.Role, at time.Time) error {
	return s.Wrap("set user role", oneRow(s.db.Exec(ctx, setUserRoleSQL, string(role), s.db.Time(at), uid)))
}
