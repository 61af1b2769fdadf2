package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/accesstoken"
	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/verify"
)

// TestT64_SealedAccessTokensRevokedOnEveryInstance (docs/threats.md T64,
// issue 20 point 1): a sealed access token has no row to delete, so every
// kind of revocation made at instance A writes a cutoff, and instance B,
// which verified the token just before (its /auth/verify cache holds the
// answer), refuses it once its cache bound has passed: at /auth/verify,
// RFC 7662 introspection, through the verify package and at a dialect's
// resource endpoint (Strings GET /v2/user). A answers at once. A
// deactivated user's token stays refused after the reactivation, since
// the cutoff outlives the deactivation; tokens the revocation does not
// cover (another user's, a new authorization's, one issued after the
// reactivation) keep working. Two instances on one SQLite file and on one
// PostgreSQL database.
func TestT64_SealedAccessTokensRevokedOnEveryInstance(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			// B's cache holds verifications for a bound that the test
			// lets pass (the clocks stand still otherwise); A's is the
			// default and is emptied by A's own revocations.
			a := tolktest.New(t, tolktest.Options{Postgres: backend == "postgres"})
			b := tolktest.New(t, tolktest.Options{DSN: a.Tolk.Config.DB,
				Config: func(c *config.Config) { c.VerifyCacheTTL = 5 * time.Second }})
			admin, err := a.Store.GetUserByUserName(context.Background(), "admin")
			if err != nil {
				t.Fatal(err)
			}
			s := &sealedSuite{a: a, b: b, ctx: context.Background(), admin: admin,
				va: sealedVerifier(t, a), vb: sealedVerifier(t, b)}
			if b.Tolk.Config.VerifyCacheTTL <= 0 {
				t.Fatal("B has no verification cache: the test would not cover the cache bound")
			}

			t.Run("access token revoked (RFC 7009)", func(t *testing.T) {
				app := s.app(t)
				tk := s.grant(t, app, s.user(t))
				s.acceptedEverywhere(t, tk)
				s.revokeHTTP(t, app, tk.access, "access_token")
				s.refusedEverywhere(t, tk)
			})

			t.Run("refresh token revoked (RFC 7009)", func(t *testing.T) {
				app := s.app(t)
				tk := s.grant(t, app, s.user(t))
				s.acceptedEverywhere(t, tk)
				s.revokeHTTP(t, app, tk.refresh, "refresh_token")
				s.refusedEverywhere(t, tk)
			})

			t.Run("refresh token reused", func(t *testing.T) {
				app := s.app(t)
				first := s.grant(t, app, s.user(t))
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.refresh}}
				rotated := first
				st, resp := s.tokenAt(t, a, app, form)
				if st != http.StatusOK {
					t.Fatalf("rotation: %d", st)
				}
				rotated.access, rotated.refresh = resp.AccessToken, resp.RefreshToken
				s.sealed(t, rotated.access)
				s.acceptedEverywhere(t, first, rotated)
				if st, _ := s.tokenAt(t, a, app, form); st != http.StatusBadRequest {
					t.Fatalf("the rotated refresh token presented again: %d, want 400", st)
				}
				s.refusedEverywhere(t, first, rotated)
			})

			t.Run("authorization code replayed", func(t *testing.T) {
				app := s.app(t)
				tk := s.grant(t, app, s.user(t))
				s.acceptedEverywhere(t, tk)
				form := url.Values{"grant_type": {"authorization_code"}, "code": {tk.code}, "redirect_uri": {sealedRedirect}}
				if st, _ := s.tokenAt(t, a, app, form); st != http.StatusBadRequest {
					t.Fatalf("the code replayed: %d, want 400", st)
				}
				s.refusedEverywhere(t, tk)
			})

			t.Run("authorized app revoked", func(t *testing.T) {
				app := s.app(t)
				u := s.user(t)
				mine, other := s.grant(t, app, u), s.grant(t, app, s.user(t))
				s.acceptedEverywhere(t, mine, other)
				if ok, err := a.Tolk.Authz.RevokeAuthorization(s.ctx, u.UID, app.c.ID); err != nil || !ok {
					t.Fatalf("RevokeAuthorization: %v %v", ok, err)
				}
				s.refusedEverywhere(t, mine)
				s.acceptedEverywhere(t, other)
				// Allowing the app again, later, gives a working token.
				s.tick(time.Second)
				again := s.grant(t, app, u)
				s.acceptedEverywhere(t, again)
				s.refusedEverywhere(t, mine)
			})

			t.Run("app deleted", func(t *testing.T) {
				app := s.app(t)
				cc := s.clientCredentials(t, app)
				user := s.grant(t, app, s.user(t))
				s.acceptedEverywhere(t, cc, user)
				if err := a.Tolk.Authz.DeleteClient(s.ctx, app.c.ID); err != nil {
					t.Fatal(err)
				}
				cc.appGone, user.appGone = true, true
				s.refusedEverywhere(t, cc, user)
			})

			t.Run("user deactivated, then reactivated", func(t *testing.T) {
				app := s.app(t)
				u := s.user(t)
				before := s.grant(t, app, u)
				s.acceptedEverywhere(t, before)
				if err := a.Tolk.Identity.SetActive(s.ctx, s.admin, u.UID, false); err != nil {
					t.Fatal(err)
				}
				s.refusedEverywhere(t, before)
				s.tick(time.Second)
				if err := a.Tolk.Identity.SetActive(s.ctx, s.admin, u.UID, true); err != nil {
					t.Fatal(err)
				}
				// Active again, the user no longer stops the token: only
				// the deactivation's cutoff does.
				s.refusedEverywhere(t, before)
				s.tick(time.Second)
				after := s.grant(t, app, u)
				s.acceptedEverywhere(t, after)
				s.refusedEverywhere(t, before)
			})
		})
	}
}

const sealedRedirect = "http://127.0.0.1:9/cb"

// sealedSuite is two instances on one database, A where tokens are issued
// and revoked, B where they are also checked.
type sealedSuite struct {
	a, b   *tolktest.Server
	va, vb *verify.Verifier // the verify package, pointed at A and at B
	ctx    context.Context
	admin  store.User
	n      int
}

// sealedApp is a registered app and its secret.
type sealedApp struct {
	c   store.Client
	sec string
}

// sealedToken is an access token and what checking it needs.
type sealedToken struct {
	access, refresh, code string
	app                   sealedApp
	user                  bool // it has a user: the dialect endpoint serves it
	appGone               bool // its app is deleted: the app can no longer introspect
}

// sealedVerifier is the verify package pointed at s, without a cache of
// its own, so that its answers are the instance's.
func sealedVerifier(t *testing.T, s *tolktest.Server) *verify.Verifier {
	t.Helper()
	v, err := verify.New(verify.Config{Issuer: s.Tolk.Config.Issuer, CacheTTL: -1, HTTPClient: s.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tick moves time on at both instances, which share one wall clock in
// production (their limits share buckets in PostgreSQL, kept at instants
// of the instances' clocks).
func (s *sealedSuite) tick(d time.Duration) {
	s.a.Clock.Advance(d)
	s.b.Clock.Advance(d)
}

func (s *sealedSuite) user(t *testing.T) store.User {
	t.Helper()
	s.n++
	name := "sealed" + string(rune('a'+s.n))
	return s.a.CreateUser(t, name, store.RoleLinguist, name+"-password-1")
}

// app registers a confidential app with the code, refresh and
// client_credentials grants.
func (s *sealedSuite) app(t *testing.T) sealedApp {
	t.Helper()
	org, err := s.a.Store.DefaultOrganization(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	grants := []string{"authorization_code", "refresh_token", "client_credentials"}
	c, sec, err := s.a.Tolk.Authz.CreateClient(s.ctx, authz.ClientSpec{OrgUID: org.UID, Name: "sealed-test " + rand.Text()[:8],
		RedirectURIs: []string{sealedRedirect}, GrantTypes: grants, Scopes: []string{"read", "offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTAccessTokens {
		t.Fatal("the app issues JWT access tokens: the test needs sealed ones")
	}
	return sealedApp{c, sec}
}

// grant has u allow the app at A (consent saved) and redeems the code at
// A's token endpoint.
func (s *sealedSuite) grant(t *testing.T, app sealedApp, u store.User) sealedToken {
	t.Helper()
	ar := &authz.AuthRequest{Client: app.c, RedirectURI: sealedRedirect, RedirectGiven: true, ResponseType: []string{"code"},
		Scopes: []string{"read", "offline_access"}}
	if err := s.a.Tolk.Authz.SaveConsent(s.ctx, ar, u); err != nil {
		t.Fatal(err)
	}
	v, err := s.a.Tolk.Authz.Issue(s.ctx, ar, u, s.a.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	code := v.Get("code")
	st, resp := s.tokenAt(t, s.a, app, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {sealedRedirect}})
	if st != http.StatusOK || resp.RefreshToken == "" {
		t.Fatalf("code grant: %d %+v", st, resp)
	}
	s.sealed(t, resp.AccessToken)
	return sealedToken{access: resp.AccessToken, refresh: resp.RefreshToken, code: code, app: app, user: true}
}

func (s *sealedSuite) clientCredentials(t *testing.T, app sealedApp) sealedToken {
	t.Helper()
	st, resp := s.tokenAt(t, s.a, app, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	if st != http.StatusOK {
		t.Fatalf("client_credentials: %d", st)
	}
	s.sealed(t, resp.AccessToken)
	return sealedToken{access: resp.AccessToken, app: app}
}

// sealed fails unless tok is a self-contained access token: tolk_at_ and
// no row in the store, so that only a cutoff can revoke it.
func (s *sealedSuite) sealed(t *testing.T, tok string) {
	t.Helper()
	if !strings.HasPrefix(tok, secret.PrefixAccessToken) {
		t.Fatalf("access token %.12s… is not a tolk_at_ token", tok)
	}
	if _, err := s.a.Store.GetAccessToken(s.ctx, secret.Key(tok)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the access token has a row (GetAccessToken: %v): it is not sealed", err)
	}
}

// tokenAt posts form to srv's token endpoint as the app.
func (s *sealedSuite) tokenAt(t *testing.T, srv *tolktest.Server, app sealedApp, form url.Values) (int, authz.TokenResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(app.c.ID), url.QueryEscape(app.sec))
	resp, body := srv.Do(t, req)
	var out authz.TokenResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("token response: %v %s", err, body)
		}
	}
	return resp.StatusCode, out
}

// revokeHTTP revokes tok at A's RFC 7009 endpoint as the app.
func (s *sealedSuite) revokeHTTP(t *testing.T, app sealedApp, tok, hint string) {
	t.Helper()
	form := url.Values{"token": {tok}, "token_type_hint": {hint}}
	req, _ := http.NewRequest(http.MethodPost, s.a.URL+"/oauth/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(app.c.ID), url.QueryEscape(app.sec))
	if resp, body := s.a.Do(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("/oauth/revoke: %d %s", resp.StatusCode, body)
	}
}

// sealedAnswers is what one instance says about a token on each path.
type sealedAnswers struct {
	verify     int   // GET /auth/verify
	introspect int   // POST /oauth/introspect as the token's app
	active     bool  // its "active"
	pkg        error // verify.Verifier.Verify
	pkgClient  string
	dialect    int // GET /v2/user (Strings), for a token with a user
}

func (s *sealedSuite) ask(t *testing.T, srv *tolktest.Server, v *verify.Verifier, tk sealedToken) sealedAnswers {
	t.Helper()
	var out sealedAnswers
	get := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tk.access)
		resp, _ := srv.Do(t, req)
		return resp.StatusCode
	}
	out.verify = get("/auth/verify")
	if tk.user {
		out.dialect = get("/v2/user")
	}

	form := url.Values{"token": {tk.access}, "token_type_hint": {"access_token"}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth/introspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(tk.app.c.ID), url.QueryEscape(tk.app.sec))
	resp, body := srv.Do(t, req)
	out.introspect = resp.StatusCode
	if resp.StatusCode == http.StatusOK {
		var r struct {
			Active bool `json:"active"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("introspection: %v %s", err, body)
		}
		out.active = r.Active
	}

	req, _ = http.NewRequest(http.MethodGet, "http://resource.example/", nil)
	req.Header.Set("Authorization", "Bearer "+tk.access)
	p, err := v.Verify(req)
	out.pkg, out.pkgClient = err, p.ClientID
	return out
}

// acceptedEverywhere checks that A and B accept each token on every path.
func (s *sealedSuite) acceptedEverywhere(t *testing.T, tks ...sealedToken) {
	t.Helper()
	for _, tk := range tks {
		for _, at := range []struct {
			name string
			srv  *tolktest.Server
			v    *verify.Verifier
		}{{"A", s.a, s.va}, {"B", s.b, s.vb}} {
			got := s.ask(t, at.srv, at.v, tk)
			if got.verify != http.StatusOK {
				t.Errorf("%s: /auth/verify %d, want 200", at.name, got.verify)
			}
			if got.introspect != http.StatusOK || !got.active {
				t.Errorf("%s: introspection %d active=%v, want 200 active", at.name, got.introspect, got.active)
			}
			if got.pkg != nil || got.pkgClient != tk.app.c.ID {
				t.Errorf("%s: verify package: client %q, %v; want the token's app accepted", at.name, got.pkgClient, got.pkg)
			}
			if tk.user && got.dialect != http.StatusOK {
				t.Errorf("%s: GET /v2/user %d, want 200", at.name, got.dialect)
			}
		}
	}
}

// refusedEverywhere checks that A refuses each token on every path at
// once, and B once its cache bound has passed.
func (s *sealedSuite) refusedEverywhere(t *testing.T, tks ...sealedToken) {
	t.Helper()
	for _, tk := range tks {
		s.refusedAt(t, "A", s.a, s.va, tk)
	}
	// Past B's verification cache and its cache of app registrations.
	s.tick(max(s.b.Tolk.Config.VerifyCacheTTL, s.b.Tolk.Config.KeyCacheInterval) + time.Second)
	for _, tk := range tks {
		s.refusedAt(t, "B", s.b, s.vb, tk)
	}
}

func (s *sealedSuite) refusedAt(t *testing.T, name string, srv *tolktest.Server, v *verify.Verifier, tk sealedToken) {
	t.Helper()
	got := s.ask(t, srv, v, tk)
	if got.verify != http.StatusUnauthorized {
		t.Errorf("%s: /auth/verify %d, want 401", name, got.verify)
	}
	// A deleted app cannot authenticate to introspect (401 invalid_client);
	// while an instance still has it cached, the token must be inactive.
	switch {
	case got.introspect == http.StatusOK && !got.active:
	case got.introspect == http.StatusUnauthorized && tk.appGone:
	default:
		t.Errorf("%s: introspection %d active=%v, want 200 inactive", name, got.introspect, got.active)
	}
	if !errors.Is(got.pkg, verify.ErrInvalid) {
		t.Errorf("%s: verify package: %v, want ErrInvalid", name, got.pkg)
	}
	if tk.user && got.dialect != http.StatusUnauthorized {
		t.Errorf("%s: GET /v2/user %d, want 401", name, got.dialect)
	}
}

// TestSealedTokenOutlivingItsCutoffsRefused: a sealed token made to live
// longer than access_token_ttl allows (sealed under a longer one, before a
// restart with a shorter one) would outlive the cutoffs that revoke it,
// which are kept for the configured lifetime; it is refused, and one that
// lives as configured is accepted.
func TestSealedTokenOutlivingItsCutoffsRefused(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.AccessTokenTTL = time.Hour }})
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "long lived",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	now := s.Clock.Now()
	var g secret.Generator
	for _, tc := range []struct {
		life time.Duration
		ok   bool
	}{{time.Hour, true}, {24 * time.Hour, true}, {24*time.Hour + time.Minute, false}, {14 * 24 * time.Hour, false}} {
		grant, err := g.StampedHex(now, 12)
		if err != nil {
			t.Fatal(err)
		}
		claims := accesstoken.Claims{ClientID: c.ID, OrgUID: org.UID, GrantID: grant, Scopes: []string{"read"},
			IssuedAt: now, ExpiresAt: now.Add(tc.life)}
		tok, err := s.Tolk.Authz.Sealer.Seal(ctx, &claims)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Tolk.Authz.VerifyAccessToken(ctx, tok)
		if (err == nil) != tc.ok {
			t.Errorf("a token living %v under access_token_ttl 1h: err %v, want accepted %v", tc.life, err, tc.ok)
		}
	}
}

// TestOpaqueTokensFromBeforeSealingStillWork: an opaque access token that
// a tolk before sealed tokens stored as a row (tolk_at_ + stamp + 43
// alphanumerics) verifies until it expires, and RFC 7009 still ends it.
func TestOpaqueTokensFromBeforeSealingStillWork(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "from before",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	now := s.Clock.Now()
	var g secret.Generator
	tok, err := g.StampedPrefixed(secret.PrefixAccessToken, now)
	if err != nil {
		t.Fatal(err)
	}
	grant, _ := g.StampedHex(now, 12)
	if err := s.Store.CreateAccessToken(ctx, store.AccessToken{Hash: secret.Key(tok), ClientID: c.ID, OrgUID: org.UID,
		Scopes: []string{"read"}, GrantID: grant, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	a, err := s.Tolk.Authz.VerifyAccessToken(ctx, tok)
	if err != nil || a.Sealed != nil || a.Record.ClientID != c.ID {
		t.Fatalf("a stored token: %+v, %v", a, err)
	}
	if err := s.Tolk.Authz.Revoke(ctx, c, tok, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tolk.Authz.VerifyAccessToken(ctx, tok); err == nil {
		t.Fatal("a stored token revoked by RFC 7009 still verifies")
	}
}
