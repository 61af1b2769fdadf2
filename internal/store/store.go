// Package store defines tolk's persistent data: plain domain records and the
// storage interfaces, split by aggregate. Backends live in sub-packages
// (sqlite, postgres) and are proven equivalent by the conformance suite in
// storetest. The package imports nothing else of tolk's.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors every backend returns (possibly wrapped), so callers can
// use errors.Is without knowing the backend.
var (
	// ErrNotFound: the record does not exist (or no longer exists).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a uniqueness constraint would be violated.
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable: the database cannot be reached or written right now
	// (connection refused or lost, shutting down or starting up, read-only
	// after a failover, SQLite busy past busy_timeout). The backend has
	// already retried what was safe to retry; the request may succeed
	// later, so it is answered 503 with Retry-After, not 500.
	ErrUnavailable = errors.New("store: database unavailable")
)

// ValidText reports whether every backend can keep and look up s alike:
// valid UTF-8 without NUL. PostgreSQL refuses other text with an error
// where SQLite would store or compare it, so every id, name or value a
// request hands to a store is checked with ValidText first, and refused
// (or not found) the same way on both (SECURITY.md T43).
func ValidText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

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
	// Language is the BCP 47 tag the user chose in the profile: the UI's
	// language after ui_locales and the cookie, and their mails'; "" lets
	// the browser decide.
	Language string
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
	// LastUsedAt is when the token was last used, at most a minute or so
	// behind (writes are throttled); zero: never.
	LastUsedAt time.Time
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
	// UserAgent and Address are the browser's User-Agent (clipped) and
	// client address, as last seen; LastSeenAt is when, at most a minute
	// or so behind (writes are throttled), zero until the first touch.
	UserAgent  string
	Address    string
	LastSeenAt time.Time
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
	Clients
	Tokens
	Consents
	SigningKeys
	PlatformTokens
	TwoFactors
	PersonalAccessTokens
	APIKeys
	AuditLog
	UserAdmin
	Accounts
	RateLimits
	Retention
	Leases
	PasswordResets
	UserSearch
	Sessions
	// Migrate applies pending schema migrations; safe to call from several
	// processes at once. A database that a newer tolk migrated past this
	// binary's last migration is refused with a *SchemaTooNewError, and
	// nothing is changed.
	Migrate(ctx context.Context) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// ErrAlreadyUsed: a single-use credential (authorization code, rotated
// refresh token) was presented again.
var ErrAlreadyUsed = errors.New("store: already used")

// Client is a registered OAuth app.
//
// In Client and the records below, string lists round-trip by content:
// an empty list, stored nil or empty, comes back nil.
type Client struct {
	ID              string // client_id
	OrgUID          string
	Name            string
	Description     string
	SecretHash      string // hex SHA-256 of the secret; "" for public clients
	RedirectURIs    []string
	GrantTypes      []string // authorization_code, refresh_token, client_credentials, implicit
	Scopes          []string // scopes the app may request
	Audiences       []string // applications its tokens are for
	Public          bool     // no secret; PKCE required
	AdminConsent    bool     // only an ADMIN may Allow
	JWTAccessTokens bool     // RFC 9068 JWTs instead of opaque tokens
	AlwaysRefresh   bool     // issue a refresh token even without offline_access
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Clients stores OAuth apps.
type Clients interface {
	// CreateClient returns ErrConflict when the ID is taken.
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns the apps of an organization ("" = all), oldest first.
	ListClients(ctx context.Context, orgUID string) ([]Client, error)
	// UpdateClient replaces every mutable field (all but ID, OrgUID,
	// CreatedAt and SecretHash, which only SetClientSecret changes, so
	// that an edit saved with an old copy cannot bring a rotated secret
	// back).
	UpdateClient(ctx context.Context, c Client) error
	// SetClientSecret replaces the app's secret hash and sets UpdatedAt;
	// ErrNotFound for an unknown ID.
	SetClientSecret(ctx context.Context, id, secretHash string, at time.Time) error
	// DeleteClient removes the app with its codes, tokens and consents,
	// and stores cuts in the same transaction (the app's self-contained
	// access tokens have no rows to delete). UpdateClient and DeleteClient
	// return ErrNotFound for an unknown ID.
	DeleteClient(ctx context.Context, id string, cuts ...Cutoff) error
}

// AuthCode is an authorization code; only its hash is stored.
type AuthCode struct {
	Hash                string
	ClientID            string
	UserUID             string
	RedirectURI         string // as sent in the authorization request ("" if omitted)
	Scopes              []string
	Audiences           []string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	AuthTime            time.Time
	GrantID             string // every token issued from the code carries it
	CreatedAt           time.Time
	ExpiresAt           time.Time
	UsedAt              time.Time // zero until redeemed
}

// AccessToken is an issued access token: the hash of an opaque token, or
// of the jti of a JWT one (so JWTs can be introspected and revoked too).
type AccessToken struct {
	Hash      string
	ClientID  string
	UserUID   string // "" for client_credentials
	OrgUID    string
	Scopes    []string
	Audiences []string
	GrantID   string // the code or refresh family it came from; revoking the grant revokes it
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RefreshToken is a refresh token. GrantID is its family: every rotation
// keeps it, and a reuse revokes the whole family.
type RefreshToken struct {
	Hash      string
	ClientID  string
	UserUID   string
	OrgUID    string
	Scopes    []string
	Audiences []string
	GrantID   string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time // zero = never
	UsedAt    time.Time // set when rotated
}

// Tokens stores authorization codes and OAuth tokens. Every single-use
// step is one atomic method.
type Tokens interface {
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// GetAuthCode returns the code whether used or not.
	GetAuthCode(ctx context.Context, hash string) (AuthCode, error)
	// GetAuthCodeAndUser is GetAuthCode together with the code's user, in
	// one read (the code grant needs both); ErrNotFound if either is
	// missing.
	GetAuthCodeAndUser(ctx context.Context, hash string) (AuthCode, User, error)
	// RedeemAuthCode marks the code used at `at` and stores the tokens
	// issued for it, in one transaction. Of concurrent calls exactly one
	// succeeds; the others get ErrAlreadyUsed and store nothing. An
	// unknown code is ErrNotFound. Expiry is not checked here (callers
	// check it, as after GetAuthCode). A nil access is a self-contained
	// token, which has no row.
	RedeemAuthCode(ctx context.Context, codeHash string, at time.Time, access *AccessToken, refresh *RefreshToken) error

	// CreateAccessToken stores t; ErrNotFound if its client (or user) no
	// longer exists, as when an app is deleted by another instance while
	// this one still has it cached.
	CreateAccessToken(ctx context.Context, t AccessToken) error
	GetAccessToken(ctx context.Context, hash string) (AccessToken, error)
	// RevokeAccessToken deletes one access token.
	RevokeAccessToken(ctx context.Context, hash string) (bool, error)

	GetRefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// GetRefreshTokenAndUser is GetRefreshToken together with the token's
	// user, in one read (the refresh grant needs both); ErrNotFound if
	// either is missing.
	GetRefreshTokenAndUser(ctx context.Context, hash string) (RefreshToken, User, error)
	// RotateRefreshToken marks old used at `at` and stores the new pair in
	// one transaction. It succeeds if old is unused, or was used less than
	// grace ago; otherwise ErrAlreadyUsed and nothing is stored. Of
	// concurrent calls with grace 0 exactly one succeeds. A rotation
	// within grace keeps old's first UsedAt. An unknown old token is
	// ErrNotFound; expiry is not checked here.
	// A nil access is a self-contained token, which has no row.
	RotateRefreshToken(ctx context.Context, oldHash string, at time.Time, grace time.Duration, access *AccessToken, refresh RefreshToken) error

	// RevokeGrant deletes every access and refresh token with this GrantID
	// (a code's tokens, a refresh family) and stores cuts, in one
	// transaction. The code itself stays, used; an unknown grant is not an
	// error. Grants are a user's: a token without a user
	// (client_credentials) is revoked only by its hash.
	RevokeGrant(ctx context.Context, grantID string, cuts ...Cutoff) error

	// CutAccessTokens stores cutoffs. A key already cut keeps the later
	// of its NotBefore times and the later of its ExpiresAt times, so a
	// cutoff never moves back.
	CutAccessTokens(ctx context.Context, cuts ...Cutoff) error
	// AccessTokenCut reports whether a self-contained access token with
	// these keys is revoked: whether a cutoff of one of its non-empty keys
	// has a NotBefore at or after grantTime, when the token's grant began.
	// A cutoff past its ExpiresAt may or may not still count.
	AccessTokenCut(ctx context.Context, keys CutoffKeys, grantTime time.Time) (bool, error)
}

// Cutoff revokes self-contained access tokens, which have no row to
// delete: every token that has Key among its CutoffKeys and whose grant
// began at or before NotBefore. One cutoff revokes one token (its id), a
// grant, an app's authorization by a user, a user or an app. The row may
// go at ExpiresAt, when every token it revokes has expired.
type Cutoff struct {
	Key       string
	NotBefore time.Time
	ExpiresAt time.Time
}

// CutoffKeys are the keys under which a self-contained access token can
// be cut; "" for a key it does not have (no user: client_credentials).
type CutoffKeys struct {
	Token, Grant, Client, User, Authorization string
}

// Cutoff keys. Each kind has its own prefix, so that no id of one kind
// can name another.
func TokenCutoffKey(id string) string        { return "t:" + id }
func GrantCutoffKey(grantID string) string   { return "g:" + grantID }
func ClientCutoffKey(clientID string) string { return "c:" + clientID }
func UserCutoffKey(userUID string) string    { return "u:" + userUID }

// AuthorizationCutoffKey is the key of userUID's authorization of the app
// clientID. A user UID has no space and comes first, so the pair is
// unambiguous whatever the client id holds.
func AuthorizationCutoffKey(userUID, clientID string) string {
	return "a:" + userUID + " " + clientID
}

// Consent is a user's standing approval of scopes for an app.
type Consent struct {
	UserUID   string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// Consents stores consents.
type Consents interface {
	GetConsent(ctx context.Context, userUID, clientID string) (Consent, error)
	// SaveConsent inserts or replaces the consent of (user, client).
	SaveConsent(ctx context.Context, c Consent) error
	// RevokeAuthorization ends a user's authorization of an app in one
	// transaction: the consent of (user, client), its codes not yet
	// redeemed, and every access and refresh token of that user and app
	// (SECURITY.md T29). A redemption or rotation of them running at the
	// same time either fails or has its tokens removed too: none of the
	// grant's tokens works once it returns, on any instance. Used codes
	// stay, so a replay is still recognized; the app's own tokens (no
	// user: client_credentials) stay. ErrNotFound if there was nothing to
	// revoke.
	// cuts are stored in the same transaction.
	RevokeAuthorization(ctx context.Context, userUID, clientID string, cuts ...Cutoff) error
}

// SigningKey is a JWT signing key. The private key is sealed by the
// caller (encrypted at rest); the store never sees it in the clear.
type SigningKey struct {
	KID         string
	Alg         string // RS256, ES256
	SealedKey   []byte // encrypted PKCS#8 private key
	PublicKey   []byte // PKIX DER
	CreatedAt   time.Time
	RetiredAt   time.Time // zero while active; when it stops signing (may be in the future)
	PublishedTo time.Time // zero = while active; after retirement, JWKS shows it until then
}

// SigningKeys stores signing keys.
type SigningKeys interface {
	// ListSigningKeys returns every key, newest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// EnsureSigningKey stores k unless an active key of k.Alg exists, and
	// returns the active key; concurrent callers all get the same one.
	// k is stored active: its RetiredAt and PublishedTo are ignored. At
	// most one key per Alg is ever active.
	EnsureSigningKey(ctx context.Context, k SigningKey) (SigningKey, error)
	// RotateSigningKey retires every active key of k.Alg at `at` (published
	// until publishUntil) and stores k as the active one, atomically.
	// at must not be zero; it may be in the future, and the retiring key
	// signs until then (signing.Keyring publishes k before it signs).
	RotateSigningKey(ctx context.Context, k SigningKey, at, publishUntil time.Time) error
	// DeleteUnpublishedKeys removes retired keys whose PublishedTo is before t
	// (a zero PublishedTo counts as before any t).
	DeleteUnpublishedKeys(ctx context.Context, t time.Time) (int, error)
}

// qualified prefixes every column of a comma-separated column list with a
// table alias, for the backends' joins over their shared column lists.
func qualified(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// WithUser is the query of the row of table whose key column equals param
// (a placeholder), with columns, joined with its user's userColumns: one
// read for the grants, the exchange and JWT verification, which need both.
func WithUser(table, columns, userColumns, key, param string) string {
	return `SELECT ` + qualified("t", columns) + `, ` + qualified("u", userColumns) + `
		FROM ` + table + ` t JOIN users u ON u.uid = t.user_uid WHERE t.` + key + ` = ` + param
}

// SchemaTooNewError: the database was migrated by a newer tolk than this
// one. Running an older binary on it could misread or damage what the
// newer schema stores, so it refuses to start.
type SchemaTooNewError struct {
	Database int // the newest migration applied to the database
	Binary   int // the newest migration this binary knows
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("the database schema is at version %d, newer than this tolk's %d: "+
		"a newer tolk migrated it; run that release or a later one (see tolk version)", e.Database, e.Binary)
}
