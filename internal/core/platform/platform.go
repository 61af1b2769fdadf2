// Package platform implements Phrase Platform API tokens and their RFC 8693
// token exchange (SPEC §3.5), as domain logic without HTTP: users create,
// list and revoke API tokens; the token endpoint exchanges one for a
// short-lived RFC 9068 JWT; and tolk's verifiers and introspection accept
// that JWT only while the API token it came from exists.
//
// Revocation (SECURITY.md T42). Nothing is stored per exchanged JWT: its
// signed client_id names the API token it came from. tolk's own verifiers
// (whoAmI, /user, /userinfo, /auth/verify through authn) and POST
// /oauth/introspect read that token by id on every request and refuse the
// JWT once the token is revoked (deleted) or expired, or its user is not
// the JWT's sub or is deactivated, so revocation reaches the JWTs at once
// without a write per exchange. A service that verifies the JWT locally
// against the JWKS cannot know of the revocation and accepts it until its
// exp, at most ExchangeTTL (4 h less a second) after issue; services that
// need revocation at once must introspect or use /auth/verify.
//
// Scopes. An API token carries its user's whole access. A JWT carries
// exactly the scopes its scope claim names, in tolk and in the verify
// package alike (no claim: none), so an exchange without scope names the
// whole scope catalog; with scope it gives exactly the scopes asked for,
// each of which must be in the catalog.
//
// client_id. An exchange has no OAuth client, so the JWT's client_id (RFC
// 9068 §2.2 requires one) is ClientIDPrefix plus the API token's id:
// "platform-api-token:<id>". It tells resource servers and audit logs which
// API token a request came from, and lets tolk tell its exchanged JWTs from
// OAuth JWT access tokens.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/revocation"
	"github.com/tolk-project/tolk/internal/core/signing"
	"github.com/tolk-project/tolk/internal/kit/gencache"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// Protocol constants (SPEC §3.5, RFC 8693).
const (
	// SubjectTokenType is the Platform's type of an API token, the default
	// and only accepted subject_token_type.
	SubjectTokenType = "urn:phrase:params:oauth:token-type:api_token"
	// AccessTokenType is the only requested_token_type and the
	// issued_token_type of every exchange.
	AccessTokenType = "urn:ietf:params:oauth:token-type:access_token"
	// ExchangeTTL is the lifetime of an exchanged JWT, as the Platform's
	// expires_in 14399. A JWT never outlives its API token either.
	ExchangeTTL = 14399 * time.Second
	// ClientIDPrefix starts the client_id claim of every exchanged JWT.
	ClientIDPrefix = "platform-api-token:"
	// TouchEvery is the granularity of an API token's "last used" time.
	// Writing it on every exchange would add a write (an fsync on SQLite,
	// a row lock on PostgreSQL, contended by every concurrent exchange of
	// one token) to the hot path for a value the UI shows to the minute.
	TouchEvery = time.Minute
	// MaxNameLen bounds a token's name, in characters.
	MaxNameLen = 100
)

// Store is the part of the store the package needs.
type Store interface {
	store.PlatformTokens
	store.Users
}

// Config are the settings of token exchange.
type Config struct {
	Issuer    string
	Scopes    []string // the scope catalog
	Audiences []string // the applications; the default aud of a JWT
	Alg       string   // ES256 (default) or RS256
}

// Service manages API tokens and exchanges them.
type Service struct {
	Store  Store
	Keys   *signing.Keyring
	Gen    secret.Generator
	Now    func() time.Time
	Config Config
	Log    *slog.Logger // optional; nil discards
	// Audit, if set, records creation, revocation and exchanges.
	Audit *audit.Recorder
	// Subjects, if set, holds the API tokens that exchanges looked up, with
	// their users (see Exchange). Revocations must reach it.
	Subjects *SubjectCache
	// Revocations is told when a token is revoked.
	Revocations *revocation.Notifier
	// OnToken, if set, is told each token created, for metrics: the
	// dialect and how its holder got it (docs/operations.md, Monitoring).
	OnToken func(dialect, grant string)
}

// SubjectCache holds exchanged API tokens and their users by token hash.
type SubjectCache = gencache.Cache[string, subject]

type subject struct {
	tok store.PlatformToken
	u   store.User
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) alg() string {
	if s.Config.Alg == "" {
		return signing.ES256
	}
	return s.Config.Alg
}

// Validation errors of Create, for the UI to translate.
var (
	ErrNameRequired = errors.New("platform: a name is required")
	ErrNameTooLong  = errors.New("platform: the name is too long")
	ErrNameInvalid  = errors.New("platform: the name contains control characters")
	ErrExpiryPast   = errors.New("platform: the expiry is not in the future")
)

// ErrNotFound: no such token of this user.
var ErrNotFound = errors.New("platform: no such token")

// Created is a new API token: the record and the token itself, which
// exists in the clear only here (it is stored hashed).
type Created struct {
	Token  store.PlatformToken
	Secret string
}

// Create makes an API token for u. A zero expires means it never expires.
func (s *Service) Create(ctx context.Context, u store.User, name string, expires time.Time) (Created, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return Created{}, ErrNameRequired
	case utf8.RuneCountInString(name) > MaxNameLen:
		return Created{}, ErrNameTooLong
	case strings.ContainsFunc(name, unicode.IsControl) || !utf8.ValidString(name):
		return Created{}, ErrNameInvalid
	}
	now := s.now()
	if !expires.IsZero() && !expires.After(now) {
		return Created{}, ErrExpiryPast
	}
	tok, err := s.Gen.Prefixed(secret.PrefixPlatformToken)
	if err != nil {
		return Created{}, err
	}
	id, err := s.Gen.Hex(16)
	if err != nil {
		return Created{}, err
	}
	rec := store.PlatformToken{
		ID: id, UserUID: u.UID, Name: name, Hash: secret.Hash(tok), LastEight: tok[len(tok)-8:],
		CreatedAt: now, ExpiresAt: expires.UTC().Truncate(time.Microsecond),
	}
	if err := s.Store.CreatePlatformToken(ctx, rec); err != nil {
		return Created{}, fmt.Errorf("platform: create token: %w", err)
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.PlatformCreated, ActorUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"token_id": id, "name": name}})
	if s.OnToken != nil {
		s.OnToken("platform", "web_ui") // Settings → Access Tokens
	}
	return Created{Token: rec, Secret: tok}, nil
}

// List returns the user's tokens, oldest first.
func (s *Service) List(ctx context.Context, userUID string) ([]store.PlatformToken, error) {
	return s.Store.ListPlatformTokens(ctx, userUID)
}

// Revoke deletes the user's token id, so tolk refuses every JWT exchanged
// from it from now on (verify finds no token). ErrNotFound if the user has
// no such token (another user's token included).
func (s *Service) Revoke(ctx context.Context, userUID, id string) error {
	defer s.Revocations.Revoked()
	err := s.Store.DeletePlatformToken(ctx, userUID, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err == nil {
		s.Audit.Record(ctx, audit.Event{Type: audit.PlatformRevoked, ActorUID: userUID, Details: map[string]string{"token_id": id}})
	}
	return err
}

// Expired reports whether t has expired at now.
func Expired(t store.PlatformToken, now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

func (s *Service) logWarn(ctx context.Context, msg string, args ...any) {
	if s.Log != nil {
		s.Log.WarnContext(ctx, msg, args...)
	}
}
