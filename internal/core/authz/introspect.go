package authz

import (
	"context"
	"errors"

	"github.com/tolk-project/tolk/internal/core/accesstoken"
	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// Introspection is an RFC 7662 response.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	OrgUID    string   `json:"org_uid,omitempty"`
}

// Introspect describes a token to the client it was issued to. A token of
// another client is reported inactive, like an unknown one, so a client
// learns nothing about others' tokens.
func (s *Service) Introspect(ctx context.Context, caller store.Client, tok, hint string) (Introspection, error) {
	inactive := Introspection{Active: false}
	if s.IntrospectOther != nil {
		if r, handled, err := s.IntrospectOther(ctx, caller, tok); handled || err != nil {
			return r, err
		}
	}
	if hint != "refresh_token" || !secret.CheckPrefixed(secret.PrefixRefreshToken, tok) {
		a, err := s.VerifyAccessToken(ctx, tok)
		if err == nil {
			if a.Record.ClientID != caller.ID {
				return inactive, nil
			}
			r := Introspection{Active: true, Scope: oauth.JoinScope(a.Record.Scopes), ClientID: a.Record.ClientID, TokenType: "Bearer",
				Exp: a.Record.ExpiresAt.Unix(), Iat: a.Record.CreatedAt.Unix(), Sub: a.Record.ClientID, Aud: a.Record.Audiences,
				Iss: s.Config.Issuer, OrgUID: a.Record.OrgUID}
			if a.User != nil {
				r.Sub, r.Username = a.User.UID, a.User.UserName
			}
			return r, nil
		}
		if oauth.AsError(err) == nil || oauth.AsError(err).Code == "server_error" {
			return inactive, err
		}
	}
	if !secret.CheckPrefixed(secret.PrefixRefreshToken, tok) {
		return inactive, nil
	}
	rt, err := s.Store.GetRefreshToken(ctx, secret.Key(tok))
	if errors.Is(err, store.ErrNotFound) {
		return inactive, nil
	}
	if err != nil {
		return inactive, internal(err)
	}
	now := s.now()
	if rt.ClientID != caller.ID || !rt.UsedAt.IsZero() || (!rt.ExpiresAt.IsZero() && !now.Before(rt.ExpiresAt)) {
		return inactive, nil
	}
	r := Introspection{Active: true, Scope: oauth.JoinScope(rt.Scopes), ClientID: rt.ClientID, TokenType: "refresh_token",
		Iat: rt.CreatedAt.Unix(), Sub: rt.UserUID, Aud: rt.Audiences, Iss: s.Config.Issuer, OrgUID: rt.OrgUID}
	if !rt.ExpiresAt.IsZero() {
		r.Exp = rt.ExpiresAt.Unix()
	}
	if u, err := s.Store.GetUser(ctx, rt.UserUID); err == nil {
		r.Username = u.UserName
	}
	return r, nil
}

// Revoke implements RFC 7009 for the calling client: revoking a refresh
// token revokes its family and the access tokens issued from it; unknown
// tokens and other clients' tokens are ignored (the answer is 200 anyway).
func (s *Service) Revoke(ctx context.Context, caller store.Client, tok, hint string) error {
	if secret.CheckPrefixed(secret.PrefixRefreshToken, tok) {
		rt, err := s.Store.GetRefreshToken(ctx, secret.Key(tok))
		if errors.Is(err, store.ErrNotFound) || (err == nil && rt.ClientID != caller.ID) {
			return nil
		}
		if err != nil {
			return internal(err)
		}
		if err := s.revokeGrant(ctx, rt.GrantID); err != nil {
			return internal(err)
		}
		s.Audit.Record(ctx, audit.Event{Type: audit.TokenRevoked, ActorUID: rt.UserUID, ClientID: caller.ID, OrgUID: caller.OrgUID,
			Details: map[string]string{"token_type": "refresh_token"}})
		return nil
	}
	a, err := s.VerifyAccessToken(ctx, tok)
	if err != nil {
		if e := oauth.AsError(err); e != nil && e.Code == "invalid_token" {
			return nil
		}
		return err
	}
	if a.Record.ClientID != caller.ID {
		return nil
	}
	defer s.Revocations.Revoked()
	if c := a.Sealed; c != nil {
		// No row to delete: cut the token's id until it expires.
		err = s.Store.CutAccessTokens(ctx, accesstoken.TokenCutoff(c))
	} else {
		_, err = s.Store.RevokeAccessToken(ctx, a.Record.Hash)
	}
	if err != nil {
		return internal(err)
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.TokenRevoked, ActorUID: a.Record.UserUID, ClientID: caller.ID, OrgUID: caller.OrgUID,
		Details: map[string]string{"token_type": "access_token"}})
	return nil
}

// RevokeAuthorization ends userUID's authorization of the app clientID
// (Settings → Authorized apps): its consent and, at once, every access and
// refresh token the grant holds (SECURITY.md T29, ASVS 10.7.3). Other
// instances read them from the store, except in /auth/verify's cache,
// which holds them at most verify_cache_ttl. It reports whether there was
// anything to revoke.
func (s *Service) RevokeAuthorization(ctx context.Context, userUID, clientID string) (bool, error) {
	defer s.Revocations.Revoked()
	err := s.Store.RevokeAuthorization(ctx, userUID, clientID, s.cutoff(store.AuthorizationCutoffKey(userUID, clientID), s.now()))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.ConsentRevoked, ActorUID: userUID, ClientID: clientID,
		Details: map[string]string{"action": "tokens revoked"}})
	return true, nil
}
