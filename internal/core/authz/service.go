// Package authz is tolk's OAuth 2.0 authorization server and OpenID
// Connect provider, as domain logic without HTTP: registered apps, the
// validation of authorization requests, codes and implicit responses,
// the token endpoint's grant pipeline, token verification, introspection
// and revocation. HTTP handlers only parse and render.
package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tolk-project/tolk/internal/core/accesstoken"
	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/revocation"
	"github.com/tolk-project/tolk/internal/core/signing"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// Store is the part of the store authz needs.
type Store interface {
	store.Users
	store.Organizations
	store.Clients
	store.Tokens
	store.Consents
}

// Config are the protocol settings.
type Config struct {
	Issuer         string
	Scopes         []string // the scope catalog
	DefaultScopes  []string // ticked on a new app's form (config default_scopes)
	Audiences      []string // the applications
	CodeTTL        time.Duration
	AccessTTL      time.Duration
	IDTokenTTL     time.Duration
	RefreshTTL     time.Duration // 0 = refresh tokens never expire
	RefreshGrace   time.Duration // reuse of a rotated refresh token within this is tolerated
	IDTokenAlg     string        // RS256 (default) or ES256
	AccessTokenAlg string        // for JWT access tokens
	// ClientCacheTTL bounds how long a client registration change made on
	// another instance may go unseen by client authentication; 0 disables
	// the cache.
	ClientCacheTTL time.Duration
}

// Service implements the authorization server.
type Service struct {
	Store Store
	Keys  *signing.Keyring
	// Sealer seals opaque access tokens, which have no row (issue 20);
	// required to issue them. Opaque tokens stored as rows before it
	// still verify until they expire.
	Sealer *accesstoken.Sealer
	Gen    secret.Generator
	Now    func() time.Time
	Config Config
	// IntrospectOther, if set, is asked first by Introspect and answers
	// for tokens that are not OAuth ones (handled=true), such as the JWTs
	// of token exchange (internal/core/platform).
	IntrospectOther func(ctx context.Context, caller store.Client, tok string) (r Introspection, handled bool, err error)
	grants          map[string]Grant
	// Audit, if set, records tokens issued and revoked, replay and reuse
	// detections, consents and app changes.
	Audit *audit.Recorder
	// Revocations is told when tokens are revoked: one by RFC 7009, a
	// grant (a replayed code, a reused refresh token), an authorization,
	// an app.
	Revocations *revocation.Notifier
	// OnToken, if set, is told each outcome of the token endpoint and
	// each token of an implicit or hybrid flow, for metrics: the grant
	// type and, for a refusal, the OAuth error code ("" when issued).
	OnToken func(grant, reason string)

	clients clientCache
}

// New returns a Service with the standard grants registered.
func New(st Store, keys *signing.Keyring, gen secret.Generator, now func() time.Time, cfg Config) *Service {
	s := &Service{Store: st, Keys: keys, Gen: gen, Now: now, Config: cfg}
	s.clients.ttl = cfg.ClientCacheTTL
	s.grants = map[string]Grant{}
	for _, g := range []Grant{authorizationCodeGrant{s}, refreshTokenGrant{s}, clientCredentialsGrant{s}} {
		s.grants[g.Type()] = g
	}
	return s
}

// revokeGrant revokes every token of a grant (a code's, a refresh
// family): the rows, and the self-contained tokens by a cutoff (every
// token of the grant began before now).
func (s *Service) revokeGrant(ctx context.Context, grantID string) error {
	defer s.Revocations.Revoked()
	return s.Store.RevokeGrant(ctx, grantID, s.cutoff(store.GrantCutoffKey(grantID), s.now()))
}

// cutoff revokes the self-contained access tokens with key whose grant
// began at or before notBefore.
func (s *Service) cutoff(key string, notBefore time.Time) store.Cutoff {
	return accesstoken.Cutoff(key, notBefore, s.Config.AccessTTL)
}

// Register adds a grant (e.g. token exchange) to the token endpoint.
func (s *Service) Register(g Grant) { s.grants[g.Type()] = g }

// GrantTypes lists the registered grant types.
func (s *Service) GrantTypes() []string {
	var out []string
	for k := range s.grants {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// internal wraps an unexpected error so it is logged but never shown.
func internal(err error) error {
	return fmt.Errorf("%w: %w", oauth.ErrServerError("internal error"), err)
}

// AuthenticateClient checks client credentials as given to the token,
// introspection or revocation endpoint. Every failure is invalid_client
// with the same description, so client ids cannot be probed.
func (s *Service) AuthenticateClient(ctx context.Context, id, sec, method string) (store.Client, error) {
	if id == "" {
		return store.Client{}, badClient()
	}
	c, err := s.cachedClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, badClient()
	}
	if err != nil {
		return store.Client{}, internal(err)
	}
	if c.Public {
		if method != "none" {
			return store.Client{}, badClient()
		}
		return c, nil
	}
	if method == "none" || c.SecretHash == "" || !secret.Equal(secret.Hash(sec), c.SecretHash) {
		return store.Client{}, badClient()
	}
	return c, nil
}

// badClient is every client authentication failure (made only on failure).
func badClient() error { return oauth.ErrInvalidClient("client authentication failed") }

// auditReplay records a detected replay (a used code, a rotated refresh
// token) and the revocation it caused. presentedBy is the client that
// sent it.
func (s *Service) auditReplay(ctx context.Context, typ, clientID, userUID, presentedBy string) {
	if s.Audit == nil {
		return
	}
	e := audit.Event{Type: typ, ActorUID: userUID, ClientID: clientID, Outcome: audit.Denied,
		Details: map[string]string{"action": "grant revoked"}}
	if presentedBy != clientID {
		e.Details["presented_by"] = presentedBy
	}
	if c, err := s.Store.GetClient(ctx, clientID); err == nil {
		e.OrgUID = c.OrgUID
	}
	s.Audit.Record(ctx, e)
}
