package authz

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// AuthRequest is a validated authorization request.
type AuthRequest struct {
	Client        store.Client
	RedirectURI   string // where to send the response
	RedirectGiven bool   // redirect_uri was in the request (the code remembers it)
	ResponseType  []string
	ResponseMode  string // query, fragment, form_post
	Scopes        []string
	State         string
	Nonce         string
	Challenge     string
	Prompt        []string
	MaxAge        *time.Duration
	LoginHint     string
	UILocales     string
	Params        url.Values // the original parameters, to resume after login or consent
}

// Has reports whether the response type includes t.
func (a *AuthRequest) Has(t string) bool { return slices.Contains(a.ResponseType, t) }

// HasPrompt reports whether prompt includes p.
func (a *AuthRequest) HasPrompt(p string) bool { return slices.Contains(a.Prompt, p) }

// PageError is an authorization request error that must be shown on a page
// and never redirected: the client or redirect URI cannot be trusted.
// Message is a message catalog key (authorize.*).
type PageError struct{ Message string }

func (e *PageError) Error() string { return e.Message }

// RedirectError is an error to send back to the client's redirect URI.
type RedirectError struct {
	Err     *oauth.Error
	Request *AuthRequest
}

func (e *RedirectError) Error() string { return e.Err.Error() }

var supportedResponseTypes = [][]string{
	{"code"}, {"token"}, {"id_token"}, {"id_token", "token"}, {"code", "id_token"}, {"code", "token"}, {"code", "id_token", "token"},
}

// ParseAuthRequest validates an authorization request in two stages. The
// client and redirect URI first: any problem there is a *PageError, so
// tolk never redirects to an unverified URI (RFC 9700 §4.11.2). Every
// later problem is a *RedirectError carrying state and the request.
func (s *Service) ParseAuthRequest(ctx context.Context, p url.Values) (*AuthRequest, error) {
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(p[k]) > 1 {
			return nil, &PageError{"authorize.repeated_param"}
		}
	}
	cid := p.Get("client_id")
	if cid == "" {
		return nil, &PageError{"authorize.no_client"}
	}
	c, err := s.getClient(ctx, cid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &PageError{"authorize.unknown_client"}
	}
	if err != nil {
		return nil, internal(err)
	}
	ar := &AuthRequest{Client: c, Params: p}
	if ru := p.Get("redirect_uri"); ru != "" {
		if !oauth.MatchRedirectURI(c.RedirectURIs, ru) {
			return nil, &PageError{"authorize.bad_redirect"}
		}
		ar.RedirectURI, ar.RedirectGiven = ru, true
	} else {
		// OIDC requires redirect_uri; plain OAuth may omit it only when
		// exactly one is registered (RFC 6749 §3.1.2.3).
		if len(c.RedirectURIs) != 1 || strings.Contains(" "+p.Get("scope")+" ", " openid ") {
			return nil, &PageError{"authorize.no_redirect"}
		}
		ar.RedirectURI = c.RedirectURIs[0]
	}
	ar.State = p.Get("state")
	ar.ResponseMode = "query"
	redirect := func(e *oauth.Error) error { return &RedirectError{Err: e, Request: ar} }

	rt := strings.Fields(p.Get("response_type"))
	slices.Sort(rt)
	// Default the response mode from the response type early, so that an
	// error about a token response never lands in a query (OIDC §3.3.2.5).
	if slices.Contains(rt, "token") || slices.Contains(rt, "id_token") {
		ar.ResponseMode = "fragment"
	}
	if err := oauth.SingleValues(p); err != nil {
		return nil, redirect(oauth.AsError(err))
	}
	switch m := p.Get("response_mode"); m {
	case "":
	case "query":
		if ar.ResponseMode == "fragment" {
			return nil, redirect(oauth.ErrInvalidRequest("response_mode=query is not allowed when tokens are returned"))
		}
	case "fragment", "form_post":
		ar.ResponseMode = m
	default:
		return nil, redirect(oauth.ErrInvalidRequest("unsupported response_mode"))
	}
	// Request objects are not supported (discovery says so): answering
	// without the parameters they may carry would silently ignore them
	// (OIDC Core §6).
	if p.Has("request") {
		return nil, redirect(oauth.ErrRequestNotSupported("the request parameter is not supported"))
	}
	if p.Has("request_uri") {
		return nil, redirect(oauth.ErrRequestURINotSupported("the request_uri parameter is not supported"))
	}
	if len(rt) == 0 {
		return nil, redirect(oauth.ErrInvalidRequest("response_type is required"))
	}
	known := false
	for _, t := range supportedResponseTypes {
		u := slices.Clone(t)
		slices.Sort(u)
		if slices.Equal(u, rt) {
			known = true
		}
	}
	if !known {
		return nil, redirect(oauth.ErrUnsupportedResponseType("unsupported response_type"))
	}
	ar.ResponseType = rt
	implicit := slices.Contains(rt, "token") || slices.Contains(rt, "id_token")
	if slices.Contains(rt, "code") && !slices.Contains(c.GrantTypes, oauth.GrantAuthorizationCode) {
		return nil, redirect(oauth.ErrUnauthorizedClient("this app may not use the authorization code flow"))
	}
	if implicit && !slices.Contains(c.GrantTypes, oauth.GrantImplicit) {
		return nil, redirect(oauth.ErrUnauthorizedClient("this app may not use implicit or hybrid flows"))
	}

	scopes, ok := oauth.ParseScope(p.Get("scope"))
	if !ok {
		return nil, redirect(oauth.ErrInvalidScope("malformed scope"))
	}
	if len(scopes) == 0 {
		scopes = []string{"public"} // ProZ: public when none is requested
	}
	for _, sc := range scopes {
		if !slices.Contains(s.Config.Scopes, sc) {
			return nil, redirect(oauth.ErrInvalidScope("unknown scope " + sc))
		}
	}
	if !oauth.Subset(scopes, c.Scopes) {
		return nil, redirect(oauth.ErrInvalidScope("a requested scope is not allowed for this app"))
	}
	ar.Scopes = scopes
	if slices.Contains(rt, "id_token") && !slices.Contains(scopes, "openid") {
		return nil, redirect(oauth.ErrInvalidScope("response_type id_token requires the openid scope"))
	}
	ar.Nonce = p.Get("nonce")
	if !store.ValidText(ar.Nonce) {
		// The code keeps the nonce for its id_token.
		return nil, redirect(oauth.ErrInvalidRequest("nonce must be UTF-8 text without NUL"))
	}
	if slices.Contains(rt, "id_token") && ar.Nonce == "" {
		return nil, redirect(oauth.ErrInvalidRequest("nonce is required when an id_token is returned from the authorization endpoint"))
	}

	challenge, method := p.Get("code_challenge"), p.Get("code_challenge_method")
	if challenge != "" {
		if method != "S256" {
			return nil, redirect(oauth.ErrInvalidRequest("code_challenge_method must be S256"))
		}
		if len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return nil, redirect(oauth.ErrInvalidRequest("code_challenge is malformed"))
		}
		ar.Challenge = challenge
	} else if method != "" {
		return nil, redirect(oauth.ErrInvalidRequest("code_challenge_method without code_challenge"))
	}
	if c.Public && slices.Contains(rt, "code") && ar.Challenge == "" {
		return nil, redirect(oauth.ErrInvalidRequest("PKCE (code_challenge with S256) is required for public apps"))
	}

	ar.Prompt = strings.Fields(p.Get("prompt"))
	for _, pr := range ar.Prompt {
		if !slices.Contains([]string{"none", "login", "consent", "select_account"}, pr) {
			return nil, redirect(oauth.ErrInvalidRequest("unsupported prompt value"))
		}
	}
	if ar.HasPrompt("none") && len(ar.Prompt) > 1 {
		return nil, redirect(oauth.ErrInvalidRequest("prompt=none cannot be combined with other values"))
	}
	if ma := p.Get("max_age"); ma != "" {
		n, err := strconv.ParseInt(ma, 10, 64)
		if err != nil || n < 0 || n > 1<<31 {
			return nil, redirect(oauth.ErrInvalidRequest("max_age must be a non-negative integer"))
		}
		d := time.Duration(n) * time.Second
		ar.MaxAge = &d
	}
	ar.LoginHint = p.Get("login_hint")
	ar.UILocales = p.Get("ui_locales")
	return ar, nil
}

// NeedsLogin reports whether the user must (re-)authenticate: no session,
// prompt=login, or a session older than max_age.
func (s *Service) NeedsLogin(ar *AuthRequest, authTime time.Time, signedIn bool) bool {
	if !signedIn || ar.HasPrompt("login") {
		return true
	}
	return ar.MaxAge != nil && s.now().Sub(authTime) > *ar.MaxAge
}

// NeedsConsent reports whether the user must be asked: prompt=consent, or
// no standing consent covering the scopes.
func (s *Service) NeedsConsent(ctx context.Context, ar *AuthRequest, u store.User) (bool, error) {
	if ar.HasPrompt("consent") {
		return true, nil
	}
	c, err := s.Store.GetConsent(ctx, u.UID, ar.Client.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, internal(err)
	}
	return !oauth.Subset(ar.Scopes, c.Scopes), nil
}

// MayAllow reports whether u may grant the app: for admin-consent-only
// apps only an ADMIN of the app's organization may.
func MayAllow(c store.Client, u store.User) bool {
	if !c.AdminConsent {
		return true
	}
	return u.Role == store.RoleAdmin && u.OrgUID == c.OrgUID
}

// SaveConsent records that u allowed the scopes (added to earlier ones).
func (s *Service) SaveConsent(ctx context.Context, ar *AuthRequest, u store.User) error {
	scopes := slices.Clone(ar.Scopes)
	if old, err := s.Store.GetConsent(ctx, u.UID, ar.Client.ID); err == nil {
		for _, sc := range old.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return internal(err)
	}
	slices.Sort(scopes)
	if err := s.Store.SaveConsent(ctx, store.Consent{UserUID: u.UID, ClientID: ar.Client.ID, Scopes: scopes, GrantedAt: s.now()}); err != nil {
		return err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.ConsentGiven, ActorUID: u.UID, ClientID: ar.Client.ID, OrgUID: ar.Client.OrgUID,
		Details: map[string]string{"scope": oauth.JoinScope(ar.Scopes)}})
	return nil
}

// Authorization is an app a user has granted access to, and the consent
// that grants it.
type Authorization struct {
	Client  store.Client
	Consent store.Consent
}

// Authorizations returns the apps userUID has granted access to, in the
// order of the apps' registration. Every organization's apps are asked,
// not only the user's own, because the authorization endpoint lets a user
// consent to any app.
//
// The store has no "consents of a user" query, so this asks for the
// consent of every registered app, one query each: fine for the number of
// apps an installation has, to be replaced by a store method when that
// grows.
func (s *Service) Authorizations(ctx context.Context, userUID string) ([]Authorization, error) {
	cs, err := s.Store.ListClients(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []Authorization
	for _, c := range cs {
		con, err := s.Store.GetConsent(ctx, userUID, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Authorization{Client: c, Consent: con})
	}
	return out, nil
}

// Issue makes the authorization response for a signed-in, consenting
// user: a code, tokens, or both, as the response type asks. The returned
// values go to the redirect URI (with iss per RFC 9207 added by the
// caller along with state).
func (s *Service) Issue(ctx context.Context, ar *AuthRequest, u store.User, authTime time.Time) (url.Values, error) {
	out := url.Values{}
	grantID, err := s.Gen.StampedHex(s.now(), 12)
	if err != nil {
		return nil, internal(err)
	}
	auds := ar.Client.Audiences
	sub := subject{client: ar.Client, user: &u, scopes: ar.Scopes, auds: auds, grantID: grantID, authTime: authTime}
	var code, at string
	if ar.Has("code") {
		if code, err = s.Gen.Prefixed(secret.PrefixAuthCode); err != nil {
			return nil, internal(err)
		}
		now := s.now()
		ac := store.AuthCode{
			Hash: secret.Hash(code), ClientID: ar.Client.ID, UserUID: u.UID, Scopes: ar.Scopes, Audiences: auds,
			Nonce: ar.Nonce, AuthTime: authTime, GrantID: grantID, CreatedAt: now, ExpiresAt: now.Add(s.Config.CodeTTL),
		}
		if ar.RedirectGiven {
			ac.RedirectURI = ar.RedirectURI
		}
		if ar.Challenge != "" {
			ac.CodeChallenge, ac.CodeChallengeMethod = ar.Challenge, "S256"
		}
		if err := s.Store.CreateAuthCode(ctx, ac); err != nil {
			return nil, internal(err)
		}
		out.Set("code", code)
	}
	if ar.Has("token") {
		tok, rec, err := s.mintAccess(ctx, sub)
		if err != nil {
			return nil, internal(err)
		}
		if rec != nil {
			if err := s.Store.CreateAccessToken(ctx, *rec); err != nil {
				return nil, internal(err)
			}
		}
		at = tok
		s.Audit.Record(ctx, audit.Event{Type: audit.TokenIssued, ActorUID: u.UID, ClientID: ar.Client.ID, OrgUID: ar.Client.OrgUID,
			Details: map[string]string{"grant_type": "implicit", "response_type": strings.Join(ar.ResponseType, " ")}})
		if s.OnToken != nil {
			s.OnToken(oauth.GrantImplicit, "")
		}
		out.Set("access_token", at)
		out.Set("token_type", "Bearer")
		out.Set("expires_in", strconv.FormatInt(int64(s.Config.AccessTTL.Seconds()), 10))
		out.Set("scope", oauth.JoinScope(ar.Scopes))
	}
	if ar.Has("id_token") {
		idt, err := s.idToken(ctx, sub, IDTokenParams{Nonce: ar.Nonce, AccessToken: at, Code: code})
		if err != nil {
			return nil, internal(err)
		}
		out.Set("id_token", idt)
	}
	return out, nil
}
