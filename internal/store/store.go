// Package store defines tolk's persistent data: plain domain records and the
// storage interfaces, split by aggregate. Backends live in sub-packages
// (sqlite, postgres) and are proven equivalent by the conformance suite in
// storetest. The package imports nothing else of tolk's.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every backend returns (possibly wrapped), so callers can
// use errors.Is without knowing the backend.
var (
	// ErrNotFound: the record does not exist (or no longer exists).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a uniqueness constraint would be violated.
	ErrConflict = errors.New("store: conflict")
)

// Role is a user's role, as in Phrase TMS.
type Role string

// The TMS roles.
const (
	RoleAdmin          Role = "ADMIN"
	RoleProjectManager Role = "PROJECT_MANAGER"
	RoleLinguist       Role = "LINGUIST"
	RoleGuest          Role = "GUEST"
	RoleSubmitter      Role = "SUBMITTER"
)

// Roles lists every valid role.
var Roles = []Role{RoleAdmin, RoleProjectManager, RoleLinguist, RoleGuest, RoleSubmitter}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// Organization owns users and OAuth apps.
type Organization struct {
	UID       string // UUID v4
	Name      string
	CreatedAt time.Time
}

// User is a person who signs in. UID is the subject of every token.
type User struct {
	UID          string // UUID v4, never reassigned
	ID           string // short id shown in TMS responses
	OrgUID       string
	UserName     string // unique, compared case-insensitively
	Email        string // unique, compared case-insensitively
	FirstName    string
	LastName     string
	Role         Role
	PasswordHash string // PHC string (argon2id)
	Active       bool
	// LastInvalidateAll is when the user last signed out of the web UI,
	// which invalidates all their sessions and ApiTokens; zero if never.
	LastInvalidateAll time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// APIToken is a TMS ApiToken. Only the SHA-256 of the token is stored.
type APIToken struct {
	Hash      string // hex SHA-256 of the token
	UserUID   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// WebSession is a signed-in browser session. Only the SHA-256 of the cookie
// value is stored.
type WebSession struct {
	Hash      string // hex SHA-256 of the cookie value
	UserUID   string
	CSRFToken string // synchronizer token for the session's forms
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Organizations stores organizations.
type Organizations interface {
	CreateOrganization(ctx context.Context, o Organization) error
	GetOrganization(ctx context.Context, uid string) (Organization, error)
}

// Users stores users.
type Users interface {
	// CreateUser returns ErrConflict when the user name or email (case-
	// insensitively) or the UID or ID is taken.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, uid string) (User, error)
	// GetUserByUserName matches case-insensitively.
	GetUserByUserName(ctx context.Context, userName string) (User, error)
	// GetUserByEmail matches case-insensitively.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns every user, oldest first.
	ListUsers(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)
	UpdatePasswordHash(ctx context.Context, uid, hash string, at time.Time) error
}

// APITokens stores TMS ApiTokens.
type APITokens interface {
	CreateAPIToken(ctx context.Context, t APIToken) error
	// GetAPIToken returns the token whatever its expiry; callers check it.
	GetAPIToken(ctx context.Context, hash string) (APIToken, error)
	// DeleteAPIToken deletes atomically: of several concurrent calls for
	// one token exactly one reports deleted=true.
	DeleteAPIToken(ctx context.Context, hash string) (deleted bool, err error)
	// DeleteExpiredAPITokens removes tokens that expired before t.
	DeleteExpiredAPITokens(ctx context.Context, t time.Time) (int, error)
}

// WebSessions stores browser sessions.
type WebSessions interface {
	CreateWebSession(ctx context.Context, s WebSession) error
	GetWebSession(ctx context.Context, hash string) (WebSession, error)
	// DeleteWebSession deletes atomically (see DeleteAPIToken).
	DeleteWebSession(ctx context.Context, hash string) (deleted bool, err error)
	// SignOutUser deletes, in one transaction, every web session and every
	// ApiToken of the user and records at as LastInvalidateAll.
	SignOutUser(ctx context.Context, userUID string, at time.Time) error
}

// Bootstrap creates the first organization and admin.
type Bootstrap interface {
	// BootstrapAdmin creates org and admin in one transaction if, and only
	// if, no user exists yet. Of several concurrent callers (even in
	// different processes) exactly one gets created=true.
	BootstrapAdmin(ctx context.Context, org Organization, admin User) (created bool, err error)
	// DefaultOrganization returns the organization made by BootstrapAdmin.
	DefaultOrganization(ctx context.Context) (Organization, error)
}

// Store is a whole backend.
type Store interface {
	Organizations
	Users
	APITokens
	WebSessions
	Bootstrap
	// Migrate applies pending schema migrations; safe to call from several
	// processes at once.
	Migrate(ctx context.Context) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}
