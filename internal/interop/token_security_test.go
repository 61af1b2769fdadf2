package interop

// Token endpoint, refresh token, JWT and metadata security tests: SECURITY.md
// T19–T32, T45 and T46. Each test drives tolk over HTTP, with
// golang.org/x/oauth2 and go-oidc where a real client fits and raw requests
// where an attacker would not use one.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// ---- helpers (prefixed tok so they do not collide with other files) ----

const (
	tokRedirect  = "http://127.0.0.1:9/callback"
	tokRedirect2 = "http://127.0.0.1:9/other-callback"
)

// tokEnv is a running tolk with an OIDC provider view of it.
type tokEnv struct {
	s        *tolktest.Server
	ctx      context.Context // carries s.Client() for x/oauth2 and go-oidc
	org      string
	provider *oidc.Provider
	b        *oauthflow.Browser // signed in as admin after the first flow
}

func tokNew(t *testing.T, opts ...tolktest.Options) *tokEnv {
	t.Helper()
	var o tolktest.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.ClockStart.IsZero() {
		o.ClockStart = time.Now() // go-oidc checks exp/iat against the wall clock
	}
	s := tolktest.New(t, o)
	ctx := oidc.ClientContext(context.Background(), s.Client())
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &tokEnv{s: s, ctx: ctx, org: org.UID, provider: provider, b: oauthflow.New(t, s.URL)}
}

// tokClient is a registered app with its secret.
type tokClient struct {
	store.Client
	Secret string
	e      *tokEnv
}

// client registers an app; OrgUID, Name and RedirectURIs are filled in
// when empty.
func (e *tokEnv) client(t *testing.T, spec authz.ClientSpec) *tokClient {
	t.Helper()
	if spec.OrgUID == "" {
		spec.OrgUID = e.org
	}
	if spec.Name == "" {
		spec.Name = "tok-" + t.Name() + " " + rand.Text()[:8] // app names differ in an organization
	}
	browser := len(spec.GrantTypes) == 0 || slices.Contains(spec.GrantTypes, oauth.GrantAuthorizationCode) ||
		slices.Contains(spec.GrantTypes, oauth.GrantImplicit)
	if spec.RedirectURIs == nil && browser {
		spec.RedirectURIs = []string{tokRedirect}
	}
	c, sec, err := e.s.Tolk.Authz.CreateClient(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return &tokClient{Client: c, Secret: sec, e: e}
}

// conf is an x/oauth2 config for the app. The auth style is explicit:
// auto-detection retries a failed request with the other style, which
// would redeem a code twice.
func (c *tokClient) conf(scopes ...string) *oauth2.Config {
	ep := c.e.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if c.Public {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Endpoint: ep, RedirectURL: tokRedirect, Scopes: scopes}
}

// authorize runs an authorization URL through the real login and consent
// forms (as admin) and returns the parameters of the redirect to the app.
func (e *tokEnv) authorize(t *testing.T, b *oauthflow.Browser, authURL string) url.Values {
	t.Helper()
	if b == nil {
		b = e.b
	}
	p := b.Authorize(t, authURL, "admin", tolktest.AdminPassword, "allow")
	if p.Location == nil || b.IsTolk(p.Location) {
		t.Fatalf("no redirect to the app: %d %s", p.Status, p.Body)
	}
	return oauthflow.Params(p.Location)
}

// code gets an authorization code for conf.
func (e *tokEnv) code(t *testing.T, conf *oauth2.Config, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	q := e.authorize(t, nil, conf.AuthCodeURL("st", opts...))
	if q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	return q.Get("code")
}

// login runs the code flow with PKCE and exchanges the code.
func (e *tokEnv) login(t *testing.T, c *tokClient, scopes ...string) *oauth2.Token {
	t.Helper()
	conf := c.conf(scopes...)
	v := oauth2.GenerateVerifier()
	code := e.code(t, conf, oauth2.S256ChallengeOption(v))
	tok, err := conf.Exchange(e.ctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokResp is a raw HTTP answer with its JSON body, if any.
type tokResp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r tokResp) str(k string) string { v, _ := r.Body[k].(string); return v }

func (r tokResp) String() string { return fmt.Sprintf("%d %s", r.Status, r.Raw) }

// tokAuth sets client authentication on a request.
type tokAuth func(*http.Request, url.Values)

// tokBasic is client_secret_basic the RFC 6749 §2.3.1 way (form-encoded).
func tokBasic(id, sec string) tokAuth {
	return func(r *http.Request, _ url.Values) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec)) }
}

// tokPost is client_secret_post.
func tokPost(id, sec string) tokAuth {
	return func(_ *http.Request, f url.Values) {
		f.Set("client_id", id)
		if sec != "" {
			f.Set("client_secret", sec)
		}
	}
}

func (c *tokClient) basic() tokAuth { return tokBasic(c.ID, c.Secret) }

// do sends a request without calling t (safe from goroutines).
func (e *tokEnv) do(req *http.Request) (tokResp, error) {
	resp, err := e.s.Client().Do(req)
	if err != nil {
		return tokResp{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return tokResp{}, err
	}
	r := tokResp{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r, nil
}

func (e *tokEnv) formRequest(path string, form url.Values, auth tokAuth) *http.Request {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, e.s.URL+path, nil)
	if auth != nil {
		auth(req, f)
	}
	body := f.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// post sends a form to a tolk endpoint.
func (e *tokEnv) post(t *testing.T, path string, form url.Values, auth tokAuth) tokResp {
	t.Helper()
	r, err := e.do(e.formRequest(path, form, auth))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// refresh uses a refresh token at the token endpoint (client_secret_basic).
func (c *tokClient) refresh(t *testing.T, rt string, extra url.Values) tokResp {
	t.Helper()
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		f[k] = v
	}
	return c.e.post(t, "/oauth/token", f, c.basic())
}

// userinfo calls /userinfo with the token in the Authorization header.
func (e *tokEnv) userinfo(t *testing.T, method, tok string) tokResp {
	t.Helper()
	var req *http.Request
	if method == http.MethodPost {
		req, _ = http.NewRequest(method, e.s.URL+"/userinfo", strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, e.s.URL+"/userinfo", nil)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	r, err := e.do(req)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// revoke calls RFC 7009 revocation.
func (e *tokEnv) revoke(t *testing.T, tok string, auth tokAuth) tokResp {
	t.Helper()
	return e.post(t, "/oauth/revoke", url.Values{"token": {tok}}, auth)
}

func tokWantError(t *testing.T, r tokResp, status int, code string) {
	t.Helper()
	if r.Status != status || r.str("error") != code {
		t.Fatalf("want %d %s, got %s", status, code, r)
	}
}

// tokWantInvalidToken checks an RFC 6750 §3 invalid_token challenge.
func tokWantInvalidToken(t *testing.T, r tokResp) {
	t.Helper()
	wa := r.Header.Get("WWW-Authenticate")
	if r.Status != http.StatusUnauthorized || !strings.HasPrefix(wa, "Bearer ") || !strings.Contains(wa, `error="invalid_token"`) {
		t.Fatalf("want 401 with a Bearer invalid_token challenge, got %s (WWW-Authenticate %q)", r, wa)
	}
}

// tokWantRetrieveError checks an x/oauth2 token endpoint error.
func tokWantRetrieveError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if re.ErrorCode != code {
		t.Fatalf("want %s, got %s (%d %s)", code, re.ErrorCode, re.Response.StatusCode, re.Body)
	}
}

// tokJWTPart decodes the header (0) or payload (1) of a compact JWT
// without verifying it.
func tokJWTPart(t *testing.T, jwt string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func tokB64JSON(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokIDToken(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token")
	}
	return raw
}

// ---- B. Token endpoint ----

// A code whose user was deactivated after it was issued is refused.
// Deactivation deletes the user's unused codes, and the code grant, which
// reads the code together with its user, also refuses an inactive user:
// this covers the joined read end to end.
func TestCodeOfDeactivatedUserRefused(t *testing.T) {
	t.Parallel()
	e := azNewEnv(t, authz.ClientSpec{GrantTypes: []string{oauth.GrantAuthorizationCode}})
	u := e.s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	p := e.browser(t).Authorize(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "state", "s1"),
		"lena", "lena-password-1", "allow")
	code := azAssertClientRedirect(t, p, azGoodRedirect).Get("code")
	if code == "" {
		t.Fatal("no code")
	}
	if err := e.s.Store.SetUserActive(context.Background(), u.UID, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	tr := e.exchange(t, code, azGoodRedirect)
	if tr.Status != http.StatusBadRequest || tr.str("error") != "invalid_grant" {
		t.Fatalf("code of a deactivated user: %d %v, want 400 invalid_grant", tr.Status, tr.JSON)
	}
}

// T19: a replayed code is refused and revokes what the first redemption
// produced, whether replayed at once or 30 s later (after the code expired).
func TestT19_CodeReplayRevokesIssuedTokens(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{
		{"immediately", 0},
		{"31s later, code expired", 31 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tokNew(t)
			c := e.client(t, authz.ClientSpec{})
			conf := c.conf("openid", "offline_access")
			v := oauth2.GenerateVerifier()
			code := e.code(t, conf, oauth2.S256ChallengeOption(v))
			tok, err := conf.Exchange(e.ctx, code, oauth2.VerifierOption(v))
			if err != nil {
				t.Fatal(err)
			}
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token")
			}
			if r := e.userinfo(t, http.MethodGet, tok.AccessToken); r.Status != http.StatusOK {
				t.Fatalf("fresh access token: %s", r)
			}
			e.s.Clock.Advance(tc.delay)

			_, err = conf.Exchange(e.ctx, code, oauth2.VerifierOption(v))
			tokWantRetrieveError(t, err, "invalid_grant")
			var re *oauth2.RetrieveError
			if errors.As(err, &re) && re.Response.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", re.Response.StatusCode)
			}

			tokWantInvalidToken(t, e.userinfo(t, http.MethodGet, tok.AccessToken))
			tokWantError(t, c.refresh(t, tok.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
		})
	}
}

// T20: of N simultaneous redemptions of one code (or one refresh token)
// exactly one succeeds, on SQLite and on PostgreSQL.
func TestT20_ConcurrentRedemptionExactlyOnce(t *testing.T) {
	const workers = 10
	for _, backend := range []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(backend.name, func(t *testing.T) {
			e := tokNew(t, tolktest.Options{Postgres: backend.postgres})
			c := e.client(t, authz.ClientSpec{})
			race := func(t *testing.T, form url.Values) {
				t.Helper()
				reqs := make([]*http.Request, workers)
				for i := range reqs {
					reqs[i] = e.formRequest("/oauth/token", form, c.basic())
				}
				start := make(chan struct{})
				results := make([]tokResp, workers)
				errs := make([]error, workers)
				var wg sync.WaitGroup
				for i := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						results[i], errs[i] = e.do(reqs[i])
					}()
				}
				close(start)
				wg.Wait()
				ok := 0
				for i, r := range results {
					if errs[i] != nil {
						t.Fatal(errs[i])
					}
					switch {
					case r.Status == http.StatusOK && r.str("access_token") != "":
						ok++
					case r.Status == http.StatusBadRequest && r.str("error") == "invalid_grant":
					default:
						t.Errorf("worker %d: want 200 or 400 invalid_grant, got %s", i, r)
					}
				}
				if ok != 1 {
					t.Fatalf("%d of %d concurrent redemptions succeeded, want exactly 1", ok, workers)
				}
			}

			// Several rounds: a lost race is likely, not certain, in one.
			const rounds = 3
			t.Run("authorization code", func(t *testing.T) {
				for range rounds {
					conf := c.conf("openid", "offline_access")
					v := oauth2.GenerateVerifier()
					code := e.code(t, conf, oauth2.S256ChallengeOption(v))
					race(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {tokRedirect}, "code_verifier": {v}})
				}
			})
			t.Run("refresh token", func(t *testing.T) {
				for range rounds {
					tok := e.login(t, c, "openid", "offline_access")
					race(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
				}
			})
		})
	}
}

// T21: a code is bound to its client and to the redirect_uri of its
// authorization request.
func TestT21_CodeBoundToClientAndRedirectURI(t *testing.T) {
	e := tokNew(t)
	a := e.client(t, authz.ClientSpec{RedirectURIs: []string{tokRedirect, tokRedirect2}})
	b := e.client(t, authz.ClientSpec{RedirectURIs: []string{tokRedirect, tokRedirect2}})
	for _, tc := range []struct {
		name     string
		redeemer *tokClient
		redirect string // at the token endpoint; "" leaves it out
	}{
		{"other client", b, tokRedirect},
		{"different redirect_uri", a, tokRedirect2},
		{"redirect_uri with trailing slash", a, tokRedirect + "/"},
		{"missing redirect_uri", a, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := e.code(t, a.conf("openid"))
			conf := tc.redeemer.conf("openid")
			conf.RedirectURL = tc.redirect
			_, err := conf.Exchange(e.ctx, code)
			tokWantRetrieveError(t, err, "invalid_grant")
			// The refusal was for the binding: the right request still works.
			if _, err := a.conf("openid").Exchange(e.ctx, code); err != nil {
				t.Fatalf("the legitimate redemption after the refused one: %v", err)
			}
		})
	}
}

// T22: codes are long CSPRNG strings and live 30 s.
func TestT22_CodeEntropyAndLifetime(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{})
	ctx := context.Background()

	t.Run("entropy of 1000 issued codes", func(t *testing.T) {
		ar, err := e.s.Tolk.Authz.ParseAuthRequest(ctx, url.Values{"client_id": {c.ID}, "redirect_uri": {tokRedirect},
			"response_type": {"code"}, "scope": {"openid"}})
		if err != nil {
			t.Fatal(err)
		}
		u, err := e.s.Store.GetUserByUserName(ctx, "admin")
		if err != nil {
			t.Fatal(err)
		}
		const n = 1000
		const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		seen := map[string]bool{}
		freq := map[rune]int{}
		total := 0
		bodyLen := 0
		prev, dist, pairs := "", 0, 0
		for range n {
			out, err := e.s.Tolk.Authz.Issue(ctx, ar, u, e.s.Clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			code := out.Get("code")
			if seen[code] {
				t.Fatalf("duplicate code %q", code)
			}
			seen[code] = true
			if !secret.CheckPrefixed(secret.PrefixAuthCode, code) {
				t.Fatalf("code %q does not have the tolk_ac_ shape", code)
			}
			for _, ch := range code {
				if !strings.ContainsRune(alnum+"_", ch) {
					t.Fatalf("code %q has a character outside the unreserved set", code)
				}
			}
			// The random body sits between the prefix and the 6-character checksum.
			body := code[len(secret.PrefixAuthCode) : len(code)-6]
			bodyLen = len(body)
			if prev != "" { // a counter or a weak PRNG makes neighbours alike
				for i := range body {
					if body[i] != prev[i] {
						dist++
					}
				}
				pairs++
			}
			prev = body
			for _, ch := range body {
				freq[ch]++
				total++
			}
		}
		var h float64 // Shannon entropy per character of the random part
		for _, k := range freq {
			p := float64(k) / float64(total)
			h -= p * math.Log2(p)
		}
		bits := h * float64(bodyLen)
		t.Logf("%d distinct codes, %d random characters each, %.3f bits/char, ~%.0f bits", len(seen), bodyLen, h, bits)
		// Independent uniform characters differ from the previous code's
		// in 61/62 of positions.
		if mean := float64(dist) / float64(pairs); mean < 0.9*float64(bodyLen) {
			t.Fatalf("consecutive codes differ in %.1f of %d positions on average", mean, bodyLen)
		}
		if len(freq) < 60 || h < 5.8 || bits < 128 {
			t.Fatalf("measured entropy too low: %d symbols, %.3f bits/char, %.0f bits (want >= 128)", len(freq), h, bits)
		}
	})

	t.Run("lifetime", func(t *testing.T) {
		if ttl := e.s.Tolk.Authz.Config.CodeTTL; ttl <= 0 || ttl > 60*time.Second {
			t.Fatalf("code lifetime %s, want at most 60 s", ttl)
		}
		for _, tc := range []struct {
			wait time.Duration
			ok   bool
		}{{29 * time.Second, true}, {31 * time.Second, false}} {
			t.Run(tc.wait.String(), func(t *testing.T) {
				conf := c.conf("openid")
				code := e.code(t, conf)
				e.s.Clock.Advance(tc.wait)
				_, err := conf.Exchange(e.ctx, code)
				if tc.ok && err != nil {
					t.Fatalf("redeeming after %s: %v", tc.wait, err)
				}
				if !tc.ok {
					tokWantRetrieveError(t, err, "invalid_grant")
				}
			})
		}
	})
}

// T23: PKCE verifiers are required, checked with S256, and well-formed;
// plain is refused; public apps must use PKCE; only S256 is advertised.
func TestT23_PKCEMisuse(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{})
	good := oauth2.GenerateVerifier()
	for _, tc := range []struct {
		name      string
		challenge string // S256 of this verifier goes to the authorization request
		verifier  string // sent at the token endpoint; "" leaves it out
		ok        bool
	}{
		{"correct verifier", good, good, true},
		{"verifier missing", good, "", false},
		{"wrong verifier", good, oauth2.GenerateVerifier(), false},
		{"verifier of 42 characters", strings.Repeat("a", 42), strings.Repeat("a", 42), false},
		{"verifier of 129 characters", strings.Repeat("b", 129), strings.Repeat("b", 129), false},
		{"verifier with '+' and '/'", strings.Repeat("c", 40) + "+/=", strings.Repeat("c", 40) + "+/=", false},
		{"verifier with a space", strings.Repeat("d", 43) + " x", strings.Repeat("d", 43) + " x", false},
		{"verifier with non-ASCII", strings.Repeat("e", 43) + "é", strings.Repeat("e", 43) + "é", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := c.conf("openid")
			code := e.code(t, conf, oauth2.SetAuthURLParam("code_challenge", oauth.S256(tc.challenge)),
				oauth2.SetAuthURLParam("code_challenge_method", "S256"))
			var opts []oauth2.AuthCodeOption
			if tc.verifier != "" {
				opts = append(opts, oauth2.VerifierOption(tc.verifier))
			}
			_, err := conf.Exchange(e.ctx, code, opts...)
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				tokWantRetrieveError(t, err, "invalid_grant")
			}
		})
	}

	pub := e.client(t, authz.ClientSpec{Public: true})
	for _, tc := range []struct {
		name   string
		client *tokClient
		params url.Values
		error  string // "" = a code comes back
	}{
		{"code_challenge_method=plain", c, url.Values{"code_challenge": {good}, "code_challenge_method": {"plain"}}, "invalid_request"},
		{"code_challenge without method (defaults to plain)", c, url.Values{"code_challenge": {good}}, "invalid_request"},
		{"public app without PKCE", pub, url.Values{}, "invalid_request"},
		{"public app with S256", pub, url.Values{"code_challenge": {oauth.S256(good)}, "code_challenge_method": {"S256"}}, ""},
	} {
		t.Run("authorize/"+tc.name, func(t *testing.T) {
			var opts []oauth2.AuthCodeOption
			for k := range tc.params {
				opts = append(opts, oauth2.SetAuthURLParam(k, tc.params.Get(k)))
			}
			q := e.authorize(t, nil, tc.client.conf("openid").AuthCodeURL("st-pkce", opts...))
			if q.Get("state") != "st-pkce" {
				t.Fatalf("state not echoed: %v", q)
			}
			if tc.error == "" {
				if q.Get("code") == "" {
					t.Fatalf("no code: %v", q)
				}
				if _, err := tc.client.conf("openid").Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(good)); err != nil {
					t.Fatal(err)
				}
				return
			}
			if q.Get("error") != tc.error || q.Get("code") != "" {
				t.Fatalf("want error=%s and no code, got %v", tc.error, q)
			}
		})
	}

	t.Run("discovery advertises S256 only", func(t *testing.T) {
		var m struct {
			Methods []string `json:"code_challenge_methods_supported"`
		}
		if err := e.provider.Claims(&m); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m.Methods, []string{"S256"}) {
			t.Fatalf("code_challenge_methods_supported = %v", m.Methods)
		}
	})
}

// T24: a code_verifier for a code requested without code_challenge is a
// downgrade attempt and is refused.
func TestT24_PKCEDowngrade(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{})
	conf := c.conf("openid")
	code := e.code(t, conf) // no code_challenge
	_, err := conf.Exchange(e.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	tokWantRetrieveError(t, err, "invalid_grant")
	// The code itself was fine: without the verifier it is redeemed.
	if _, err := conf.Exchange(e.ctx, code); err != nil {
		t.Fatalf("redeeming without a verifier: %v", err)
	}
}

// T25: client authentication at the token endpoint.
func TestT25_ClientAuthentication(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{GrantTypes: []string{"client_credentials"}})

	// An app whose id and secret contain the characters that
	// application/x-www-form-urlencoding changes (RFC 6749 §2.3.1).
	const specialID, specialSecret = "tok:app%41+1", "s3:cr%25et+with/=&?"
	now := e.s.Clock.Now()
	if err := e.s.Store.CreateClient(context.Background(), store.Client{
		ID: specialID, OrgUID: e.org, Name: "special", SecretHash: secret.Hash(specialSecret),
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"public"}, Audiences: []string{"tms"},
		CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}

	cc := url.Values{"grant_type": {"client_credentials"}}
	percentAll := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
		return b.String()
	}
	rawBasic := func(id, sec string) tokAuth {
		return func(r *http.Request, _ url.Values) { r.SetBasicAuth(id, sec) }
	}
	both := func(id, sec string) tokAuth {
		return func(r *http.Request, f url.Values) {
			tokBasic(id, sec)(r, f)
			f.Set("client_secret", sec)
		}
	}

	for _, tc := range []struct {
		name   string
		auth   tokAuth
		status int
		error  string
	}{
		{"client_secret_basic", c.basic(), 200, ""},
		{"client_secret_post", tokPost(c.ID, c.Secret), 200, ""},
		{"Basic, every character percent-encoded", rawBasic(percentAll(c.ID), percentAll(c.Secret)), 200, ""},
		{"special characters, Basic form-encoded", tokBasic(specialID, specialSecret), 200, ""},
		{"special characters, post", tokPost(specialID, specialSecret), 200, ""},
		{"special characters, Basic not form-encoded (ambiguous ':')", rawBasic(specialID, specialSecret), 401, "invalid_client"},
		{"wrong secret, Basic", tokBasic(c.ID, c.Secret+"x"), 401, "invalid_client"},
		{"wrong secret, post", tokPost(c.ID, c.Secret+"x"), 401, "invalid_client"},
		{"unknown client", tokBasic("nobody", c.Secret), 401, "invalid_client"},
		{"no secret for a confidential app", tokPost(c.ID, ""), 401, "invalid_client"},
		{"no authentication at all", nil, 401, "invalid_client"},
		{"secret in Basic and in the body", both(c.ID, c.Secret), 400, "invalid_request"},
		{"malformed percent-encoding in Basic", rawBasic(c.ID, "%zz"), 401, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, "/oauth/token", cc, tc.auth)
			if tc.error == "" {
				if r.Status != http.StatusOK || r.str("access_token") == "" {
					t.Fatalf("want a token, got %s", r)
				}
				return
			}
			tokWantError(t, r, tc.status, tc.error)
			if tc.status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("401 without a Basic challenge: %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}

	// x/oauth2 encodes Basic credentials with url.QueryEscape.
	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"AuthStyleInHeader", oauth2.AuthStyleInHeader}, {"AuthStyleInParams", oauth2.AuthStyleInParams}} {
		for _, cl := range []struct{ name, id, secret string }{{"generated", c.ID, c.Secret}, {"special", specialID, specialSecret}} {
			t.Run("x/oauth2/"+style.name+"/"+cl.name, func(t *testing.T) {
				cfg := clientcredentials.Config{ClientID: cl.id, ClientSecret: cl.secret, TokenURL: e.s.URL + "/oauth/token", AuthStyle: style.style}
				tok, err := cfg.Token(e.ctx)
				if err != nil {
					t.Fatal(err)
				}
				if tok.AccessToken == "" {
					t.Fatal("no access token")
				}
				cfg.ClientSecret += "x"
				_, err = cfg.Token(e.ctx)
				tokWantRetrieveError(t, err, "invalid_client")
			})
		}
	}

	// The code flow with both methods.
	web := e.client(t, authz.ClientSpec{})
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		t.Run(fmt.Sprintf("authorization_code/style %d", style), func(t *testing.T) {
			conf := web.conf("openid")
			conf.Endpoint.AuthStyle = style
			if _, err := conf.Exchange(e.ctx, e.code(t, conf)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// T25 (unit): oauth.ClientCredentials URL-decodes Basic credentials.
func TestT25_ClientCredentialsBasicDecoding(t *testing.T) {
	for _, tc := range []struct {
		name               string
		user, pass         string // as sent in the Basic header
		body               url.Values
		wantID, wantSecret string
		wantMethod         string
		wantErr            string
	}{
		{"encoded colon, percent and plus", "my%3Aapp", "a%3Ab%25c%2Bd", nil, "my:app", "a:b%c+d", "client_secret_basic", ""},
		{"x/oauth2 QueryEscape output", url.QueryEscape("id:%+/"), url.QueryEscape("p:%+ /=&"), nil, "id:%+/", "p:%+ /=&", "client_secret_basic", ""},
		{"raw colon in the password part", "app", "a:b", nil, "app", "a:b", "client_secret_basic", ""},
		{"plus means space", "app", "a+b", nil, "app", "a b", "client_secret_basic", ""},
		{"no double decoding", "app", "%2541", nil, "app", "%41", "client_secret_basic", ""},
		{"malformed escape", "app", "%zz", nil, "", "", "", "invalid_client"},
		{"secret also in the body", "app", "s", url.Values{"client_secret": {"s"}}, "", "", "", "invalid_request"},
		{"different client_id in the body", "app", "s", url.Values{"client_id": {"other"}}, "", "", "", "invalid_request"},
		{"same client_id in the body", "my%3Aapp", "s", url.Values{"client_id": {"my:app"}}, "my:app", "s", "client_secret_basic", ""},
		{"post", "", "", url.Values{"client_id": {"a:b"}, "client_secret": {"c+d"}}, "a:b", "c+d", "client_secret_post", ""},
		{"none", "", "", url.Values{"client_id": {"pub"}}, "pub", "", "none", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body.Encode()
			r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.user != "" || tc.pass != "" {
				r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(tc.user+":"+tc.pass)))
			}
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			id, sec, method, err := oauth.ClientCredentials(r)
			if tc.wantErr != "" {
				if e := oauth.AsError(err); e == nil || e.Code != tc.wantErr {
					t.Fatalf("want %s, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id != tc.wantID || sec != tc.wantSecret || method != tc.wantMethod {
				t.Fatalf("got (%q, %q, %q), want (%q, %q, %q)", id, sec, method, tc.wantID, tc.wantSecret, tc.wantMethod)
			}
		})
	}
}

// T26: a client may only use the grants it is registered for.
func TestT26_UnregisteredGrant(t *testing.T) {
	e := tokNew(t)
	web := e.client(t, authz.ClientSpec{}) // authorization_code + refresh_token
	machine := e.client(t, authz.ClientSpec{GrantTypes: []string{"client_credentials"}})
	implicit := e.client(t, authz.ClientSpec{GrantTypes: []string{"authorization_code", "implicit"}})

	for _, tc := range []struct {
		name string
		c    *tokClient
		ok   bool
	}{{"browser app", web, false}, {"registered app", machine, true}} {
		t.Run("client_credentials/"+tc.name, func(t *testing.T) {
			cfg := clientcredentials.Config{ClientID: tc.c.ID, ClientSecret: tc.c.Secret, TokenURL: e.s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
			_, err := cfg.Token(e.ctx)
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				tokWantRetrieveError(t, err, "unauthorized_client")
			}
		})
	}

	t.Run("client_credentials/app registered only for client_credentials cannot use authorization_code", func(t *testing.T) {
		r := e.post(t, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {tokRedirect}}, machine.basic())
		tokWantError(t, r, http.StatusBadRequest, "unauthorized_client")
	})

	for _, tc := range []struct {
		name, responseType string
		c                  *tokClient
		ok                 bool
	}{
		{"token on a code-only app", "token", web, false},
		{"id_token token on a code-only app", "id_token token", web, false},
		{"code id_token on a code-only app", "code id_token", web, false},
		{"token on an implicit app", "token", implicit, true},
	} {
		t.Run("implicit/"+tc.name, func(t *testing.T) {
			conf := tc.c.conf("openid")
			q := e.authorize(t, nil, conf.AuthCodeURL("st-imp", oauth2.SetAuthURLParam("response_type", tc.responseType), oidc.Nonce("n")))
			if q.Get("state") != "st-imp" {
				t.Fatalf("state not echoed: %v", q)
			}
			if tc.ok {
				if q.Get("access_token") == "" {
					t.Fatalf("no access token: %v", q)
				}
				return
			}
			if q.Get("error") != "unauthorized_client" || q.Get("access_token") != "" || q.Get("id_token") != "" || q.Get("code") != "" {
				t.Fatalf("want error=unauthorized_client only, got %v", q)
			}
		})
	}
}

// ---- C. Refresh tokens ----

// T27: reusing a rotated refresh token revokes the whole family; a grace
// window, when configured, tolerates a retry within it.
func TestT27_RefreshReuseRevokesFamily(t *testing.T) {
	t.Run("no grace", func(t *testing.T) {
		e := tokNew(t)
		c := e.client(t, authz.ClientSpec{})
		tok := e.login(t, c, "openid", "offline_access")
		r := c.refresh(t, tok.RefreshToken, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("first refresh: %s", r)
		}
		at2, rt2 := r.str("access_token"), r.str("refresh_token")
		if rt2 == "" || rt2 == tok.RefreshToken || at2 == tok.AccessToken {
			t.Fatalf("refresh did not rotate: %s", r)
		}
		if r := e.userinfo(t, http.MethodGet, at2); r.Status != http.StatusOK {
			t.Fatalf("new access token: %s", r)
		}

		tokWantError(t, c.refresh(t, tok.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")

		tokWantError(t, c.refresh(t, rt2, nil), http.StatusBadRequest, "invalid_grant")
		tokWantInvalidToken(t, e.userinfo(t, http.MethodGet, tok.AccessToken))
		tokWantInvalidToken(t, e.userinfo(t, http.MethodGet, at2))
	})

	t.Run("grace 10s", func(t *testing.T) {
		e := tokNew(t, tolktest.Options{Config: func(c *config.Config) { c.RefreshGrace = 10 * time.Second }})
		c := e.client(t, authz.ClientSpec{})
		tok := e.login(t, c, "openid", "offline_access")
		r := c.refresh(t, tok.RefreshToken, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("first refresh: %s", r)
		}
		rt2 := r.str("refresh_token")

		e.s.Clock.Advance(5 * time.Second)
		r3 := c.refresh(t, tok.RefreshToken, nil)
		if r3.Status != http.StatusOK {
			t.Fatalf("reuse within the grace window: %s", r3)
		}
		rt3, at3 := r3.str("refresh_token"), r3.str("access_token")

		e.s.Clock.Advance(6 * time.Second) // 11 s after the first use
		tokWantError(t, c.refresh(t, tok.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
		for _, rt := range []string{rt2, rt3} {
			tokWantError(t, c.refresh(t, rt, nil), http.StatusBadRequest, "invalid_grant")
		}
		tokWantInvalidToken(t, e.userinfo(t, http.MethodGet, at3))
	})
}

// T28: a refresh token is bound to its client and cannot widen its scope.
func TestT28_RefreshBoundToClientAndScope(t *testing.T) {
	e := tokNew(t)
	a := e.client(t, authz.ClientSpec{})
	b := e.client(t, authz.ClientSpec{})

	t.Run("other client", func(t *testing.T) {
		tok := e.login(t, a, "openid", "offline_access")
		tokWantError(t, b.refresh(t, tok.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
		if r := a.refresh(t, tok.RefreshToken, nil); r.Status != http.StatusOK {
			t.Fatalf("the owner's refresh after the refused one: %s", r)
		}
	})

	for _, tc := range []struct {
		name, scope string
		status      int
		error       string
	}{
		{"widened", "openid offline_access email", 400, "invalid_scope"},
		{"widened to a scope outside the app", "openid offline_access nonexistent", 400, "invalid_scope"},
		{"same", "offline_access openid", 200, ""},
		{"narrowed", "openid", 200, ""},
	} {
		t.Run("scope "+tc.name, func(t *testing.T) {
			tok := e.login(t, a, "openid", "offline_access")
			r := a.refresh(t, tok.RefreshToken, url.Values{"scope": {tc.scope}})
			if tc.error != "" {
				tokWantError(t, r, tc.status, tc.error)
				return
			}
			if r.Status != http.StatusOK {
				t.Fatalf("refresh: %s", r)
			}
			want, _ := oauth.ParseScope(tc.scope)
			got, _ := oauth.ParseScope(r.str("scope"))
			if !slices.Equal(got, want) {
				t.Fatalf("granted scope %q, want %q", r.str("scope"), tc.scope)
			}
			ui := e.userinfo(t, http.MethodGet, r.str("access_token"))
			if ui.Status != http.StatusOK || ui.Body["email"] != nil {
				t.Fatalf("userinfo of the refreshed token: %s", ui)
			}
		})
	}
}

// T29: RFC 7009 revocation.
func TestT29_Revocation(t *testing.T) {
	e := tokNew(t)
	a := e.client(t, authz.ClientSpec{})
	b := e.client(t, authz.ClientSpec{})

	t.Run("refresh token revokes its access tokens", func(t *testing.T) {
		tok := e.login(t, a, "openid", "offline_access")
		r := a.refresh(t, tok.RefreshToken, nil) // a second access token in the family
		if r.Status != http.StatusOK {
			t.Fatal(r)
		}
		rt, at2 := r.str("refresh_token"), r.str("access_token")
		if r := e.revoke(t, rt, a.basic()); r.Status != http.StatusOK {
			t.Fatalf("revoke: %s", r)
		}
		tokWantInvalidToken(t, e.userinfo(t, http.MethodGet, tok.AccessToken))
		tokWantInvalidToken(t, e.userinfo(t, http.MethodGet, at2))
		tokWantError(t, a.refresh(t, rt, nil), http.StatusBadRequest, "invalid_grant")
	})

	t.Run("access token", func(t *testing.T) {
		tok := e.login(t, a, "openid", "offline_access")
		if r := e.revoke(t, tok.AccessToken, tokPost(a.ID, a.Secret)); r.Status != http.StatusOK {
			t.Fatalf("revoke: %s", r)
		}
		tokWantInvalidToken(t, e.userinfo(t, http.MethodGet, tok.AccessToken))
	})

	t.Run("unknown tokens", func(t *testing.T) {
		for _, tok := range []string{"nonsense", "tolk_rt_unknown", tokMustPrefixed(t, secret.PrefixRefreshToken), tokMustPrefixed(t, secret.PrefixAccessToken)} {
			if r := e.revoke(t, tok, a.basic()); r.Status != http.StatusOK {
				t.Fatalf("revoke %q: %s", tok, r)
			}
		}
	})

	t.Run("another client's tokens stay valid", func(t *testing.T) {
		tok := e.login(t, a, "openid", "offline_access")
		for _, tt := range []string{tok.RefreshToken, tok.AccessToken} {
			if r := e.revoke(t, tt, b.basic()); r.Status != http.StatusOK {
				t.Fatalf("revoke by another client: %s", r)
			}
		}
		if r := e.userinfo(t, http.MethodGet, tok.AccessToken); r.Status != http.StatusOK {
			t.Fatalf("access token after another client revoked it: %s", r)
		}
		if r := a.refresh(t, tok.RefreshToken, nil); r.Status != http.StatusOK {
			t.Fatalf("refresh token after another client revoked it: %s", r)
		}
	})

	t.Run("unauthenticated", func(t *testing.T) {
		tok := e.login(t, a, "openid", "offline_access")
		for name, auth := range map[string]tokAuth{
			"no credentials": nil,
			"client_id only": tokPost(a.ID, ""),
			"wrong secret":   tokBasic(a.ID, b.Secret),
		} {
			r := e.revoke(t, tok.RefreshToken, auth)
			if r.Status != http.StatusUnauthorized || r.str("error") != "invalid_client" {
				t.Fatalf("%s: want 401 invalid_client, got %s", name, r)
			}
		}
		if r := a.refresh(t, tok.RefreshToken, nil); r.Status != http.StatusOK {
			t.Fatalf("refresh token after unauthenticated revocation attempts: %s", r)
		}
	})
}

func tokMustPrefixed(t *testing.T, prefix string) string {
	t.Helper()
	s, err := secret.Generator{}.Prefixed(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ---- D. id_token, JWTs, keys ----

// T30: id_tokens that real relying parties accept.
func TestT30_IDTokenClaims(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{})
	other := e.client(t, authz.ClientSpec{})
	var issuer struct {
		Issuer string `json:"issuer"`
	}
	if err := e.provider.Claims(&issuer); err != nil {
		t.Fatal(err)
	}

	jtis := map[string]bool{}
	check := func(t *testing.T, c *tokClient, raw string) map[string]any {
		t.Helper()
		idt, err := e.provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(e.ctx, raw)
		if err != nil {
			t.Fatalf("go-oidc: %v", err)
		}
		// go-oidc accepts RS256 only unless told otherwise; check the header anyway.
		hdr := tokJWTPart(t, raw, 0)
		if hdr["alg"] != "RS256" || hdr["kid"] == nil || hdr["kid"] == "" {
			t.Fatalf("header %v, want alg RS256 and a kid", hdr)
		}
		cl := tokJWTPart(t, raw, 1)
		if cl["iss"] != issuer.Issuer || idt.Issuer != issuer.Issuer {
			t.Fatalf("iss %v, discovery issuer %q", cl["iss"], issuer.Issuer)
		}
		if !slices.Contains(idt.Audience, c.ID) {
			t.Fatalf("aud %v lacks %s", idt.Audience, c.ID)
		}
		if cl["azp"] != c.ID {
			t.Fatalf("azp %v, want %s", cl["azp"], c.ID)
		}
		exp, _ := cl["exp"].(float64)
		iat, _ := cl["iat"].(float64)
		if !(exp > iat) || iat == 0 {
			t.Fatalf("exp %v, iat %v", cl["exp"], cl["iat"])
		}
		if at, ok := cl["auth_time"].(float64); !ok || at <= 0 || at > iat {
			t.Fatalf("auth_time %v (iat %v)", cl["auth_time"], cl["iat"])
		}
		// Every id_token has its own jti (signing.Claims).
		if j, _ := cl["jti"].(string); j == "" || jtis[j] {
			t.Fatalf("jti %v: missing or seen before", cl["jti"])
		}
		jtis[cl["jti"].(string)] = true
		return cl
	}

	admin, err := e.s.Store.GetUserByUserName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	var subs []any
	for i, tc := range []struct {
		name string
		c    *tokClient
		opts []oauth2.AuthCodeOption
	}{
		{"first login", c, nil},
		{"second login in a new browser, max_age", c, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "600")}},
		{"another app", other, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := oauthflow.New(t, e.s.URL) // a fresh login each time
			conf := tc.c.conf("openid", "offline_access")
			q := e.authorize(t, b, conf.AuthCodeURL(fmt.Sprint("st", i), tc.opts...))
			tok, err := conf.Exchange(e.ctx, q.Get("code"))
			if err != nil {
				t.Fatal(err)
			}
			cl := check(t, tc.c, tokIDToken(t, tok))
			subs = append(subs, cl["sub"])
			// The id_token from a refresh is just as valid.
			r := tc.c.refresh(t, tok.RefreshToken, nil)
			if r.Status != http.StatusOK {
				t.Fatal(r)
			}
			rcl := check(t, tc.c, r.str("id_token"))
			subs = append(subs, rcl["sub"])
		})
	}
	for _, s := range subs {
		if s != admin.UID {
			t.Fatalf("subjects %v, want all %s", subs, admin.UID)
		}
	}
}

// tokForged builds a compact JWS by hand.
func tokForged(header, claims map[string]any, sign func(signingInput string) []byte) string {
	in := tokB64JSON(header) + "." + tokB64JSON(claims)
	return in + "." + base64.RawURLEncoding.EncodeToString(sign(in))
}

// T31: our access-token verifier pins algorithms and keys and checks typ.
func TestT31_AlgorithmConfusionAtUserinfo(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{JWTAccessTokens: true})
	tok := e.login(t, c, "openid", "email")
	at := tok.AccessToken
	if strings.Count(at, ".") != 2 {
		t.Fatalf("not a JWT access token: %q", at)
	}
	if r := e.userinfo(t, http.MethodGet, at); r.Status != http.StatusOK {
		t.Fatalf("genuine JWT access token: %s", r)
	}
	hdr, claims := tokJWTPart(t, at, 0), tokJWTPart(t, at, 1)
	kid, _ := hdr["kid"].(string)
	parts := strings.Split(at, ".")

	jwks := tokJWKS(t, e)
	pubKeys := jwks.Key(kid)
	if len(pubKeys) != 1 {
		t.Fatalf("kid %s not in JWKS", kid)
	}
	rsaPub, ok := pubKeys[0].Key.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("key %s is %T", kid, pubKeys[0].Key)
	}
	pkix, _ := x509.MarshalPKIXPublicKey(rsaPub)
	pkcs1 := x509.MarshalPKCS1PublicKey(rsaPub)
	jwkJSON, _ := pubKeys[0].MarshalJSON()

	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	attackerEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs256 := func(k *rsa.PrivateKey) func(string) []byte {
		return func(in string) []byte {
			sum := sha256.Sum256([]byte(in))
			sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
	}
	hs256 := func(key []byte) func(string) []byte {
		return func(in string) []byte {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(in))
			return m.Sum(nil)
		}
	}
	es256 := func(in string) []byte {
		sum := sha256.Sum256([]byte(in))
		r, s, err := ecdsa.Sign(rand.Reader, attackerEC, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(out, kv[i].(string))
			} else {
				out[kv[i].(string)] = kv[i+1]
			}
		}
		return out
	}
	attackerJWK := jose.JSONWebKey{Key: &attacker.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}
	attackerJWKJSON, _ := attackerJWK.MarshalJSON()
	var attackerJWKMap map[string]any
	_ = json.Unmarshal(attackerJWKJSON, &attackerJWKMap)
	// A server that fetched jku would get the attacker's key set.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{attackerJWK}})
	}))
	defer evil.Close()

	flip := []byte(parts[2])
	if flip[10] == 'A' {
		flip[10] = 'B'
	} else {
		flip[10] = 'A'
	}

	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"tampered signature", parts[0] + "." + parts[1] + "." + string(flip)},
		{"tampered payload", parts[0] + "." + tokB64JSON(with(claims, "scope", "openid email profile")) + "." + parts[2]},
		{"signature removed", parts[0] + "." + parts[1] + "."},
		{"alg none", tokForged(with(hdr, "alg", "none"), claims, func(string) []byte { return nil })},
		{"alg None", tokForged(with(hdr, "alg", "None"), claims, func(string) []byte { return nil })},
		{"alg none without kid", tokForged(with(hdr, "alg", "none", "kid", nil), claims, func(string) []byte { return nil })},
		{"HS256 keyed with the PKIX PEM public key", tokForged(with(hdr, "alg", "HS256"), claims,
			hs256(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})))},
		{"HS256 keyed with the PKCS1 PEM public key", tokForged(with(hdr, "alg", "HS256"), claims,
			hs256(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1})))},
		{"HS256 keyed with the DER public key", tokForged(with(hdr, "alg", "HS256"), claims, hs256(pkix))},
		{"HS256 keyed with the JWK", tokForged(with(hdr, "alg", "HS256"), claims, hs256(jwkJSON))},
		{"ES256 header on the RSA kid", tokForged(with(hdr, "alg", "ES256"), claims, es256)},
		{"RS384 header on the RSA kid", tokForged(with(hdr, "alg", "RS384"), claims, rs256(attacker))},
		{"jku to the attacker's JWKS", tokForged(with(hdr, "jku", evil.URL), claims, rs256(attacker))},
		{"x5u to the attacker", tokForged(with(hdr, "x5u", evil.URL), claims, rs256(attacker))},
		{"embedded jwk of the attacker", tokForged(with(hdr, "jwk", attackerJWKMap), claims, rs256(attacker))},
		{"unknown kid, attacker key", tokForged(with(hdr, "kid", "attacker-key-1"), claims, rs256(attacker))},
		{"no kid, attacker key", tokForged(with(hdr, "kid", nil), claims, rs256(attacker))},
		{"our kid, attacker key", tokForged(hdr, claims, rs256(attacker))},
		{"id_token used as access token", tokIDToken(t, tok)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				tokWantInvalidToken(t, e.userinfo(t, m, tc.tok))
			}
			if r, _ := e.s.Do(t, tokBearerGet(t, e.s.URL+"/user", tc.tok)); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("/user: %d", r.StatusCode)
			}
		})
	}
	// The genuine token still works: the refusals above were for the forgery.
	if r := e.userinfo(t, http.MethodGet, at); r.Status != http.StatusOK {
		t.Fatalf("genuine JWT access token afterwards: %s", r)
	}
}

func tokGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func tokBearerGet(t *testing.T, u, tok string) *http.Request {
	t.Helper()
	req := tokGet(t, u)
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

// tokJWKS fetches the published key set.
func tokJWKS(t *testing.T, e *tokEnv) jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(tokJWKSRaw(t, e)), &set); err != nil {
		t.Fatal(err)
	}
	return set
}

func tokJWKSRaw(t *testing.T, e *tokEnv) string {
	t.Helper()
	resp, body := e.s.Do(t, tokGet(t, e.s.URL+"/.well-known/jwks.json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

// T32: after a key rotation the JWKS has both keys, tokens signed before
// still verify, and new ones use the new key once it has been published
// for key_publish_delay (a minute here: go-oidc checks nbf against the
// wall clock, with 5 minutes' leeway).
func TestT32_KeyRotation(t *testing.T) {
	e := tokNew(t, tolktest.Options{Config: func(c *config.Config) { c.KeyPublishDelay = time.Minute }})
	c := e.client(t, authz.ClientSpec{})
	jc := e.client(t, authz.ClientSpec{JWTAccessTokens: true})
	before := e.login(t, c, "openid")
	beforeJWT := e.login(t, jc, "openid")
	oldKID, _ := tokJWTPart(t, tokIDToken(t, before), 0)["kid"].(string)
	if oldKID == "" {
		t.Fatal("id_token without kid")
	}
	oldVerifier := e.provider.Verifier(&oidc.Config{ClientID: c.ID}) // caches the old key set
	if _, err := oldVerifier.Verify(e.ctx, tokIDToken(t, before)); err != nil {
		t.Fatal(err)
	}

	nk, err := e.s.Tolk.Keys.Rotate(context.Background(), "RS256")
	if err != nil {
		t.Fatal(err)
	}
	if nk.KID == oldKID {
		t.Fatal("rotation kept the kid")
	}

	raw := tokJWKSRaw(t, e)
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range doc.Keys {
		kid, _ := k["kid"].(string)
		if kid == "" {
			t.Fatalf("JWKS key without kid: %v", k)
		}
		if kids[kid] {
			t.Fatalf("duplicate kid %s", kid)
		}
		kids[kid] = true
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key %s has the private member %q", kid, private)
			}
		}
	}
	if !kids[oldKID] || !kids[nk.KID] {
		t.Fatalf("JWKS kids %v, want the old %s and the new %s", kids, oldKID, nk.KID)
	}
	for _, k := range tokJWKS(t, e).Keys {
		if !k.IsPublic() {
			t.Fatalf("key %s is not public", k.KeyID)
		}
	}

	// A relying party that fetches the JWKS afresh.
	p2, err := oidc.NewProvider(e.ctx, e.s.URL)
	if err != nil {
		t.Fatal(err)
	}
	v2 := p2.Verifier(&oidc.Config{ClientID: c.ID})
	if _, err := v2.Verify(e.ctx, tokIDToken(t, before)); err != nil {
		t.Fatalf("id_token signed before the rotation: %v", err)
	}
	// Our own verifier still accepts the JWT access token signed before.
	if r := e.userinfo(t, http.MethodGet, beforeJWT.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("JWT access token signed before the rotation: %s", r)
	}

	// Published first: until key_publish_delay has passed the old key
	// signs.
	if kid := tokJWTPart(t, tokIDToken(t, e.login(t, c, "openid")), 0)["kid"]; kid != oldKID {
		t.Fatalf("id_token right after rotation has kid %v, want the old %s", kid, oldKID)
	}
	e.s.Clock.Advance(time.Minute)
	after := e.login(t, c, "openid")
	afterJWT := e.login(t, jc, "openid")
	for name, raw := range map[string]string{"id_token": tokIDToken(t, after), "JWT access token": afterJWT.AccessToken} {
		if kid := tokJWTPart(t, raw, 0)["kid"]; kid != nk.KID {
			t.Fatalf("%s after rotation has kid %v, want %s", name, kid, nk.KID)
		}
	}
	if _, err := v2.Verify(e.ctx, tokIDToken(t, after)); err != nil {
		t.Fatal(err)
	}
	// A relying party with the old key set cached refetches on the new kid.
	if _, err := oldVerifier.Verify(e.ctx, tokIDToken(t, after)); err != nil {
		t.Fatalf("cached verifier on the new kid: %v", err)
	}
	if r := e.userinfo(t, http.MethodGet, afterJWT.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("JWT access token after the rotation: %s", r)
	}
}

// ---- F. Metadata and userinfo ----

// T45: the discovery documents.
func TestT45_Discovery(t *testing.T) {
	e := tokNew(t)
	get := func(path string) map[string]any {
		t.Helper()
		resp, body := e.s.Do(t, tokGet(t, e.s.URL+path))
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		m := map[string]any{}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	oidcDoc := get("/.well-known/openid-configuration")
	if oidcDoc["issuer"] != e.s.URL {
		t.Fatalf("issuer %v, want exactly %q", oidcDoc["issuer"], e.s.URL)
	}
	strs := func(k string) []string {
		t.Helper()
		arr, ok := oidcDoc[k].([]any)
		if !ok {
			t.Fatalf("%s is not an array: %#v", k, oidcDoc[k])
		}
		var out []string
		for _, v := range arr {
			s, ok := v.(string)
			if !ok {
				t.Fatalf("%s has a non-string %#v", k, v)
			}
			out = append(out, s)
		}
		return out
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"} {
		v, _ := oidcDoc[k].(string)
		if !strings.HasPrefix(v, e.s.URL+"/") {
			t.Fatalf("%s = %q, not under the issuer", k, v)
		}
	}
	resp, _ := e.s.Do(t, tokGet(t, oidcDoc["jwks_uri"].(string)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("jwks_uri: %d", resp.StatusCode)
	}
	for k, want := range map[string][]string{
		"response_types_supported":              {"code", "id_token", "code id_token"},
		"subject_types_supported":               {"public"},
		"id_token_signing_alg_values_supported": {"RS256"},
		"scopes_supported":                      {"openid"},
		"grant_types_supported":                 {"authorization_code", "refresh_token", "client_credentials"},
		"code_challenge_methods_supported":      {"S256"},
		"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
		"claims_supported":                      {"sub", "iss", "aud", "exp", "iat", "auth_time", "email", "name"},
	} {
		got := strs(k)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s = %v lacks %q", k, got, w)
			}
		}
	}
	if algs := strs("id_token_signing_alg_values_supported"); slices.Contains(algs, "none") || slices.ContainsFunc(algs, func(a string) bool { return strings.HasPrefix(a, "HS") }) {
		t.Errorf("id_token_signing_alg_values_supported = %v", algs)
	}
	if v := strs("code_challenge_methods_supported"); slices.Contains(v, "plain") {
		t.Errorf("plain advertised: %v", v)
	}

	asDoc := get("/.well-known/oauth-authorization-server")
	if asDoc["issuer"] != e.s.URL {
		t.Fatalf("RFC 8414 issuer %v, want %q", asDoc["issuer"], e.s.URL)
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "jwks_uri"} {
		if asDoc[k] != oidcDoc[k] {
			t.Errorf("%s differs: %v vs %v", k, asDoc[k], oidcDoc[k])
		}
	}

	if _, err := oidc.NewProvider(e.ctx, e.s.URL); err != nil {
		t.Fatalf("go-oidc: %v", err)
	}
	// go-oidc refuses a different issuer (a trailing slash is enough).
	if _, err := oidc.NewProvider(e.ctx, e.s.URL+"/"); err == nil {
		t.Fatal("go-oidc accepted a mismatching issuer")
	}
}

// T46: userinfo.
func TestT46_UserInfo(t *testing.T) {
	e := tokNew(t)
	c := e.client(t, authz.ClientSpec{})
	machine := e.client(t, authz.ClientSpec{GrantTypes: []string{"client_credentials"}})

	t.Run("GET and POST, sub equals the id_token sub", func(t *testing.T) {
		tok := e.login(t, c, "openid", "profile", "email")
		idt, err := e.provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(e.ctx, tokIDToken(t, tok))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			r := e.userinfo(t, m, tok.AccessToken)
			if r.Status != http.StatusOK || r.str("sub") != idt.Subject {
				t.Fatalf("%s: %s, want sub %s", m, r, idt.Subject)
			}
			if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Fatalf("%s: Cache-Control %q", m, cc)
			}
		}
		ui, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
		if err != nil || ui.Subject != idt.Subject {
			t.Fatalf("go-oidc UserInfo: %v %+v", err, ui)
		}
	})

	t.Run("claims follow scopes", func(t *testing.T) {
		for _, tc := range []struct {
			scopes            []string
			wantEmail, wantNm bool
		}{
			{[]string{"openid"}, false, false},
			{[]string{"openid", "email"}, true, false},
			{[]string{"openid", "profile"}, false, true},
			{[]string{"openid", "profile", "email"}, true, true},
		} {
			t.Run(strings.Join(tc.scopes, "+"), func(t *testing.T) {
				tok := e.login(t, c, tc.scopes...)
				r := e.userinfo(t, http.MethodGet, tok.AccessToken)
				if r.Status != http.StatusOK {
					t.Fatal(r)
				}
				_, hasEmail := r.Body["email"]
				_, hasName := r.Body["name"]
				_, hasUser := r.Body["preferred_username"]
				if hasEmail != tc.wantEmail || hasName != tc.wantNm || hasUser != tc.wantNm {
					t.Fatalf("claims %v for scopes %v", r.Body, tc.scopes)
				}
				// The id_token releases the same claims.
				cl := tokJWTPart(t, tokIDToken(t, tok), 1)
				_, idEmail := cl["email"]
				_, idName := cl["name"]
				if idEmail != tc.wantEmail || idName != tc.wantNm {
					t.Fatalf("id_token claims %v for scopes %v", cl, tc.scopes)
				}
			})
		}
	})

	t.Run("bad tokens", func(t *testing.T) {
		tok := e.login(t, c, "openid")
		for name, bad := range map[string]string{
			"garbage":                   "not-a-token",
			"unknown tolk_at_ token":    tokMustPrefixed(t, secret.PrefixAccessToken),
			"bad checksum":              tokFlipLast(tok.AccessToken),
			"refresh-token-shaped":      tokMustPrefixed(t, secret.PrefixRefreshToken),
			"three dots, not base64url": "a.b.c",
		} {
			t.Run(name, func(t *testing.T) {
				for _, m := range []string{http.MethodGet, http.MethodPost} {
					tokWantInvalidToken(t, e.userinfo(t, m, bad))
				}
			})
		}
		t.Run("no token", func(t *testing.T) {
			r := e.userinfo(t, http.MethodGet, "")
			if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s %q", r, r.Header.Get("WWW-Authenticate"))
			}
		})
	})

	t.Run("revoked", func(t *testing.T) {
		tok := e.login(t, c, "openid")
		if r := e.revoke(t, tok.AccessToken, c.basic()); r.Status != http.StatusOK {
			t.Fatal(r)
		}
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			tokWantInvalidToken(t, e.userinfo(t, m, tok.AccessToken))
		}
	})

	t.Run("client_credentials token", func(t *testing.T) {
		cfg := clientcredentials.Config{ClientID: machine.ID, ClientSecret: machine.Secret, TokenURL: e.s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cfg.Token(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		r := e.userinfo(t, http.MethodGet, tok.AccessToken)
		if r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
			t.Fatalf("want 401 or 403, got %s", r)
		}
		if r.Body["sub"] != nil {
			t.Fatalf("userinfo answered for an app token: %s", r)
		}
	})

	t.Run("token without openid", func(t *testing.T) {
		tok := e.login(t, c, "email")
		r := e.userinfo(t, http.MethodGet, tok.AccessToken)
		if r.Status != http.StatusForbidden || r.Body["email"] != nil {
			t.Fatalf("want 403 insufficient_scope, got %s", r)
		}
	})

	t.Run("expired", func(t *testing.T) {
		e := tokNew(t)
		c := e.client(t, authz.ClientSpec{})
		tok := e.login(t, c, "openid")
		if r := e.userinfo(t, http.MethodGet, tok.AccessToken); r.Status != http.StatusOK {
			t.Fatal(r)
		}
		e.s.Clock.Advance(15 * 24 * time.Hour)
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			tokWantInvalidToken(t, e.userinfo(t, m, tok.AccessToken))
		}
	})
}

// tokFlipLast changes the last character to a different one (a fixed
// replacement would equal the original once in 62 runs).
func tokFlipLast(s string) string {
	last := s[len(s)-1]
	repl := byte('x')
	if last == repl {
		repl = 'y'
	}
	return s[:len(s)-1] + string(repl)
}
