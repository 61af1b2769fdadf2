package authz

import (
	"context"
	"errors"
	"net/url"
	"slices"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// TokenRequest is a parsed token endpoint request.
type TokenRequest struct {
	Form         url.Values
	ClientID     string
	ClientSecret string
	AuthMethod   string // client_secret_basic, client_secret_post, none
}

// Grant is one grant type of the token endpoint. The pipeline in Token
// does what every grant needs (client authentication, the client's
// permission for the grant) so that no grant can forget it.
type Grant interface {
	Type() string
	// ClientAuth reports whether the grant needs an authenticated client.
	// Token exchange does not (SPEC §3.5): it authenticates its subject.
	ClientAuth() bool
	// Handle runs the grant. client is nil when ClientAuth is false and no
	// client was presented.
	Handle(ctx context.Context, req *TokenRequest, client *store.Client) (*TokenResponse, error)
}

// Token runs the token endpoint pipeline: find the grant, authenticate
// the client, check that the client may use the grant, run it.
func (s *Service) Token(ctx context.Context, req *TokenRequest) (resp *TokenResponse, err error) {
	gt := req.Form.Get("grant_type")
	defer func() { s.countToken(gt, err) }()
	if gt == "" {
		return nil, oauth.ErrInvalidRequest("grant_type is required")
	}
	g, ok := s.grants[gt]
	if !ok {
		return nil, oauth.ErrUnsupportedGrantType("grant_type " + gt + " is not supported")
	}
	var client *store.Client
	if g.ClientAuth() || req.ClientID != "" {
		c, err := s.AuthenticateClient(ctx, req.ClientID, req.ClientSecret, req.AuthMethod)
		if err != nil {
			return nil, err
		}
		if g.ClientAuth() && !slices.Contains(c.GrantTypes, gt) {
			return nil, oauth.ErrUnauthorizedClient("this app is not registered for grant type " + gt)
		}
		client = &c
	}
	resp, err = g.Handle(ctx, req, client)
	if err == nil && client != nil && gt != oauth.GrantTokenExchange {
		// Token exchange records its own event (internal/core/platform).
		s.Audit.Record(ctx, audit.Event{Type: audit.TokenIssued, ActorUID: resp.UserUID, ClientID: client.ID,
			OrgUID: client.OrgUID, Details: map[string]string{"grant_type": gt}})
	}
	return resp, err
}

// countToken tells OnToken the outcome of a token request: the grant
// (registered ones by name, anything else as "unsupported" or "none", so
// that clients cannot make up series) and, when refused, the OAuth error
// code, "server_error" for a failure that is no protocol error.
func (s *Service) countToken(gt string, err error) {
	if s.OnToken == nil {
		return
	}
	if _, ok := s.grants[gt]; !ok {
		if gt == "" {
			gt = "none"
		} else {
			gt = "unsupported"
		}
	}
	reason := ""
	if err != nil {
		reason = "server_error"
		if oe, ok := errors.AsType[*oauth.Error](err); ok {
			reason = oe.Code
		}
	}
	s.OnToken(gt, reason)
}

// requestedScopes parses the optional scope parameter and checks it
// against what the client may have.
func requestedScopes(form url.Values, allowed []string) ([]string, bool, error) {
	raw, present := form["scope"]
	if !present {
		return nil, false, nil
	}
	sc, ok := oauth.ParseScope(raw[0])
	if !ok {
		return nil, true, oauth.ErrInvalidScope("malformed scope")
	}
	if !oauth.Subset(sc, allowed) {
		return nil, true, oauth.ErrInvalidScope("a requested scope is not allowed for this app")
	}
	return sc, true, nil
}

type authorizationCodeGrant struct{ s *Service }

func (authorizationCodeGrant) Type() string     { return oauth.GrantAuthorizationCode }
func (authorizationCodeGrant) ClientAuth() bool { return true }

func (g authorizationCodeGrant) Handle(ctx context.Context, req *TokenRequest, client *store.Client) (*TokenResponse, error) {
	s := g.s
	code := req.Form.Get("code")
	if code == "" {
		return nil, oauth.ErrInvalidRequest("code is required")
	}
	badGrant := oauth.ErrInvalidGrant("the authorization code is invalid, expired or was already used")
	if !secret.CheckPrefixed(secret.PrefixAuthCode, code) {
		return nil, badGrant
	}
	hash := secret.Hash(code)
	// The code with its user, in one read (a user that is gone took its
	// codes with it).
	ac, u, err := s.Store.GetAuthCodeAndUser(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badGrant
	}
	if err != nil {
		return nil, internal(err)
	}
	if !ac.UsedAt.IsZero() {
		// A replayed code means it leaked: revoke what it produced
		// (RFC 6749 §4.1.2, ASVS 10.4.2).
		if err := s.revokeGrant(ctx, ac.GrantID); err != nil {
			return nil, internal(err)
		}
		s.auditReplay(ctx, audit.CodeReplay, ac.ClientID, ac.UserUID, client.ID)
		return nil, badGrant
	}
	if ac.ClientID != client.ID {
		return nil, oauth.ErrInvalidGrant("the authorization code was issued to another client")
	}
	if !s.now().Before(ac.ExpiresAt) {
		return nil, badGrant
	}
	if ac.RedirectURI != req.Form.Get("redirect_uri") {
		return nil, oauth.ErrInvalidGrant("redirect_uri does not match the authorization request")
	}
	verifier := req.Form.Get("code_verifier")
	switch {
	case ac.CodeChallenge == "" && verifier != "":
		// PKCE downgrade (RFC 9700 §4.8.2): a verifier without a challenge.
		return nil, oauth.ErrInvalidGrant("code_verifier sent but the authorization request had no code_challenge")
	case ac.CodeChallenge != "" && verifier == "":
		return nil, oauth.ErrInvalidGrant("code_verifier is required")
	case ac.CodeChallenge != "" && (!oauth.ValidVerifier(verifier) || !oauth.VerifyPKCE(verifier, ac.CodeChallenge)):
		return nil, oauth.ErrInvalidGrant("code_verifier does not match the code_challenge")
	}
	if !u.Active {
		return nil, badGrant
	}
	sub := subject{client: *client, user: &u, scopes: ac.Scopes, auds: ac.Audiences, grantID: ac.GrantID, authTime: ac.AuthTime}
	at, atRec, err := s.mintAccess(ctx, sub)
	if err != nil {
		return nil, internal(err)
	}
	resp := &TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(s.Config.AccessTTL.Seconds()), Scope: oauth.JoinScope(ac.Scopes), UserUID: u.UID}
	var rtRec *store.RefreshToken
	if wantsRefresh(*client, ac.Scopes) {
		rt, rec, err := s.mintRefresh(sub)
		if err != nil {
			return nil, internal(err)
		}
		resp.RefreshToken, rtRec = rt, &rec
	}
	if slices.Contains(ac.Scopes, "openid") {
		if resp.IDToken, err = s.idToken(ctx, sub, IDTokenParams{Nonce: ac.Nonce, AccessToken: at}); err != nil {
			return nil, internal(err)
		}
	}
	// Consuming the code and recording the tokens commit together: of two
	// concurrent redemptions exactly one gets tokens.
	err = s.Store.RedeemAuthCode(ctx, hash, s.now(), atRec, rtRec)
	if errors.Is(err, store.ErrAlreadyUsed) {
		if err := s.revokeGrant(ctx, ac.GrantID); err != nil {
			return nil, internal(err)
		}
		s.auditReplay(ctx, audit.CodeReplay, ac.ClientID, ac.UserUID, client.ID)
		return nil, badGrant
	}
	if err != nil {
		return nil, internal(err)
	}
	return resp, nil
}

type refreshTokenGrant struct{ s *Service }

func (refreshTokenGrant) Type() string     { return oauth.GrantRefreshToken }
func (refreshTokenGrant) ClientAuth() bool { return true }

func (g refreshTokenGrant) Handle(ctx context.Context, req *TokenRequest, client *store.Client) (*TokenResponse, error) {
	s := g.s
	tok := req.Form.Get("refresh_token")
	if tok == "" {
		return nil, oauth.ErrInvalidRequest("refresh_token is required")
	}
	bad := oauth.ErrInvalidGrant("the refresh token is invalid, expired or revoked")
	if !secret.CheckPrefixed(secret.PrefixRefreshToken, tok) {
		return nil, bad
	}
	hash := secret.Key(tok)
	// The token with its user, in one read (a user that is gone took
	// its tokens with it).
	rt, u, err := s.Store.GetRefreshTokenAndUser(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, internal(err)
	}
	if rt.ClientID != client.ID {
		return nil, bad
	}
	now := s.now()
	if !rt.ExpiresAt.IsZero() && !now.Before(rt.ExpiresAt) {
		return nil, bad
	}
	if !rt.UsedAt.IsZero() && now.Sub(rt.UsedAt) >= s.Config.RefreshGrace {
		return nil, g.reuse(ctx, rt)
	}
	scopes := rt.Scopes
	if sc, present, err := requestedScopes(req.Form, rt.Scopes); err != nil {
		return nil, err
	} else if present {
		scopes = sc // may narrow, never widen (RFC 6749 §6)
	}
	if !u.Active {
		return nil, bad
	}
	// The narrowed scope applies to this access token; the new refresh
	// token keeps the original grant so a later request can ask again.
	sub := subject{client: *client, user: &u, scopes: scopes, auds: rt.Audiences, grantID: rt.GrantID, authTime: rt.AuthTime}
	at, atRec, err := s.mintAccess(ctx, sub)
	if err != nil {
		return nil, internal(err)
	}
	rsub := sub
	rsub.scopes = rt.Scopes
	newRT, rtRec, err := s.mintRefresh(rsub)
	if err != nil {
		return nil, internal(err)
	}
	resp := &TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(s.Config.AccessTTL.Seconds()), RefreshToken: newRT, Scope: oauth.JoinScope(scopes), UserUID: u.UID}
	if slices.Contains(scopes, "openid") {
		if resp.IDToken, err = s.idToken(ctx, sub, IDTokenParams{AccessToken: at}); err != nil {
			return nil, internal(err)
		}
	}
	err = s.Store.RotateRefreshToken(ctx, hash, now, s.Config.RefreshGrace, atRec, rtRec)
	if errors.Is(err, store.ErrAlreadyUsed) {
		return nil, g.reuse(ctx, rt)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, internal(err)
	}
	return resp, nil
}

// reuse handles a rotated refresh token presented again: it was stolen or
// replayed, so the whole family is revoked (RFC 9700 §4.14.2).
func (g refreshTokenGrant) reuse(ctx context.Context, rt store.RefreshToken) error {
	if err := g.s.revokeGrant(ctx, rt.GrantID); err != nil {
		return internal(err)
	}
	g.s.auditReplay(ctx, audit.RefreshReuse, rt.ClientID, rt.UserUID, rt.ClientID)
	return oauth.ErrInvalidGrant("the refresh token was already used; its grant is revoked")
}

type clientCredentialsGrant struct{ s *Service }

func (clientCredentialsGrant) Type() string     { return oauth.GrantClientCredentials }
func (clientCredentialsGrant) ClientAuth() bool { return true }

func (g clientCredentialsGrant) Handle(ctx context.Context, req *TokenRequest, client *store.Client) (*TokenResponse, error) {
	s := g.s
	scopes, present, err := requestedScopes(req.Form, client.Scopes)
	if err != nil {
		return nil, err
	}
	if !present || len(scopes) == 0 {
		scopes = []string{"public"}
		if !slices.Contains(client.Scopes, "public") {
			scopes = nil
		}
	}
	// User-only scopes make no sense without a user.
	for _, sc := range []string{"openid", "offline_access", "profile", "email"} {
		if slices.Contains(scopes, sc) {
			return nil, oauth.ErrInvalidScope("scope " + sc + " needs a user; client_credentials has none")
		}
	}
	// Stamped like the token, so the grant index appends too.
	grantID, err := s.Gen.StampedHex(s.now(), 12)
	if err != nil {
		return nil, internal(err)
	}
	sub := subject{client: *client, scopes: scopes, auds: client.Audiences, grantID: grantID}
	at, rec, err := s.mintAccess(ctx, sub)
	if err != nil {
		return nil, internal(err)
	}
	// Another instance may have deleted the app while this one still has
	// it cached: it no longer exists, so it fails to authenticate. A
	// stored token meets the foreign key; a sealed one, which writes
	// nothing, asks for the cutoff the deletion stored (one read by
	// primary key, where the row was one write).
	var gone bool
	if rec != nil {
		err = s.Store.CreateAccessToken(ctx, *rec)
		gone = errors.Is(err, store.ErrNotFound)
	} else {
		gone, err = s.Store.AccessTokenCut(ctx, store.CutoffKeys{Client: store.ClientCutoffKey(client.ID)}, s.now())
	}
	if gone {
		s.forgetClient(client.ID)
		return nil, badClient()
	}
	if err != nil {
		return nil, internal(err)
	}
	return &TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(s.Config.AccessTTL.Seconds()), Scope: oauth.JoinScope(scopes)}, nil
}
