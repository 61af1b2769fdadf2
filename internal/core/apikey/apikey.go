// Package apikey is the domain of ProZ-style API keys (SPEC §3.4): static
// keys an administrator creates for a user, carrying that user's whole
// access for every application. Keys look like tolk_pk_… (a prefix and a
// checksum let secret scanners spot a leaked one), are shown once, stored
// only as their SHA-256 and revocable. It knows nothing of HTTP.
//
// ASVS 7.2.2 forbids static keys for session management: they are meant
// for machine-to-machine calls only, and the web UI never accepts them.
package apikey

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/core/revocation"
	"github.com/tolk-project/tolk/internal/kit/reqctx"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/verify"
)

// MaxNoteLen is the longest note, in characters.
const MaxNoteLen = 255

// Store is what the service needs from storage.
type Store interface {
	store.APIKeys
	GetUser(ctx context.Context, uid string) (store.User, error)
	GetUserByUserName(ctx context.Context, userName string) (store.User, error)
}

// Service manages API keys.
type Service struct {
	Store Store
	Gen   secret.Generator
	Now   func() time.Time
	// Failures limits failed keys per client address (brute force of a
	// key is hopeless at 256 bits, but a spray still costs lookups).
	Failures ratelimit.Limiter
	// Audit, if set, records creation and revocation.
	Audit *audit.Recorder
	// Revocations is told when a key is revoked.
	Revocations *revocation.Notifier
	// OnToken, if set, is told each token created, for metrics: the
	// dialect and how its holder got it (docs/operations.md, Monitoring).
	OnToken func(dialect, grant string)
}

// Errors.
var (
	ErrNotFound    = errors.New("apikey: not found")
	ErrUnknownUser = errors.New("apikey: no such active user")
	ErrNoteInvalid = errors.New("apikey: the note is too long or contains control characters")
)

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// Create makes a key for u. The key is returned only here.
func (s *Service) Create(ctx context.Context, u store.User, note string) (store.APIKey, string, error) {
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > MaxNoteLen || !utf8.ValidString(note) || strings.ContainsFunc(note, unicode.IsControl) {
		return store.APIKey{}, "", ErrNoteInvalid
	}
	if !u.Active {
		return store.APIKey{}, "", ErrUnknownUser
	}
	key, err := s.Gen.Prefixed(secret.PrefixAPIKey)
	if err != nil {
		return store.APIKey{}, "", err
	}
	id, err := s.Gen.Hex(16)
	if err != nil {
		return store.APIKey{}, "", err
	}
	k := store.APIKey{ID: id, UserUID: u.UID, Note: note, Hash: secret.Hash(key), CreatedAt: s.now()}
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		return store.APIKey{}, "", err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.APIKeyCreated, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"api_key_id": k.ID, "note": k.Note}})
	if s.OnToken != nil {
		s.OnToken("proz", "admin") // keys are made by administrators (CLI, admin UI)
	}
	return k, key, nil
}

// CreateFor makes a key for the user named userName.
func (s *Service) CreateFor(ctx context.Context, userName, note string) (store.APIKey, string, error) {
	if !store.ValidText(userName) {
		return store.APIKey{}, "", ErrUnknownUser
	}
	u, err := s.Store.GetUserByUserName(ctx, userName)
	if errors.Is(err, store.ErrNotFound) {
		return store.APIKey{}, "", ErrUnknownUser
	}
	if err != nil {
		return store.APIKey{}, "", err
	}
	return s.Create(ctx, u, note)
}

// CreateInOrg makes a key for the active user userUID of organization
// orgUID, as an admin of that organization may: a user of another
// organization is as unknown (ErrUnknownUser) as a made-up uid.
func (s *Service) CreateInOrg(ctx context.Context, orgUID, userUID, note string) (store.APIKey, string, error) {
	if !store.ValidText(userUID) {
		return store.APIKey{}, "", ErrUnknownUser
	}
	u, err := s.Store.GetUser(ctx, userUID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (u.OrgUID != orgUID || !u.Active) {
		return store.APIKey{}, "", ErrUnknownUser
	}
	if err != nil {
		return store.APIKey{}, "", err
	}
	return s.Create(ctx, u, note)
}

// List returns the keys of an organization's users ("" = all), oldest
// first.
func (s *Service) List(ctx context.Context, orgUID string) ([]store.APIKey, error) {
	return s.Store.ListAPIKeys(ctx, orgUID)
}

// Revoke revokes key id if it belongs to a user of orgUID ("" = any); it
// stops working at once. Revoking a revoked key is not an error.
func (s *Service) Revoke(ctx context.Context, orgUID, id string) error {
	if len(id) != 32 || !verify.IsPAT(id+id) {
		return ErrNotFound
	}
	k, err := s.Store.GetAPIKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if orgUID != "" {
		u, err := s.Store.GetUser(ctx, k.UserUID)
		if errors.Is(err, store.ErrNotFound) || err == nil && u.OrgUID != orgUID {
			return ErrNotFound // other organizations' keys are not there
		}
		if err != nil {
			return err
		}
	}
	defer s.Revocations.Revoked()
	_, err = s.Store.RevokeAPIKey(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err == nil {
		s.Audit.Record(ctx, audit.Event{Type: audit.APIKeyRevoked, SubjectUID: k.UserUID, Details: map[string]string{"api_key_id": id}})
	}
	return err
}

// Verify is the authn verifier of API keys: the user's whole access
// (Scopes nil) for every application (Audiences nil). Failures are counted
// per client address; past the limit it answers *authn.ThrottledError
// without looking the key up.
func (s *Service) Verify(ctx context.Context, key string) (authn.Principal, error) {
	addr := "k:" + reqctx.From(ctx).ClientIP
	if s.Failures != nil {
		d, err := s.Failures.Check(ctx, addr)
		if err != nil {
			return authn.Principal{}, err
		}
		if !d.OK {
			return authn.Principal{}, &authn.ThrottledError{RetryAfter: d.RetryAfter}
		}
	}
	p, err := s.verify(ctx, key)
	if errors.Is(err, authn.ErrInvalid) && s.Failures != nil {
		if ferr := s.Failures.Fail(ctx, addr); ferr != nil {
			return authn.Principal{}, ferr
		}
	}
	return p, err
}

func (s *Service) verify(ctx context.Context, key string) (authn.Principal, error) {
	if !secret.CheckPrefixed(secret.PrefixAPIKey, key) {
		return authn.Principal{}, authn.ErrInvalid
	}
	k, err := s.Store.GetAPIKeyByHash(ctx, secret.Hash(key))
	if errors.Is(err, store.ErrNotFound) {
		return authn.Principal{}, authn.ErrInvalid
	}
	if err != nil {
		return authn.Principal{}, err
	}
	if !k.RevokedAt.IsZero() {
		return authn.Principal{}, authn.ErrInvalid
	}
	u, err := s.Store.GetUser(ctx, k.UserUID)
	if errors.Is(err, store.ErrNotFound) {
		return authn.Principal{}, authn.ErrInvalid
	}
	if err != nil {
		return authn.Principal{}, err
	}
	if !u.Active {
		return authn.Principal{}, authn.ErrInvalid
	}
	return authn.Principal{User: &u, Principal: verify.Principal{OrgUID: u.OrgUID, Method: verify.MethodAPIKey}}, nil
}
