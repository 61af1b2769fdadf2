package authz

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/core/accesstoken"
	"github.com/tolk-project/tolk/internal/core/signing"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// TokenResponse is the token endpoint's success body (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	Scope           string `json:"scope,omitempty"`
	// UserUID is the token's user ("" for client_credentials), for the
	// audit log; never sent.
	UserUID string `json:"-"`
}

// subject is who a token is for.
type subject struct {
	client   store.Client
	user     *store.User // nil for client_credentials
	scopes   []string
	auds     []string
	grantID  string
	authTime time.Time
}

func (s *Service) orgOf(sub subject) string {
	if sub.user != nil {
		return sub.user.OrgUID
	}
	return sub.client.OrgUID
}

// mintAccess makes an access token for sub and the record to store, if
// any. An opaque token is sealed and has no record (accesstoken); a JWT
// is stored by the hash of its jti, so that it can be revoked and
// introspected.
func (s *Service) mintAccess(ctx context.Context, sub subject) (string, *store.AccessToken, error) {
	now := s.now()
	rec := &store.AccessToken{
		ClientID: sub.client.ID, OrgUID: s.orgOf(sub), Scopes: sub.scopes, Audiences: sub.auds,
		GrantID: sub.grantID, AuthTime: sub.authTime, CreatedAt: now, ExpiresAt: now.Add(s.Config.AccessTTL),
	}
	if sub.user != nil {
		rec.UserUID = sub.user.UID
	}
	if !sub.client.JWTAccessTokens {
		if s.Sealer == nil {
			return "", nil, errors.New("authz: no access token sealer")
		}
		c := accesstoken.Claims{ClientID: rec.ClientID, UserUID: rec.UserUID, OrgUID: rec.OrgUID, GrantID: rec.GrantID,
			Scopes: rec.Scopes, Audiences: rec.Audiences, AuthTime: rec.AuthTime, IssuedAt: now, ExpiresAt: rec.ExpiresAt}
		if err := s.Gen.Fill(c.ID[:]); err != nil {
			return "", nil, err
		}
		tok, err := s.Sealer.Seal(ctx, &c)
		return tok, nil, err
	}
	// Stamped, so that its storage key appends to the index (secret.Key).
	jti, err := s.Gen.JTI(now)
	if err != nil {
		return "", nil, err
	}
	c := signing.AccessClaims{
		Issuer: s.Config.Issuer, Subject: sub.client.ID, Audience: sub.auds, Expiry: rec.ExpiresAt.Unix(), IssuedAt: now.Unix(),
		JTI: jti, ClientID: sub.client.ID, Scope: oauth.JoinScope(sub.scopes), OrgUID: rec.OrgUID,
	}
	if sub.user != nil {
		c.Subject = sub.user.UID
		c.AuthTime = sub.authTime.Unix()
	}
	tok, err := s.Keys.Sign(ctx, s.Config.AccessTokenAlg, signing.TypAtJWT, c)
	if err != nil {
		return "", nil, err
	}
	rec.Hash = secret.Key(jti)
	return tok, rec, nil
}

func (s *Service) mintRefresh(sub subject) (string, store.RefreshToken, error) {
	now := s.now()
	tok, err := s.Gen.StampedPrefixed(secret.PrefixRefreshToken, now)
	if err != nil {
		return "", store.RefreshToken{}, err
	}
	rec := store.RefreshToken{
		Hash: secret.Key(tok), ClientID: sub.client.ID, UserUID: sub.user.UID, OrgUID: sub.user.OrgUID,
		Scopes: sub.scopes, Audiences: sub.auds, GrantID: sub.grantID, AuthTime: sub.authTime, CreatedAt: now,
	}
	if s.Config.RefreshTTL > 0 {
		rec.ExpiresAt = now.Add(s.Config.RefreshTTL)
	}
	return tok, rec, nil
}

// wantsRefresh: a refresh token comes with offline_access, or always when
// the app is configured so, and only if the app may use the grant.
func wantsRefresh(c store.Client, scopes []string) bool {
	return slices.Contains(c.GrantTypes, oauth.GrantRefreshToken) && (c.AlwaysRefresh || slices.Contains(scopes, "offline_access"))
}

// IDTokenParams are the request-specific inputs of an id_token.
type IDTokenParams struct {
	Nonce       string
	AccessToken string // sets at_hash
	Code        string // sets c_hash
}

// idTokenClaims are OIDC Core §2 claims plus scope-dependent ones.
type idTokenClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	AuthTime int64  `json:"auth_time"`
	Nonce    string `json:"nonce,omitempty"`
	AZP      string `json:"azp"`
	AtHash   string `json:"at_hash,omitempty"`
	CHash    string `json:"c_hash,omitempty"`
	// JTI makes every id_token unique, as signing.Claims asks; OIDC Core
	// neither requires nor forbids it (Keycloak sets one too).
	JTI string `json:"jti"`
	userClaims
}

// JWTID implements signing.Claims.
func (c idTokenClaims) JWTID() string { return c.JTI }

// userClaims are the claims released by scope (OIDC Core §5.4).
type userClaims struct {
	Name              string `json:"name,omitempty"`
	GivenName         string `json:"given_name,omitempty"`
	FamilyName        string `json:"family_name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	UpdatedAt         int64  `json:"updated_at,omitempty"`
	Email             string `json:"email,omitempty"`
}

func claimsFor(u store.User, scopes []string) userClaims {
	var c userClaims
	if slices.Contains(scopes, "profile") {
		c.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
		c.GivenName, c.FamilyName, c.PreferredUsername = u.FirstName, u.LastName, u.UserName
		c.UpdatedAt = u.UpdatedAt.Unix()
	}
	if slices.Contains(scopes, "email") {
		c.Email = u.Email
	}
	return c
}

func (s *Service) idToken(ctx context.Context, sub subject, p IDTokenParams) (string, error) {
	now := s.now()
	jti, err := s.Gen.JTI(now)
	if err != nil {
		return "", err
	}
	c := idTokenClaims{
		Issuer: s.Config.Issuer, Subject: sub.user.UID, Audience: sub.client.ID,
		Expiry: now.Add(s.Config.IDTokenTTL).Unix(), IssuedAt: now.Unix(), AuthTime: sub.authTime.Unix(),
		Nonce: p.Nonce, AZP: sub.client.ID, JTI: jti, userClaims: claimsFor(*sub.user, sub.scopes),
	}
	if p.AccessToken != "" {
		c.AtHash = oauth.HalfHash(p.AccessToken)
	}
	if p.Code != "" {
		c.CHash = oauth.HalfHash(p.Code)
	}
	return s.Keys.Sign(ctx, s.Config.IDTokenAlg, "JWT", c)
}

// Access is a verified access token.
type Access struct {
	// Record is the token's row, or for a sealed token what it carries
	// (no Hash).
	Record store.AccessToken
	User   *store.User // nil for client_credentials
	JWT    bool
	// Sealed is set for a self-contained token: what revoking it cuts.
	Sealed *accesstoken.Claims
}

// VerifyAccessToken checks a bearer token presented to a resource: a
// sealed tolk_at_ token by opening it, a stored one (issued before tokens
// were sealed, or by a Service without a Sealer) by lookup, a JWT by
// signature and claims; each against the store (cutoffs or rows), so
// revocation takes effect at once.
func (s *Service) VerifyAccessToken(ctx context.Context, tok string) (Access, error) {
	bad := oauth.ErrInvalidToken("the access token is invalid, expired or revoked")
	var hash string
	isJWT := strings.Count(tok, ".") == 2
	switch {
	case secret.CheckPrefixed(secret.PrefixAccessToken, tok):
		hash = secret.Key(tok)
	case s.Sealer != nil && accesstoken.Looks(tok):
		return s.verifySealed(ctx, tok, bad)
	case isJWT:
		payload, err := s.Keys.Verify(ctx, tok, signing.TypAtJWT)
		if err != nil {
			return Access{}, bad
		}
		var c signing.AccessClaims
		if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != s.Config.Issuer || c.JTI == "" {
			return Access{}, bad
		}
		hash = secret.Key(c.JTI)
	default:
		return Access{}, bad
	}
	rec, err := s.Store.GetAccessToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return Access{}, bad
	}
	if err != nil {
		return Access{}, internal(err)
	}
	if !s.now().Before(rec.ExpiresAt) {
		return Access{}, bad
	}
	return s.withUser(ctx, Access{Record: rec, JWT: isJWT}, bad)
}

// verifySealed opens a self-contained token and checks its expiry and the
// cutoffs that would revoke it.
func (s *Service) verifySealed(ctx context.Context, tok string, bad error) (Access, error) {
	c, err := s.Sealer.Open(ctx, tok)
	if errors.Is(err, accesstoken.ErrInvalid) {
		return Access{}, bad
	}
	if err != nil {
		return Access{}, internal(err)
	}
	if !s.now().Before(c.ExpiresAt) || c.ExpiresAt.Sub(c.IssuedAt) > accesstoken.MaxLifetime(s.Config.AccessTTL) {
		return Access{}, bad
	}
	cut, err := s.Store.AccessTokenCut(ctx, c.Keys(), c.GrantTime())
	if err != nil {
		return Access{}, internal(err)
	}
	if cut {
		return Access{}, bad
	}
	rec := store.AccessToken{ClientID: c.ClientID, UserUID: c.UserUID, OrgUID: c.OrgUID, Scopes: c.Scopes,
		Audiences: c.Audiences, GrantID: c.GrantID, AuthTime: c.AuthTime, CreatedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}
	return s.withUser(ctx, Access{Record: rec, Sealed: &c}, bad)
}

// withUser adds the token's user, which must still be active.
func (s *Service) withUser(ctx context.Context, a Access, bad error) (Access, error) {
	rec := a.Record
	if rec.UserUID != "" {
		u, err := s.Store.GetUser(ctx, rec.UserUID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
			return Access{}, bad
		}
		if err != nil {
			return Access{}, internal(err)
		}
		a.User = &u
	}
	return a, nil
}

// UserInfo returns the OIDC claims of u released by scopes (nil scopes:
// a credential with its user's whole access, such as an ApiToken).
func UserInfo(u store.User, scopes []string) map[string]any {
	if scopes == nil {
		scopes = []string{"openid", "profile", "email"}
	}
	b, _ := json.Marshal(claimsFor(u, scopes))
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	out["sub"] = u.UID
	return out
}
