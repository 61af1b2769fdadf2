package platform

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/signing"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/verify"
)

// ExchangeRequest are the RFC 8693 parameters tolk reads.
type ExchangeRequest struct {
	SubjectToken       string
	SubjectTokenType   string // "" = SubjectTokenType
	RequestedTokenType string // "" = AccessTokenType
	ActorToken         string // not supported: must be empty
	Audience           string // an application name; narrows aud
	Resource           string // an application name; narrows aud
	Scope              string
	ScopePresent       bool // scope was sent (even empty)
}

// Exchanged is the result of a successful exchange.
type Exchanged struct {
	JWT       string
	ExpiresIn int64    // seconds
	Scopes    []string // what the JWT names; never nil
	Audiences []string
}

// badSubject is the one answer for every unusable subject_token (unknown,
// malformed, expired, revoked, of an inactive user): RFC 8693 §2.2.2 names
// invalid_request, and one description tells a prober nothing.
func badSubject() error {
	return oauth.ErrInvalidRequest("the subject_token is invalid, expired or revoked")
}

// Exchange checks an API token and issues a JWT for its user. Errors are
// *oauth.Error values (RFC 8693 §2.2.2, RFC 6749 §5.2); unexpected ones
// wrap server_error. On any error nothing is issued.
//
// Nothing is stored per JWT: the JWT names its API token (client_id) and
// its user (sub), and verify looks the token up on every use, so an
// exchange costs reads and a signature, not a durable write (issue 7).
// A revocation that commits while an exchange is in flight may let that
// one JWT be handed out, but tolk refuses it from the revocation on, like
// every other JWT of the token.
func (s *Service) Exchange(ctx context.Context, req ExchangeRequest) (Exchanged, error) {
	if req.SubjectToken == "" {
		return Exchanged{}, oauth.ErrInvalidRequest("subject_token is required")
	}
	if req.SubjectTokenType != "" && req.SubjectTokenType != SubjectTokenType {
		return Exchanged{}, oauth.ErrInvalidRequest("subject_token_type must be " + SubjectTokenType)
	}
	if req.RequestedTokenType != "" && req.RequestedTokenType != AccessTokenType {
		return Exchanged{}, oauth.ErrInvalidRequest("requested_token_type must be " + AccessTokenType)
	}
	if req.ActorToken != "" {
		return Exchanged{}, oauth.ErrInvalidRequest("actor_token is not supported")
	}
	auds, err := s.audiences(req.Audience, req.Resource)
	if err != nil {
		return Exchanged{}, err
	}
	// An API token carries its user's whole access: the JWT names it as
	// the whole scope catalog, since a JWT means exactly the scopes it
	// names (an absent scope claim is none, in tolk and in the verify
	// package alike). A requested scope narrows it.
	scopes := slices.Clone(s.Config.Scopes)
	if req.ScopePresent {
		sc, ok := oauth.ParseScope(req.Scope)
		if !ok {
			return Exchanged{}, oauth.ErrInvalidScope("malformed scope")
		}
		// Any scope of the catalog narrows; anything else would widen.
		if !oauth.Subset(sc, s.Config.Scopes) {
			return Exchanged{}, oauth.ErrInvalidScope("a requested scope is unknown")
		}
		if len(sc) > 0 { // an empty scope narrows nothing, as in client_credentials
			scopes = sc
		}
	}

	if !secret.CheckPrefixed(secret.PrefixPlatformToken, req.SubjectToken) {
		return Exchanged{}, badSubject()
	}
	// The token and its user in one read, or none.
	hash := secret.Hash(req.SubjectToken)
	tok, u, gen, err := s.subject(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return Exchanged{}, badSubject()
	}
	if err != nil {
		return Exchanged{}, internal(err)
	}
	now := s.now()
	if Expired(tok, now) || !u.Active {
		return Exchanged{}, badSubject()
	}

	// Never longer than the API token itself (T42).
	// JWT times are whole seconds; rounding exp down keeps it within both.
	end := now.Add(ExchangeTTL)
	if !tok.ExpiresAt.IsZero() && tok.ExpiresAt.Before(end) {
		end = tok.ExpiresAt
	}
	exp := time.Unix(end.Unix(), 0).UTC()
	expiresIn := exp.Unix() - now.Unix()
	if expiresIn < 1 {
		return Exchanged{}, badSubject()
	}
	// The jti is not stored; it is unique per JWT (RFC 9068 §2.2) for
	// audit logs and resource servers that keep their own replay state.
	jti, err := s.Gen.JTI(now)
	if err != nil {
		return Exchanged{}, internal(err)
	}
	c := signing.AccessClaims{
		Issuer: s.Config.Issuer, Subject: u.UID, Audience: auds, Expiry: exp.Unix(), IssuedAt: now.Unix(),
		JTI: jti, ClientID: ClientIDPrefix + tok.ID, Scope: oauth.JoinScope(scopes), OrgUID: u.OrgUID,
	}
	jwt, err := s.Keys.Sign(ctx, s.alg(), signing.TypAtJWT, c)
	if err != nil {
		return Exchanged{}, internal(err)
	}
	// Best effort: a failed "last used" update must not fail the exchange.
	// The read above already tells whether the minute has passed, so most
	// exchanges of a busy token skip the write entirely.
	if now.Sub(tok.LastUsedAt) >= TouchEvery {
		if _, err := s.Store.TouchPlatformToken(ctx, tok.ID, now, TouchEvery); err != nil {
			s.logWarn(ctx, "platform: update last used", "token_id", tok.ID, "err", err)
		} else if c := s.Subjects; c != nil {
			// So that the cached copy does not touch again on every use.
			// Update keeps the lookup's deadline and generation: the
			// touch may have found the row gone (revoked elsewhere), and
			// must not extend how long that lookup is believed.
			tok.LastUsedAt = now
			c.Update(hash, subject{tok, u}, gen, c.Time())
		}
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.PlatformExchanged, ActorUID: u.UID, ClientID: ClientIDPrefix + tok.ID, OrgUID: u.OrgUID,
		Details: map[string]string{"token_id": tok.ID, "audience": strings.Join(auds, " "), "scope": oauth.JoinScope(scopes)}})
	return Exchanged{JWT: jwt, ExpiresIn: expiresIn, Scopes: scopes, Audiences: auds}, nil
}

// subject looks up an API token and its user by the token's hash. With
// Subjects it may answer from a lookup at most verify_cache_ttl old that
// no write on this instance has followed: the subject_token is then
// checked exactly as strictly as /auth/verify checks a credential (T42): a
// revocation, logout or deactivation here refuses it at once, one on
// another instance within that bound (SPEC §7). Expiry is checked by the
// caller on every use. Unknown tokens are not cached. gen is the cache's
// generation before the lookup (0 without Subjects).
func (s *Service) subject(ctx context.Context, hash string) (store.PlatformToken, store.User, uint64, error) {
	c := s.Subjects
	if c == nil {
		tok, u, err := s.Store.GetPlatformTokenAndUser(ctx, hash)
		return tok, u, 0, err
	}
	gen, now := c.Gen(), c.Time()
	if e, ok := c.Get(hash, gen, now); ok {
		return e.tok, e.u, gen, nil
	}
	tok, u, err := s.Store.GetPlatformTokenAndUser(ctx, hash)
	if err == nil {
		c.Put(hash, subject{tok, u}, gen, now, tok.ExpiresAt)
	}
	return tok, u, gen, err
}

// audiences resolves audience and resource into the JWT's aud: every
// configured application by default, else the named ones, each of which
// must be configured (RFC 8693 §2.2.2 invalid_target).
func (s *Service) audiences(audience, resource string) ([]string, error) {
	var out []string
	for _, a := range []string{audience, resource} {
		if a == "" {
			continue
		}
		if !slices.Contains(s.Config.Audiences, a) {
			return nil, oauth.ErrInvalidTarget("unknown audience or resource " + quote(a))
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if out == nil {
		out = slices.Clone(s.Config.Audiences)
	}
	return out, nil
}

// quote shows a client-supplied value in an error description, bounded
// and without control characters.
func quote(v string) string {
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return fmt.Sprintf("%q", v)
}

func internal(err error) error {
	return fmt.Errorf("%w: %w", oauth.ErrServerError("internal error"), err)
}

// Grant is the token-exchange grant of the token endpoint. It needs no
// client authentication (SPEC §3.5): the subject_token authenticates.
type Grant struct{ S *Service }

var _ authz.Grant = Grant{}

// Type implements authz.Grant.
func (Grant) Type() string { return oauth.GrantTokenExchange }

// ClientAuth implements authz.Grant.
func (Grant) ClientAuth() bool { return false }

// Handle implements authz.Grant. A client that authenticates anyway is
// accepted but changes nothing: the JWT names the API token, not the
// client.
func (g Grant) Handle(ctx context.Context, req *authz.TokenRequest, _ *store.Client) (*authz.TokenResponse, error) {
	f := req.Form
	_, scopePresent := f["scope"]
	ex, err := g.S.Exchange(ctx, ExchangeRequest{
		SubjectToken: f.Get("subject_token"), SubjectTokenType: f.Get("subject_token_type"),
		RequestedTokenType: f.Get("requested_token_type"), ActorToken: f.Get("actor_token"),
		Audience: f.Get("audience"), Resource: f.Get("resource"),
		Scope: f.Get("scope"), ScopePresent: scopePresent,
	})
	if err != nil {
		return nil, err
	}
	// scope is left out: it is exactly what was asked for (RFC 8693
	// §2.2.1), and the Platform's response has none.
	return &authz.TokenResponse{AccessToken: ex.JWT, IssuedTokenType: AccessTokenType, TokenType: "Bearer", ExpiresIn: ex.ExpiresIn}, nil
}

// IsExchanged reports whether tok looks like a JWT issued by Exchange: its
// payload's client_id starts with ClientIDPrefix. It verifies nothing and
// only routes a token to the right verifier; whichever verifier gets it
// checks it completely.
func IsExchanged(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 8192 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		ClientID string `json:"client_id"`
	}
	return json.Unmarshal(raw, &c) == nil && strings.HasPrefix(c.ClientID, ClientIDPrefix)
}

// verified is a checked exchanged JWT.
type verified struct {
	claims  signing.AccessClaims
	scopes  []string // exactly the scope claim's; never nil
	expires time.Time
	user    store.User
}

// verify checks an exchanged JWT completely: signature, alg and kid by the
// keyring's policy, typ at+jwt, iss, exp; then the API token its client_id
// names, read by id on every call: it must still exist (revocation deletes
// it), not have expired, and belong to the JWT's sub, whose user must be
// active and of the JWT's org_uid. Everything else the principal holds
// comes from the signed claims. Failures are authn.ErrInvalid.
//
// Only Exchange signs at+jwt tokens with a ClientIDPrefix client_id: OAuth
// JWT access tokens carry a registered client's id, 24 alphanumerics.
func (s *Service) verify(ctx context.Context, tok string) (verified, error) {
	payload, err := s.Keys.Verify(ctx, tok, signing.TypAtJWT)
	if err != nil {
		if errors.Is(err, signing.ErrInvalidToken) {
			return verified{}, authn.ErrInvalid
		}
		return verified{}, err
	}
	var c signing.AccessClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != s.Config.Issuer || c.JTI == "" || c.Subject == "" {
		return verified{}, authn.ErrInvalid
	}
	id, ok := strings.CutPrefix(c.ClientID, ClientIDPrefix)
	if !ok || id == "" {
		return verified{}, authn.ErrInvalid
	}
	// Exactly the scopes the claim names: no claim is none (not nil, an
	// ApiToken's whole access), as the verify package reads it.
	scopes, ok := oauth.ParseScope(c.Scope)
	if !ok {
		return verified{}, authn.ErrInvalid
	}
	if scopes == nil {
		scopes = []string{}
	}
	now := s.now()
	expires := time.Unix(c.Expiry, 0).UTC()
	if !now.Before(expires) {
		return verified{}, authn.ErrInvalid
	}
	// The API token with its user, in one read (a user that is gone took
	// its tokens with it).
	pt, u, err := s.Store.GetPlatformTokenByIDAndUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return verified{}, authn.ErrInvalid // revoked (or never issued)
	}
	if err != nil {
		return verified{}, err
	}
	if Expired(pt, now) || pt.UserUID != c.Subject {
		return verified{}, authn.ErrInvalid
	}
	// Exchange keeps exp within the token's life; never trust it beyond.
	if !pt.ExpiresAt.IsZero() && pt.ExpiresAt.Before(expires) {
		expires = pt.ExpiresAt
	}
	if !u.Active || u.OrgUID != c.OrgUID {
		return verified{}, authn.ErrInvalid
	}
	return verified{claims: c, scopes: scopes, expires: expires, user: u}, nil
}

// Verify is the authn verifier of exchanged JWTs. The principal's scopes,
// audiences and organization are the signed claims, checked by verify.
func (s *Service) Verify(ctx context.Context, tok string) (authn.Principal, error) {
	v, err := s.verify(ctx, tok)
	if err != nil {
		return authn.Principal{}, err
	}
	return authn.Principal{User: &v.user, Principal: verify.Principal{
		OrgUID: v.claims.OrgUID, ClientID: v.claims.ClientID,
		Scopes: v.scopes, Audiences: v.claims.Audience, Method: verify.MethodJWT, ExpiresAt: v.expires,
	}}, nil
}

// BearerVerifier composes the verifier of bearer tokens: exchanged JWTs
// go to Verify, everything else (opaque OAuth tokens, OAuth JWT access
// tokens) to next.
func (s *Service) BearerVerifier(next authn.VerifyFunc) authn.VerifyFunc {
	return func(ctx context.Context, tok string) (authn.Principal, error) {
		if IsExchanged(tok) {
			return s.Verify(ctx, tok)
		}
		return next(ctx, tok)
	}
}

// Introspect describes an exchanged JWT to an authenticated client (RFC
// 7662). It reports handled=false for any other token. Exchanged JWTs
// belong to no client, so any client of the user's organization (a
// resource server) may introspect them; to a client of another
// organization they are inactive, like an unknown token.
func (s *Service) Introspect(ctx context.Context, caller store.Client, tok string) (authz.Introspection, bool, error) {
	if !IsExchanged(tok) {
		return authz.Introspection{}, false, nil
	}
	inactive := authz.Introspection{Active: false}
	v, err := s.verify(ctx, tok)
	if errors.Is(err, authn.ErrInvalid) {
		return inactive, true, nil
	}
	if err != nil {
		return inactive, true, internal(err)
	}
	if caller.OrgUID != v.claims.OrgUID {
		return inactive, true, nil
	}
	return authz.Introspection{
		Active: true, Scope: oauth.JoinScope(v.scopes), ClientID: v.claims.ClientID, Username: v.user.UserName, TokenType: "Bearer",
		Exp: v.expires.Unix(), Iat: v.claims.IssuedAt, Sub: v.user.UID, Aud: v.claims.Audience,
		Iss: s.Config.Issuer, OrgUID: v.claims.OrgUID,
	}, true, nil
}
