// Package identity is tolk's domain of users and their sign-ins: creating
// users, checking passwords under failure limits, bootstrapping the first
// admin, and the TMS ApiToken and web session lifecycles. It knows nothing
// of HTTP; the dialect handlers translate its errors.
package identity

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/core/revocation"
	"github.com/tolk-project/tolk/internal/core/twofactor"
	"github.com/tolk-project/tolk/internal/kit/password"
	"github.com/tolk-project/tolk/internal/kit/passwordpolicy"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/verify"
)

// Errors the service returns; handlers map them to each dialect's shape.
var (
	// ErrInvalidCredentials covers unknown user, wrong password and an
	// inactive account alike, so that none can be told apart.
	ErrInvalidCredentials = errors.New("identity: invalid credentials")
	// ErrInvalidToken: unknown, expired or revoked token.
	ErrInvalidToken = errors.New("identity: invalid token")
	// ErrForbidden: authenticated, but not allowed.
	ErrForbidden = errors.New("identity: forbidden")
	// ErrNotFound: the named user does not exist (for admin operations).
	ErrNotFound = errors.New("identity: not found")
	// ErrConflict: user name or email already taken.
	ErrConflict = errors.New("identity: user name or email already taken")
)

// ThrottledError says a login was refused by the failure limits.
type ThrottledError struct {
	RetryAfter time.Duration
	Limit      int // the burst of the limit that refused (for X-Rate-Limit-Limit)
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("identity: too many failed logins, retry after %s", e.RetryAfter)
}

// ValidationError names the field that is wrong.
type ValidationError struct{ Field, Message string }

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Service implements the identity domain.
type Service struct {
	Store       store.Store
	Hasher      *password.Hasher
	Gen         secret.Generator
	Now         func() time.Time
	UserLimit   ratelimit.Limiter // failed logins per account (or name that names nobody)
	AddrLimit   ratelimit.Limiter // failed logins per client address
	APITokenTTL time.Duration
	SessionTTL  time.Duration
	// AccessTokenTTL is OAuth access tokens' lifetime: how long the cutoff
	// that a deactivation stores must stay (accesstoken.Cutoff).
	AccessTokenTTL time.Duration
	// Policy decides which new passwords may be set (password changes,
	// resets, the CLI); the zero Policy is the default one.
	Policy passwordpolicy.Policy
	// OnLogin, if set, is told every login outcome ("success", "failure",
	// "throttled") for metrics.
	OnLogin func(dialect, outcome string)
	// OnToken, if set, is told each TMS ApiToken issued, for metrics:
	// the dialect ("tms") and how its user signed in (GrantPassword,
	// GrantLoginOther).
	OnToken func(dialect, grant string)
	// TwoFactor is the TOTP second factor; nil turns it off (password only).
	TwoFactor *twofactor.Service
	// Audit, if set, records sign-ins, sign-outs and user administration
	// (audit.go).
	Audit *audit.Recorder
	// Revocations is told when ApiTokens end (logout, sign-out) and when a
	// user is deactivated, reactivated or changes role, since cached
	// verifications carry the user.
	Revocations *revocation.Notifier

	nameKeyOnce sync.Once
	nameKey     []byte // keys nameFingerprint
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) outcome(dialect, o string) {
	if s.OnLogin != nil {
		s.OnLogin(dialect, o)
	}
}

// NewUser is the input of CreateUser.
type NewUser struct {
	OrgUID    string
	UserName  string
	Email     string
	FirstName string
	LastName  string
	Role      store.Role
	Password  string
}

// MinPasswordLen follows ASVS 6.2.1 (at least 8 characters).
const MinPasswordLen = 8

// MaxPasswordLen bounds the work a single hash may be asked to do.
const MaxPasswordLen = 1024

func (n NewUser) validate() error {
	switch {
	case strings.TrimSpace(n.UserName) == "":
		return &ValidationError{"userName", "is required"}
	case utf8.RuneCountInString(n.UserName) > 255 || strings.ContainsAny(n.UserName, "\x00\r\n\t :"):
		return &ValidationError{"userName", "must be at most 255 characters without spaces, colons or control characters"}
	case n.Email == "":
		return &ValidationError{"email", "is required"}
	case !validEmail(n.Email):
		return &ValidationError{"email", "is not a valid email address"}
	case !n.Role.Valid():
		return &ValidationError{"role", "must be one of ADMIN, PROJECT_MANAGER, LINGUIST, GUEST, SUBMITTER"}
	case utf8.RuneCountInString(n.Password) < MinPasswordLen:
		return &ValidationError{"password", fmt.Sprintf("must be at least %d characters", MinPasswordLen)}
	case len(n.Password) > MaxPasswordLen:
		return &ValidationError{"password", fmt.Sprintf("must be at most %d bytes", MaxPasswordLen)}
	case len(n.FirstName) > 255 || len(n.LastName) > 255:
		return &ValidationError{"firstName", "names must be at most 255 characters"}
	}
	return nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254
}

// createUser validates and stores a new, active user. OrgUID empty means
// the default organization.
func (s *Service) createUser(ctx context.Context, n NewUser) (store.User, error) {
	if n.Role == "" {
		n.Role = store.RoleLinguist
	}
	if err := n.validate(); err != nil {
		return store.User{}, err
	}
	if n.OrgUID == "" {
		org, err := s.Store.DefaultOrganization(ctx)
		if err != nil {
			return store.User{}, fmt.Errorf("default organization: %w", err)
		}
		n.OrgUID = org.UID
	}
	u, err := s.newUser(ctx, n)
	if err != nil {
		return store.User{}, err
	}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, ErrConflict
		}
		return store.User{}, err
	}
	return u, nil
}

func (s *Service) newUser(ctx context.Context, n NewUser) (store.User, error) {
	hash, err := s.Hasher.Hash(ctx, n.Password)
	if err != nil {
		return store.User{}, err
	}
	uid, err := uuid.NewRandomFromReader(s.randReader())
	if err != nil {
		return store.User{}, err
	}
	id, err := s.Gen.Alphanumeric(12)
	if err != nil {
		return store.User{}, err
	}
	now := s.now()
	return store.User{
		UID: uid.String(), ID: id, OrgUID: n.OrgUID, UserName: n.UserName, Email: n.Email,
		FirstName: n.FirstName, LastName: n.LastName, Role: n.Role, PasswordHash: hash,
		Active: true, CreatedAt: now, UpdatedAt: now,
	}, nil
}

func (s *Service) randReader() interface{ Read([]byte) (int, error) } {
	if s.Gen.Rand != nil {
		return s.Gen.Rand
	}
	return cryptoRand{}
}

// Bootstrap creates the default organization and the admin user on an empty
// database. With an empty pw a random one is generated. It returns whether
// this call created the admin and the password used; several processes may
// call it at once and exactly one creates.
func (s *Service) Bootstrap(ctx context.Context, pw string) (created bool, usedPassword string, err error) {
	if n, err := s.Store.CountUsers(ctx); err != nil {
		return false, "", err
	} else if n > 0 {
		return false, "", nil
	}
	if pw == "" {
		if pw, err = s.Gen.Alphanumeric(24); err != nil {
			return false, "", err
		}
	}
	orgUID, err := uuid.NewRandomFromReader(s.randReader())
	if err != nil {
		return false, "", err
	}
	org := store.Organization{UID: orgUID.String(), Name: "Default", CreatedAt: s.now()}
	n := NewUser{OrgUID: org.UID, UserName: "admin", Email: "admin@localhost.localdomain", FirstName: "Admin", Role: store.RoleAdmin, Password: pw}
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return false, "", &ValidationError{"admin_password", fmt.Sprintf("must be at least %d characters", MinPasswordLen)}
	}
	u, err := s.newUser(ctx, n)
	if err != nil {
		return false, "", err
	}
	created, err = s.Store.BootstrapAdmin(ctx, org, u)
	if err != nil || !created {
		return false, "", err
	}
	return true, pw, nil
}

// Authenticate checks a user name (or email) and password under the
// failure limits (limits.go). The same error and the same work answer an
// unknown user, an inactive one and a wrong password. dialect names the
// caller for metrics.
func (s *Service) Authenticate(ctx context.Context, dialect, userName, pw, addr string) (store.User, error) {
	var res ratelimit.Reservation
	// The address first: a flood from one address is refused before it
	// costs a lookup of the user.
	if err := s.take(ctx, dialect, &res, s.AddrLimit, addrLimitKey(addr)); err != nil {
		return store.User{}, err
	}
	u, err := s.lookupUser(ctx, userName)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		_ = res.Release(ctx)
		return store.User{}, err
	}
	key := userLimitKey(userName)
	if found {
		key = accountKey(u.UID)
	}
	if err := s.take(ctx, dialect, &res, s.UserLimit, key); err != nil {
		return store.User{}, err
	}
	u, err = s.checkPassword(ctx, u, found, pw)
	settle(ctx, &res, err)
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		s.outcome(dialect, "failure")
		return store.User{}, err
	case err != nil:
		return store.User{}, err
	}
	s.outcome(dialect, "success")
	return u, nil
}

// lookupUser resolves a name as typed at sign-in: a user name (in any
// case), or else, with an "@", an email (Strings' Basic auth takes
// "username or email"). store.ErrNotFound when it names nobody.
func (s *Service) lookupUser(ctx context.Context, name string) (store.User, error) {
	if !store.ValidText(name) {
		return store.User{}, store.ErrNotFound
	}
	u, err := s.Store.GetUserByUserName(ctx, name)
	if errors.Is(err, store.ErrNotFound) && strings.Contains(name, "@") {
		u, err = s.Store.GetUserByEmail(ctx, name)
	}
	return u, err
}

// checkPassword checks pw against u (found: u is a user; otherwise a
// dummy hash is verified, so that an unknown user costs the same work).
// ErrInvalidCredentials for a wrong password, an unknown or inactive
// user alike.
func (s *Service) checkPassword(ctx context.Context, u store.User, found bool, pw string) (store.User, error) {
	if len(pw) > MaxPasswordLen {
		_ = s.Hasher.VerifyDummy(ctx, "")
		return store.User{}, ErrInvalidCredentials
	}
	if !found {
		if err := s.Hasher.VerifyDummy(ctx, pw); err != nil && !errors.Is(err, password.ErrMismatch) {
			return store.User{}, err
		}
		return store.User{}, ErrInvalidCredentials
	}
	rehash, err := s.Hasher.Verify(ctx, pw, u.PasswordHash)
	if errors.Is(err, password.ErrMismatch) || errors.Is(err, password.ErrMalformed) {
		return store.User{}, ErrInvalidCredentials
	}
	if err != nil {
		return store.User{}, err
	}
	if !u.Active {
		return store.User{}, ErrInvalidCredentials
	}
	if rehash {
		// Upgrade to the current parameters while we hold the password;
		// a failure here must not fail the login.
		if h, err := s.Hasher.Hash(ctx, pw); err == nil {
			if err := s.Store.UpdatePasswordHash(ctx, u.UID, h, s.now()); err == nil {
				u.PasswordHash = h
			}
		}
	}
	return u, nil
}

// ErrOTPRequired: the password was right, but the user has two-factor
// authentication and no code was given. Handlers ask for the code.
var ErrOTPRequired = errors.New("identity: two-factor code required")

// AuthenticateOTP is Authenticate plus the second factor: when the user
// has two-factor authentication, code must be a valid, unused TOTP code
// (or a recovery code); a wrong code counts as a failed login.
func (s *Service) AuthenticateOTP(ctx context.Context, dialect, userName, pw, code, addr string) (store.User, error) {
	u, err := s.authenticateOTP(ctx, dialect, userName, pw, code, addr)
	s.auditLogin(ctx, dialect, userName, u, err)
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

// How a TMS ApiToken's user was authenticated, for metrics.
const (
	GrantPassword   = "password"    // a login with user name and password
	GrantLoginOther = "login_other" // an admin's loginOther
)

// IssueAPIToken creates a TMS ApiToken for u, who signed in with a
// password.
func (s *Service) IssueAPIToken(ctx context.Context, u store.User) (token string, expires time.Time, err error) {
	return s.IssueAPITokenFor(ctx, u, GrantPassword)
}

// IssueAPITokenFor creates a TMS ApiToken for u, who was authenticated
// as grant says (GrantPassword, GrantLoginOther).
func (s *Service) IssueAPITokenFor(ctx context.Context, u store.User, grant string) (token string, expires time.Time, err error) {
	token, err = s.Gen.APIToken()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	expires = now.Add(s.APITokenTTL)
	err = s.Store.CreateAPIToken(ctx, store.APIToken{Hash: secret.Hash(token), UserUID: u.UID, CreatedAt: now, ExpiresAt: expires})
	if err != nil {
		return "", time.Time{}, err
	}
	if s.OnToken != nil {
		s.OnToken("tms", grant)
	}
	return token, expires, nil
}

// VerifyAPIToken resolves an ApiToken to its active user.
func (s *Service) VerifyAPIToken(ctx context.Context, token string) (store.User, error) {
	if !plausibleAPIToken(token) {
		return store.User{}, ErrInvalidToken
	}
	t, err := s.Store.GetAPIToken(ctx, secret.Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrInvalidToken
	}
	if err != nil {
		return store.User{}, err
	}
	if !s.now().Before(t.ExpiresAt) {
		return store.User{}, ErrInvalidToken
	}
	u, err := s.activeUser(ctx, t.UserUID)
	if err == nil {
		s.used(ctx, t) // the sessions page's "last used" (sessions.go)
	}
	return u, err
}

func (s *Service) activeUser(ctx context.Context, uid string) (store.User, error) {
	u, err := s.Store.GetUser(ctx, uid)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrInvalidToken
	}
	if err != nil {
		return store.User{}, err
	}
	if !u.Active {
		return store.User{}, ErrInvalidToken
	}
	return u, nil
}

// VerifyAPITokenPrincipal is the authn verifier of TMS ApiTokens: the
// user's whole access, for the tms application (SPEC §2).
func (s *Service) VerifyAPITokenPrincipal(ctx context.Context, token string) (authn.Principal, error) {
	u, err := s.VerifyAPIToken(ctx, token)
	if errors.Is(err, ErrInvalidToken) {
		return authn.Principal{}, authn.ErrInvalid
	}
	if err != nil {
		return authn.Principal{}, err
	}
	return authn.Principal{User: &u, Principal: verify.Principal{OrgUID: u.OrgUID, Audiences: []string{"tms"}, Method: verify.MethodAPIToken}}, nil
}

// plausibleAPIToken rejects anything that cannot be one of our tokens
// before it reaches the database.
func plausibleAPIToken(t string) bool {
	if len(t) != 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// revokeAPIToken invalidates one ApiToken (TMS logout).
func (s *Service) revokeAPIToken(ctx context.Context, token string) error {
	if !plausibleAPIToken(token) {
		return ErrInvalidToken
	}
	defer s.Revocations.Revoked()
	ok, err := s.Store.DeleteAPIToken(ctx, secret.Hash(token))
	if err != nil {
		return err
	}
	if !ok {
		return ErrInvalidToken
	}
	return nil
}

// loginOther lets an ADMIN obtain a user of the same organization.
func (s *Service) loginOther(ctx context.Context, admin store.User, userName string) (store.User, error) {
	if admin.Role != store.RoleAdmin {
		return store.User{}, ErrForbidden
	}
	if !store.ValidText(userName) {
		return store.User{}, ErrNotFound
	}
	u, err := s.Store.GetUserByUserName(ctx, userName)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrNotFound
	}
	if err != nil {
		return store.User{}, err
	}
	// Another organization's user is reported as absent, not forbidden,
	// so an admin cannot probe other organizations.
	if u.OrgUID != admin.OrgUID {
		return store.User{}, ErrNotFound
	}
	if !u.Active {
		return store.User{}, ErrForbidden
	}
	return u, nil
}

// Organization returns the user's organization.
func (s *Service) Organization(ctx context.Context, u store.User) (store.Organization, error) {
	return s.Store.GetOrganization(ctx, u.OrgUID)
}

// Session is a freshly created web session; Cookie is the secret value
// for the browser, shown nowhere else.
type Session struct {
	Cookie string
	store.WebSession
}

// StartSession creates a web session for u, signed in from d.
func (s *Service) StartSession(ctx context.Context, u store.User, d Device) (Session, error) {
	cookie, err := s.Gen.Alphanumeric(43) // ~256 bits
	if err != nil {
		return Session{}, err
	}
	csrf, err := s.Gen.Alphanumeric(43)
	if err != nil {
		return Session{}, err
	}
	now := s.now()
	d = d.clean()
	ws := store.WebSession{Hash: secret.Hash(cookie), UserUID: u.UID, CSRFToken: csrf, AuthTime: now, CreatedAt: now,
		ExpiresAt: now.Add(s.SessionTTL), UserAgent: d.UserAgent, Address: d.Address}
	if err := s.Store.CreateWebSession(ctx, ws); err != nil {
		return Session{}, err
	}
	return Session{Cookie: cookie, WebSession: ws}, nil
}

// LookupSession resolves a session cookie to its session and active user,
// and records (at most once per SeenEvery) that it was seen from d.
func (s *Service) LookupSession(ctx context.Context, cookie string, d Device) (store.WebSession, store.User, error) {
	if len(cookie) != 43 {
		return store.WebSession{}, store.User{}, ErrInvalidToken
	}
	ws, err := s.Store.GetWebSession(ctx, secret.Hash(cookie))
	if errors.Is(err, store.ErrNotFound) {
		return store.WebSession{}, store.User{}, ErrInvalidToken
	}
	if err != nil {
		return store.WebSession{}, store.User{}, err
	}
	if !s.now().Before(ws.ExpiresAt) {
		return store.WebSession{}, store.User{}, ErrInvalidToken
	}
	u, err := s.activeUser(ctx, ws.UserUID)
	if err == nil {
		s.seen(ctx, ws, d)
	}
	return ws, u, err
}

// EndSession ends the one web session of cookie, if there is one: a
// browser signing in again leaves no session behind (session fixation),
// while the user's other sessions go on.
func (s *Service) EndSession(ctx context.Context, cookie string) error {
	_, err := s.Store.DeleteWebSession(ctx, secret.Hash(cookie))
	return err
}

// SignOut ends the user's web sign-in: as in TMS, every web session and
// every ApiToken of the user ends at once.
func (s *Service) SignOut(ctx context.Context, userUID string) error {
	defer s.Revocations.Revoked()
	err := s.Store.SignOutUser(ctx, userUID, s.now())
	if err == nil {
		s.Audit.Record(ctx, audit.Event{Type: audit.Logout, ActorUID: userUID})
	}
	return err
}
