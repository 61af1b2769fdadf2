// Package pat is the domain of Strings personal access tokens (SPEC §3.3):
// creating, listing, changing and deleting a user's tokens, and verifying
// a presented token for authn. It knows nothing of HTTP.
//
// A token is 64 lowercase hex characters (256 bits from crypto/rand; the
// Phrase CLI checks the shape) and is stored only as its SHA-256, with its
// last eight characters for display. A token without scopes has none: it
// identifies its user but grants no scoped access.
package pat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/core/revocation"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/verify"
)

// MaxNoteLen is the longest note, in characters.
const MaxNoteLen = 255

// touchEvery bounds how often a token's last use is written: a busy token
// would otherwise cost a write per request.
const touchEvery = time.Minute

// Store is what the service needs from storage.
type Store interface {
	store.PersonalAccessTokens
	GetUser(ctx context.Context, uid string) (store.User, error)
}

// Service manages personal access tokens.
type Service struct {
	Store  Store
	Gen    secret.Generator
	Now    func() time.Time
	Scopes []string        // the scope catalog a token may carry scopes from
	Audit  *audit.Recorder // optional: records creation, changes and deletion
	// Revocations is told when a token is deleted or changed (its scopes
	// or expiry), so that no cache answers for it as it was.
	Revocations *revocation.Notifier
	// OnToken, if set, is told each token created, for metrics: the
	// dialect and how its holder got it (docs/operations.md, Monitoring).
	OnToken func(dialect, grant string)
}

// ErrNotFound: no such token of this user.
var ErrNotFound = errors.New("pat: not found")

// ValidationError is input a client can fix; Field is the JSON field.
type ValidationError struct{ Field, Message string }

func (e *ValidationError) Error() string { return e.Field + " " + e.Message }

// Expiry is a requested expires_at: Never, or an RFC 3339 time.
type Expiry struct {
	Never bool
	Value string
}

// Changes are the fields of a create or update; nil fields are left
// unchanged (on create: note is required, scopes default to none, expiry
// to never).
type Changes struct {
	Note      *string
	Scopes    *[]string
	ExpiresAt *Expiry
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// apply validates c onto t; it reports the first problem.
func (s *Service) apply(t *store.PersonalAccessToken, c Changes, create bool) error {
	if c.Note != nil {
		n := strings.TrimSpace(*c.Note)
		switch {
		case n == "":
			return &ValidationError{"note", "can't be blank"}
		case utf8.RuneCountInString(n) > MaxNoteLen:
			return &ValidationError{"note", "is too long (maximum is 255 characters)"}
		case !utf8.ValidString(n) || strings.ContainsFunc(n, unicode.IsControl):
			return &ValidationError{"note", "is invalid"}
		}
		t.Note = n
	} else if create {
		return &ValidationError{"note", "can't be blank"}
	}
	if c.Scopes != nil {
		var scopes []string
		for _, sc := range *c.Scopes {
			if !slices.Contains(s.Scopes, sc) {
				return &ValidationError{"scopes", "contains an unknown scope"}
			}
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
		t.Scopes = scopes
	}
	if c.ExpiresAt != nil {
		e, err := c.ExpiresAt.time()
		switch {
		case err != nil:
			return err
		case e.IsZero():
			t.ExpiresAt = time.Time{}
		case !e.After(s.now()):
			return &ValidationError{"expires_at", "must be in the future"}
		default:
			t.ExpiresAt = e
		}
	}
	return nil
}

// time is the requested expiry, zero for never. "" and Go's zero time
// (0001-01-01T00:00:00Z) mean never, like null: Phrase's Go SDK, and the
// CLI built on it, send the zero time whenever the caller sets no expiry
// (its ExpiresAt is a time.Time, which omitempty never omits).
func (e Expiry) time() (time.Time, error) {
	if e.Never || e.Value == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, e.Value)
	if err != nil {
		return time.Time{}, &ValidationError{"expires_at", "is not a valid RFC 3339 date and time"}
	}
	// Strings shows whole seconds; keep what it shows. A zero instant
	// with fractions or another offset is the zero time too.
	return t.UTC().Truncate(time.Second), nil
}

// Create makes a token for u. The token is returned only here.
func (s *Service) Create(ctx context.Context, u store.User, c Changes) (store.PersonalAccessToken, string, error) {
	now := s.now()
	t := store.PersonalAccessToken{UserUID: u.UID, CreatedAt: now, UpdatedAt: now}
	if err := s.apply(&t, c, true); err != nil {
		return store.PersonalAccessToken{}, "", err
	}
	token, err := s.Gen.Hex(32)
	if err != nil {
		return store.PersonalAccessToken{}, "", err
	}
	if t.ID, err = s.Gen.Hex(16); err != nil {
		return store.PersonalAccessToken{}, "", err
	}
	t.Hash, t.LastEight = secret.Hash(token), token[len(token)-8:]
	if err := s.Store.CreatePAT(ctx, t); err != nil {
		return store.PersonalAccessToken{}, "", err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.PATCreated, ActorUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"pat_id": t.ID, "note": t.Note, "scope": strings.Join(t.Scopes, " ")}})
	if s.OnToken != nil {
		s.OnToken("strings", "password") // POST /v2/authorizations with Basic auth
	}
	return t, token, nil
}

// validID rejects what cannot be a token id before it reaches the store.
func validID(id string) bool { return len(id) == 32 && verify.IsPAT(id+id) }

// Get returns u's token id; another user's token is ErrNotFound.
func (s *Service) Get(ctx context.Context, u store.User, id string) (store.PersonalAccessToken, error) {
	if !validID(id) {
		return store.PersonalAccessToken{}, ErrNotFound
	}
	t, err := s.Store.GetPAT(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && t.UserUID != u.UID {
		return store.PersonalAccessToken{}, ErrNotFound
	}
	return t, err
}

// List returns one page of u's tokens, oldest first, and how many u has.
func (s *Service) List(ctx context.Context, u store.User, offset, limit int) ([]store.PersonalAccessToken, int, error) {
	return s.Store.ListPATs(ctx, u.UID, offset, limit)
}

// Update changes u's token id.
func (s *Service) Update(ctx context.Context, u store.User, id string, c Changes) (store.PersonalAccessToken, error) {
	t, err := s.Get(ctx, u, id)
	if err != nil {
		return t, err
	}
	if err := s.apply(&t, c, false); err != nil {
		return store.PersonalAccessToken{}, err
	}
	t.UpdatedAt = s.now()
	defer s.Revocations.Revoked()
	if err := s.Store.UpdatePAT(ctx, t); errors.Is(err, store.ErrNotFound) {
		return store.PersonalAccessToken{}, ErrNotFound // deleted meanwhile
	} else if err != nil {
		return store.PersonalAccessToken{}, err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.PATUpdated, ActorUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"pat_id": t.ID, "note": t.Note, "scope": strings.Join(t.Scopes, " ")}})
	return t, nil
}

// Delete deletes u's token id; it stops working at once.
func (s *Service) Delete(ctx context.Context, u store.User, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	defer s.Revocations.Revoked()
	err := s.Store.DeletePAT(ctx, u.UID, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err == nil {
		s.Audit.Record(ctx, audit.Event{Type: audit.PATDeleted, ActorUID: u.UID, OrgUID: u.OrgUID, Details: map[string]string{"pat_id": id}})
	}
	return err
}

// Verify is the authn verifier of personal access tokens: the token's
// scopes (none if it has none), for the strings application.
func (s *Service) Verify(ctx context.Context, token string) (authn.Principal, error) {
	if !verify.IsPAT(token) {
		return authn.Principal{}, authn.ErrInvalid
	}
	h := secret.Hash(token)
	t, err := s.Store.GetPATByHash(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return authn.Principal{}, authn.ErrInvalid
	}
	if err != nil {
		return authn.Principal{}, err
	}
	now := s.now()
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return authn.Principal{}, authn.ErrInvalid
	}
	u, err := s.Store.GetUser(ctx, t.UserUID)
	if errors.Is(err, store.ErrNotFound) {
		return authn.Principal{}, authn.ErrInvalid
	}
	if err != nil {
		return authn.Principal{}, err
	}
	if !u.Active {
		return authn.Principal{}, authn.ErrInvalid
	}
	if t.LastUsedAt.IsZero() || now.Sub(t.LastUsedAt) >= touchEvery {
		// Best effort: failing to record the use must not fail the request.
		_ = s.Store.TouchPAT(ctx, h, now)
	}
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{} // not nil: nil would mean the user's whole access
	}
	return authn.Principal{User: &u, Principal: verify.Principal{
		OrgUID: u.OrgUID, Scopes: scopes, Audiences: []string{"strings"},
		Method: verify.MethodPAT, ExpiresAt: t.ExpiresAt,
	}}, nil
}
