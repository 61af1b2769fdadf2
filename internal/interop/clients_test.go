package interop

// Registered apps as resource-server clients: RFC 7662 introspection,
// client_credentials tokens, RFC 9068 JWT access tokens, default and
// out-of-registration scopes, and the /user resources. Helpers come from
// token_security_test.go (prefixed tok).

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tolk-project/tolk/internal/core/authz"
)

// tokCC gets a client_credentials token with x/oauth2.
func (c *tokClient) cc(t *testing.T, scopes ...string) *oauth2.Token {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: c.e.s.URL + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInHeader, Scopes: scopes}
	tok, err := cfg.Token(c.e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// introspect asks RFC 7662 introspection as the given client.
func (e *tokEnv) introspect(t *testing.T, tok, hint string, auth tokAuth) tokResp {
	t.Helper()
	f := url.Values{"token": {tok}}
	if hint != "" {
		f.Set("token_type_hint", hint)
	}
	return e.post(t, "/oauth/introspect", f, auth)
}

func tokWantInactive(t *testing.T, r tokResp) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body["active"] != false || len(r.Body) != 1 {
		t.Fatalf(`want exactly {"active":false}, got %s`, r)
	}
}

func tokNum(r tokResp, k string) int64 { f, _ := r.Body[k].(float64); return int64(f) }

func TestIntrospectionRFC7662(t *testing.T) {
	e := tokNew(t)
	a := e.client(t, authz.ClientSpec{})
	b := e.client(t, authz.ClientSpec{})
	jc := e.client(t, authz.ClientSpec{JWTAccessTokens: true})
	admin, err := e.s.Store.GetUserByUserName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	tok := e.login(t, a, "openid", "email", "offline_access")

	t.Run("own access token", func(t *testing.T) {
		for _, hint := range []string{"", "access_token", "refresh_token"} { // a wrong hint must not matter
			r := e.introspect(t, tok.AccessToken, hint, a.basic())
			if r.Status != http.StatusOK || r.Body["active"] != true {
				t.Fatalf("hint %q: %s", hint, r)
			}
			want := map[string]string{"client_id": a.ID, "username": "admin", "sub": admin.UID, "iss": e.s.URL,
				"token_type": "Bearer", "scope": "email offline_access openid"}
			for k, v := range want {
				if r.str(k) != v {
					t.Errorf("%s = %q, want %q", k, r.str(k), v)
				}
			}
			if exp, iat := tokNum(r, "exp"), tokNum(r, "iat"); exp-iat != int64((14 * 24 * time.Hour).Seconds()) {
				t.Errorf("exp %d, iat %d", exp, iat)
			}
			if aud, _ := r.Body["aud"].([]any); len(aud) == 0 {
				t.Errorf("no aud: %s", r)
			}
			if !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
				t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
			}
		}
	})

	t.Run("own refresh token", func(t *testing.T) {
		r := e.introspect(t, tok.RefreshToken, "refresh_token", tokPost(a.ID, a.Secret))
		if r.Status != http.StatusOK || r.Body["active"] != true || r.str("client_id") != a.ID || r.str("sub") != admin.UID {
			t.Fatal(r)
		}
	})

	t.Run("own JWT access token", func(t *testing.T) {
		jt := e.login(t, jc, "openid")
		r := e.introspect(t, jt.AccessToken, "", jc.basic())
		if r.Status != http.StatusOK || r.Body["active"] != true || r.str("client_id") != jc.ID || r.str("sub") != admin.UID {
			t.Fatal(r)
		}
		tokWantInactive(t, e.introspect(t, jt.AccessToken, "", a.basic()))
	})

	t.Run("another client's tokens are inactive", func(t *testing.T) {
		for _, tt := range []string{tok.AccessToken, tok.RefreshToken} {
			tokWantInactive(t, e.introspect(t, tt, "", b.basic()))
		}
	})

	t.Run("unknown tokens are inactive", func(t *testing.T) {
		for _, tt := range []string{"garbage", "a.b.c", tokMustPrefixed(t, "tolk_at_"), tokMustPrefixed(t, "tolk_rt_")} {
			tokWantInactive(t, e.introspect(t, tt, "", a.basic()))
		}
	})

	t.Run("unauthenticated", func(t *testing.T) {
		for name, auth := range map[string]tokAuth{
			"no credentials": nil,
			"client_id only": tokPost(a.ID, ""),
			"wrong secret":   tokBasic(a.ID, b.Secret),
		} {
			r := e.introspect(t, tok.AccessToken, "", auth)
			if r.Status != http.StatusUnauthorized || r.str("error") != "invalid_client" || r.Body["active"] != nil {
				t.Fatalf("%s: want 401 invalid_client, got %s", name, r)
			}
		}
	})

	t.Run("revoked and rotated tokens are inactive", func(t *testing.T) {
		t2 := e.login(t, a, "openid", "offline_access")
		r := a.refresh(t, t2.RefreshToken, nil)
		if r.Status != http.StatusOK {
			t.Fatal(r)
		}
		tokWantInactive(t, e.introspect(t, t2.RefreshToken, "refresh_token", a.basic())) // rotated
		if ir := e.introspect(t, r.str("refresh_token"), "", a.basic()); ir.Body["active"] != true {
			t.Fatalf("current refresh token: %s", ir)
		}
		if rv := e.revoke(t, r.str("access_token"), a.basic()); rv.Status != http.StatusOK {
			t.Fatal(rv)
		}
		tokWantInactive(t, e.introspect(t, r.str("access_token"), "", a.basic()))
		if rv := e.revoke(t, r.str("refresh_token"), a.basic()); rv.Status != http.StatusOK {
			t.Fatal(rv)
		}
		tokWantInactive(t, e.introspect(t, r.str("refresh_token"), "", a.basic()))
		tokWantInactive(t, e.introspect(t, t2.AccessToken, "", a.basic())) // same family
	})

	t.Run("expired", func(t *testing.T) {
		e.s.Clock.Advance(15 * 24 * time.Hour)
		tokWantInactive(t, e.introspect(t, tok.AccessToken, "", a.basic()))
	})
}

func TestClientCredentialsTokenNamesOnlyTheApp(t *testing.T) {
	e := tokNew(t)
	m := e.client(t, authz.ClientSpec{GrantTypes: []string{"client_credentials"}})

	tok := m.cc(t)
	if tok.RefreshToken != "" || tok.Extra("id_token") != nil {
		t.Fatalf("client_credentials issued a refresh token or id_token: %+v", tok)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Fatalf("token %+v", tok)
	}

	r := e.introspect(t, tok.AccessToken, "", m.basic())
	if r.Status != http.StatusOK || r.Body["active"] != true {
		t.Fatal(r)
	}
	if r.str("client_id") != m.ID || r.str("sub") != m.ID || r.str("org_uid") != e.org {
		t.Fatalf("want client_id = sub = %s and org_uid %s: %s", m.ID, e.org, r)
	}
	if _, ok := r.Body["username"]; ok {
		t.Fatalf("an app token names a user: %s", r)
	}
	if r.str("scope") != "public" {
		t.Fatalf("scope %q, want public", r.str("scope"))
	}

	for _, path := range []string{"/user", "/v2/user"} {
		resp, body := e.s.Do(t, tokBearerGet(t, e.s.URL+path, tok.AccessToken))
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("%s with an app token: %d %s", path, resp.StatusCode, body)
		}
	}
	if r := e.userinfo(t, http.MethodGet, tok.AccessToken); r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
		t.Fatalf("userinfo with an app token: %s", r)
	}

	for _, sc := range []string{"openid", "offline_access", "profile", "email"} {
		t.Run("user scope "+sc, func(t *testing.T) {
			r := e.post(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {sc}}, m.basic())
			tokWantError(t, r, http.StatusBadRequest, "invalid_scope")
		})
	}
}

func TestJWTAccessTokensRFC9068(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{JWTAccessTokens: true, GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}})
	admin, err := e.s.Store.GetUserByUserName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	jwks := tokJWKS(t, e)

	type atClaims struct {
		jwt.Claims
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
		AuthTime int64  `json:"auth_time"`
	}
	jtis := map[string]bool{}
	for _, tc := range []struct {
		name, sub, scope string
		tok              func(t *testing.T) string
	}{
		{"user", admin.UID, "openid profile", func(t *testing.T) string { return e.login(t, c, "openid", "profile").AccessToken }},
		{"client_credentials", c.ID, "read write", func(t *testing.T) string { return c.cc(t, "read", "write").AccessToken }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.tok(t)
			parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
			if err != nil {
				t.Fatal(err)
			}
			if len(parsed.Headers) != 1 {
				t.Fatalf("%d signatures", len(parsed.Headers))
			}
			h := parsed.Headers[0]
			if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(strings.TrimPrefix(strings.ToLower(typ), "application/"), "at+jwt") {
				t.Fatalf("typ %q, want at+jwt", typ)
			}
			keys := jwks.Key(h.KeyID)
			if h.KeyID == "" || len(keys) != 1 {
				t.Fatalf("kid %q not in the JWKS", h.KeyID)
			}
			if h.Algorithm != keys[0].Algorithm {
				t.Fatalf("alg %s, key %s", h.Algorithm, keys[0].Algorithm)
			}
			var cl atClaims
			if err := parsed.Claims(keys[0].Key, &cl); err != nil {
				t.Fatalf("go-jose verification: %v", err)
			}
			if err := cl.ValidateWithLeeway(jwt.Expected{Issuer: e.s.URL, Subject: tc.sub, AnyAudience: jwt.Audience{"tms"}, Time: e.s.Clock.Now()}, 0); err != nil {
				t.Fatalf("claims %+v: %v", cl, err)
			}
			if cl.ClientID != c.ID || cl.Scope != tc.scope || cl.ID == "" || cl.IssuedAt == nil || cl.Expiry == nil ||
				!cl.Expiry.Time().After(cl.IssuedAt.Time()) {
				t.Fatalf("claims %+v", cl)
			}
			if tc.sub == admin.UID && cl.AuthTime == 0 {
				t.Fatal("no auth_time in a user's token")
			}
			if jtis[cl.ID] {
				t.Fatal("jti reused")
			}
			jtis[cl.ID] = true
			// Tampering is caught by go-jose too.
			parts := strings.Split(raw, ".")
			bad, err := jwt.ParseSigned(parts[0]+"."+tokB64JSON(map[string]any{"sub": "someone", "iss": e.s.URL})+"."+parts[2], []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
			if err == nil && bad.Claims(keys[0].Key, &atClaims{}) == nil {
				t.Fatal("tampered token verified")
			}
		})
	}
}

func TestPublicScopeByDefault(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{GrantTypes: []string{"authorization_code", "client_credentials"}})

	t.Run("client_credentials", func(t *testing.T) {
		r := e.post(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.basic())
		if r.Status != http.StatusOK || r.str("scope") != "public" {
			t.Fatalf("want scope public, got %s", r)
		}
	})
	t.Run("authorization_code", func(t *testing.T) {
		conf := c.conf() // no scope parameter
		tok, err := conf.Exchange(e.ctx, e.code(t, conf))
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := tok.Extra("scope").(string); s != "public" {
			t.Fatalf("scope %q, want public", s)
		}
		if tok.Extra("id_token") != nil {
			t.Fatal("id_token without openid")
		}
	})
}

func TestInvalidScopeOutsideRegistration(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{Scopes: []string{"openid", "profile", "public", "offline_access"},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}})

	for _, tc := range []struct {
		name   string
		scopes []string
		ok     bool
	}{
		{"registered scopes", []string{"openid", "profile"}, true},
		{"a catalog scope the app lacks", []string{"openid", "email"}, false},
		{"an unknown scope", []string{"openid", "admin:all"}, false},
	} {
		t.Run("authorize/"+tc.name, func(t *testing.T) {
			q := e.authorize(t, nil, c.conf(tc.scopes...).AuthCodeURL("st-sc"))
			if tc.ok != (q.Get("code") != "") {
				t.Fatalf("got %v", q)
			}
			if !tc.ok && (q.Get("error") != "invalid_scope" || q.Get("state") != "st-sc") {
				t.Fatalf("want error=invalid_scope with state, got %v", q)
			}
		})
	}
	for _, tc := range []struct {
		scope string
		ok    bool
	}{{"public", true}, {"write", false}, {"public write", false}, {"nonexistent", false}} {
		t.Run("client_credentials/"+tc.scope, func(t *testing.T) {
			r := e.post(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {tc.scope}}, c.basic())
			if tc.ok {
				if r.Status != http.StatusOK || r.str("scope") != tc.scope {
					t.Fatal(r)
				}
				return
			}
			tokWantError(t, r, http.StatusBadRequest, "invalid_scope")
		})
	}
}

func TestUserEndpointShapes(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{})
	admin, err := e.s.Store.GetUserByUserName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scopes    []string
		wantEmail bool
	}{
		{[]string{"public"}, false},
		{[]string{"openid", "profile"}, false},
		{[]string{"user.email"}, true},
		{[]string{"email"}, true},
		{[]string{"openid", "email"}, true},
	} {
		t.Run(strings.Join(tc.scopes, "+"), func(t *testing.T) {
			tok := e.login(t, c, tc.scopes...)
			for _, path := range []string{"/user", "/v2/user"} {
				r, err := e.do(tokBearerGet(t, e.s.URL+path, tok.AccessToken))
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != http.StatusOK {
					t.Fatalf("%s: %s", path, r)
				}
				if r.str("uuid") != admin.UID || r.str("site_name") != admin.UserName {
					t.Fatalf("%s: uuid/site_name: %s", path, r)
				}
				ci, _ := r.Body["contact_info"].(map[string]any)
				if ci == nil || ci["first_name"] != admin.FirstName || ci["last_name"] != admin.LastName {
					t.Fatalf("%s: contact_info: %s", path, r)
				}
				// Strings has no email scope: /v2/user always shows it.
				wantEmail := tc.wantEmail || path == "/v2/user"
				email, has := r.Body["email"]
				if has != wantEmail || (has && email != admin.Email) {
					t.Fatalf("%s with scopes %v: email %v (present %v)", path, tc.scopes, email, has)
				}
				if _, ok := r.Body["password_hash"]; ok || strings.Contains(r.Raw, "argon2") {
					t.Fatalf("%s leaks the password hash", path)
				}
				if !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
					t.Fatalf("%s: Cache-Control %q", path, r.Header.Get("Cache-Control"))
				}
			}
		})
	}
	t.Run("no or bad token", func(t *testing.T) {
		for _, path := range []string{"/user", "/v2/user"} {
			for _, tok := range []string{"", "garbage", tokMustPrefixed(t, "tolk_at_")} {
				req := tokGet(t, e.s.URL+path)
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				r, err := e.do(req)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("%s with %q: %s", path, tok, r)
				}
			}
		}
	})
}
