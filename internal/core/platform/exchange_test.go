package platform_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/platform"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

const grantTE = "urn:ietf:params:oauth:grant-type:token-exchange"

var allApps = []string{"tms", "strings", "studio", "language-ai", "connectors"}

// newAPIToken creates an API token for a new user and returns both.
func newAPIToken(t testing.TB, s *tolktest.Server, userName string, expires time.Time) (store.User, platform.Created) {
	t.Helper()
	u := s.CreateUser(t, userName, store.RoleLinguist, "pw-"+userName+"-long-enough")
	c, err := s.Tolk.Platform.Create(context.Background(), u, "CI pipeline", expires)
	if err != nil {
		t.Fatal(err)
	}
	return u, c
}

// post sends a form without client authentication.
func post(t testing.TB, s *tolktest.Server, path string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := s.Do(t, req)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("POST %s: %d %q is not JSON", path, resp.StatusCode, body)
	}
	return resp, m
}

func exchangeForm(subject string, extra ...string) url.Values {
	f := url.Values{"grant_type": {grantTE}, "subject_token": {subject}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

// exchange exchanges an API token and returns the JWT, failing otherwise.
func exchange(t testing.TB, s *tolktest.Server, subject string, extra ...string) (string, map[string]any) {
	t.Helper()
	resp, m := post(t, s, "/oauth/token", exchangeForm(subject, extra...))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %v", resp.StatusCode, m)
	}
	jwt, _ := m["access_token"].(string)
	return jwt, m
}

// jwtParts decodes a compact JWT's header and claims without verifying.
func jwtParts(t testing.TB, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	dec := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

// whoAmI calls the TMS whoAmI with a bearer token.
func whoAmI(t testing.TB, s *tolktest.Server, tok string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/api2/v1/auth/whoAmI", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, body := s.Do(t, req)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

// introspector registers a confidential client in org and returns a
// function that introspects with it.
func introspector(t testing.TB, s *tolktest.Server, orgUID string) func(tok string) map[string]any {
	t.Helper()
	c, sec, err := s.Tolk.Authz.CreateClient(context.Background(), authz.ClientSpec{OrgUID: orgUID, Name: "resource server " + rand.Text()[:8],
		GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	return func(tok string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ID, sec)
		resp, body := s.Do(t, req)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("introspect: %d %s", resp.StatusCode, body)
		}
		return m
	}
}

func defaultOrg(t testing.TB, s *tolktest.Server) string {
	t.Helper()
	org, err := s.Store.DefaultOrganization(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return org.UID
}

// backends runs body on SQLite and on PostgreSQL (skipped without it,
// unless CI=true).
func backends(t *testing.T, body func(t *testing.T, s *tolktest.Server)) {
	for _, b := range []struct {
		name string
		pg   bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			body(t, tolktest.New(t, tolktest.Options{Postgres: b.pg}))
		})
	}
}

func TestExchangeSuccess(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, s *tolktest.Server) {
		u, c := newAPIToken(t, s, "pia", time.Time{})
		for _, path := range []string{"/oauth/token", "/idm/oauth/token"} {
			t.Run(path, func(t *testing.T) {
				resp, m := post(t, s, path, exchangeForm(c.Secret))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %v", resp.StatusCode, m)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				var keys []string
				for k := range m {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if want := []string{"access_token", "expires_in", "issued_token_type", "token_type"}; !slices.Equal(keys, want) {
					t.Errorf("response keys = %v, want exactly %v", keys, want)
				}
				if m["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" || m["token_type"] != "Bearer" || m["expires_in"] != float64(14399) {
					t.Errorf("response = %v", m)
				}
				jwt := m["access_token"].(string)
				hdr, cl := jwtParts(t, jwt)
				if hdr["typ"] != "at+jwt" || hdr["alg"] != "ES256" || hdr["kid"] == nil {
					t.Errorf("header = %v, want typ at+jwt, alg ES256 and a kid", hdr)
				}
				if cl["iss"] != s.URL || cl["sub"] != u.UID || cl["org_uid"] != u.OrgUID ||
					cl["client_id"] != platform.ClientIDPrefix+c.Token.ID || cl["jti"] == "" || cl["jti"] == nil {
					t.Errorf("claims = %v", cl)
				}
				// Not narrowed: the JWT names the user's whole access as
				// the whole catalog, since a JWT means exactly the scopes
				// it names (issue 15.11).
				if cl["scope"] != strings.Join(s.Tolk.Config.Scopes, " ") {
					t.Errorf("scope claim %v, want the whole catalog when no scope was asked for", cl["scope"])
				}
				var aud []string
				for _, a := range cl["aud"].([]any) {
					aud = append(aud, a.(string))
				}
				if !slices.Equal(aud, allApps) {
					t.Errorf("aud = %v, want every application %v", aud, allApps)
				}
				if iat, exp := cl["iat"].(float64), cl["exp"].(float64); exp-iat != 14399 || int64(iat) != s.Clock.Now().Unix() {
					t.Errorf("iat %v exp %v: want exp = iat + 14399 and iat = now", iat, exp)
				}
				if code, who := whoAmI(t, s, jwt); code != http.StatusOK || who["user"].(map[string]any)["userName"] != "pia" {
					t.Errorf("whoAmI with the JWT = %d %v", code, who)
				}
			})
		}
	})
}

func TestExchangeErrors(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	_, good := newAPIToken(t, s, "rita", time.Time{})
	_, soon := newAPIToken(t, s, "sam", s.Clock.Now().Add(time.Hour))
	revokedUser, revoked := newAPIToken(t, s, "tara", time.Time{})
	if err := s.Tolk.Platform.Revoke(context.Background(), revokedUser.UID, revoked.Token.ID); err != nil {
		t.Fatal(err)
	}
	// A well-formed token that was never issued.
	forged := "tolk_pt_" + strings.Repeat("A", 43)

	tests := []struct {
		name    string
		form    url.Values
		advance time.Duration
		status  int
		code    string
	}{
		{"missing subject_token", url.Values{"grant_type": {grantTE}}, 0, 400, "invalid_request"},
		{"unknown token", exchangeForm("tolk_pt_nonsense"), 0, 400, "invalid_request"},
		{"well-formed but never issued", exchangeForm(forged + "abcdef"), 0, 400, "invalid_request"},
		{"revoked token", exchangeForm(revoked.Secret), 0, 400, "invalid_request"},
		{"wrong subject_token_type", exchangeForm(good.Secret, "subject_token_type", "urn:ietf:params:oauth:token-type:access_token"), 0, 400, "invalid_request"},
		{"wrong requested_token_type", exchangeForm(good.Secret, "requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"), 0, 400, "invalid_request"},
		{"actor_token", exchangeForm(good.Secret, "actor_token", good.Secret), 0, 400, "invalid_request"},
		{"audience outside", exchangeForm(good.Secret, "audience", "billing"), 0, 400, "invalid_target"},
		{"resource outside", exchangeForm(good.Secret, "resource", "https://evil.example/api"), 0, 400, "invalid_target"},
		{"scope widening", exchangeForm(good.Secret, "scope", "read admin"), 0, 400, "invalid_scope"},
		{"malformed scope", exchangeForm(good.Secret, "scope", "read\\"), 0, 400, "invalid_scope"},
		{"repeated audience", url.Values{"grant_type": {grantTE}, "subject_token": {good.Secret}, "audience": {"tms", "strings"}}, 0, 400, "invalid_request"},
		{"unsupported grant", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "subject_token": {good.Secret}}, 0, 400, "unsupported_grant_type"},
		// Last: it moves the clock past the token's expiry.
		{"expired token", exchangeForm(soon.Secret), time.Hour, 400, "invalid_request"},
	}
	for _, tt := range tests {
		s.Clock.Advance(tt.advance)
		for _, path := range []string{"/oauth/token", "/idm/oauth/token"} {
			resp, m := post(t, s, path, tt.form)
			if resp.StatusCode != tt.status || m["error"] != tt.code {
				t.Errorf("%s at %s: %d %v, want %d %s", tt.name, path, resp.StatusCode, m, tt.status, tt.code)
			}
			if _, issued := m["access_token"]; issued {
				t.Errorf("%s at %s: an access_token was issued with an error", tt.name, path)
			}
			if d, _ := m["error_description"].(string); strings.Contains(d, "tolk_pt_") {
				t.Errorf("%s: the error description echoes the subject_token: %q", tt.name, d)
			}
		}
	}
	// Nothing was recorded for the failed exchanges of the good token:
	// it was never used.
	list, err := s.Tolk.Platform.List(context.Background(), good.Token.UserUID)
	if err != nil || len(list) != 1 || !list[0].LastUsedAt.IsZero() {
		t.Errorf("good token after failed exchanges = %+v, %v; want never used", list, err)
	}
}

func TestExchangeNarrowing(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	_, c := newAPIToken(t, s, "uma", time.Time{})
	catalog := strings.Join(s.Tolk.Config.Scopes, " ") // not narrowed: the whole catalog
	tests := []struct {
		name      string
		extra     []string
		wantAud   []string
		wantScope any
	}{
		{"audience", []string{"audience", "tms"}, []string{"tms"}, catalog},
		{"resource", []string{"resource", "strings"}, []string{"strings"}, catalog},
		{"audience and resource", []string{"audience", "tms", "resource", "studio"}, []string{"tms", "studio"}, catalog},
		{"empty scope narrows nothing", []string{"scope", ""}, allApps, catalog},
		{"scope", []string{"scope", "write read"}, allApps, "read write"},
		{"everything", []string{"audience", "connectors", "scope", "read"}, []string{"connectors"}, "read"},
	}
	for _, tt := range tests {
		jwt, m := exchange(t, s, c.Secret, tt.extra...)
		if _, ok := m["scope"]; ok {
			t.Errorf("%s: response has scope %v (it is exactly what was asked)", tt.name, m["scope"])
		}
		_, cl := jwtParts(t, jwt)
		var aud []string
		for _, a := range cl["aud"].([]any) {
			aud = append(aud, a.(string))
		}
		if !slices.Equal(aud, tt.wantAud) || cl["scope"] != tt.wantScope {
			t.Errorf("%s: aud %v scope %v, want %v %v", tt.name, aud, cl["scope"], tt.wantAud, tt.wantScope)
		}
	}
}

func TestLastUsedThrottled(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	u, c := newAPIToken(t, s, "vera", time.Time{})
	lastUsed := func() time.Time {
		list, err := s.Tolk.Platform.List(context.Background(), u.UID)
		if err != nil || len(list) != 1 {
			t.Fatalf("List = %v, %v", list, err)
		}
		return list[0].LastUsedAt
	}
	if !lastUsed().IsZero() {
		t.Fatal("a new token has a last-used time")
	}
	first := s.Clock.Now()
	exchange(t, s, c.Secret)
	steps := []struct {
		advance time.Duration
		want    time.Time
	}{
		{30 * time.Second, first},                          // within the minute: not written again
		{30 * time.Second, first.Add(time.Minute)},         // a minute later: written
		{10 * time.Second, first.Add(time.Minute)},         // again within the minute
		{time.Hour, first.Add(time.Hour + 70*time.Second)}, // much later
	}
	if got := lastUsed(); !got.Equal(first) {
		t.Fatalf("last used after the first exchange = %v, want %v", got, first)
	}
	for i, st := range steps {
		s.Clock.Advance(st.advance)
		exchange(t, s, c.Secret)
		if got := lastUsed(); !got.Equal(st.want) {
			t.Errorf("step %d: last used = %v, want %v", i, got, st.want)
		}
	}
}

func TestIntrospectExchangedJWT(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	u, c := newAPIToken(t, s, "wendy", time.Time{})
	jwt, _ := exchange(t, s, c.Secret, "audience", "tms", "scope", "read")
	got := introspector(t, s, defaultOrg(t, s))(jwt)
	want := map[string]any{"active": true, "scope": "read", "client_id": platform.ClientIDPrefix + c.Token.ID, "username": "wendy",
		"token_type": "Bearer", "sub": u.UID, "aud": []any{"tms"}, "iss": s.URL, "org_uid": u.OrgUID,
		"exp": float64(s.Clock.Now().Unix() + 14399), "iat": float64(s.Clock.Now().Unix())}
	for k, v := range want {
		if gv, _ := json.Marshal(got[k]); string(gv) != mustJSON(v) {
			t.Errorf("introspection %s = %s, want %s", k, gv, mustJSON(v))
		}
	}
	// A client of another organization learns nothing.
	other := store.Organization{UID: "00000000-0000-4000-8000-000000000042", Name: "Other", CreatedAt: s.Clock.Now()}
	if err := s.Store.CreateOrganization(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if got := introspector(t, s, other.UID)(jwt); got["active"] != false || len(got) != 1 {
		t.Errorf("introspection by another organization's client = %v, want only active=false", got)
	}
	// Expired.
	s.Clock.Advance(14399 * time.Second)
	if got := introspector(t, s, defaultOrg(t, s))(jwt); got["active"] != false {
		t.Errorf("introspection after exp = %v, want inactive", got)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestExchangeRS256Configurable(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.ExchangeAlg = "RS256" }})
	_, c := newAPIToken(t, s, "xena", time.Time{})
	jwt, _ := exchange(t, s, c.Secret)
	if hdr, _ := jwtParts(t, jwt); hdr["alg"] != "RS256" || hdr["typ"] != "at+jwt" {
		t.Errorf("header = %v, want RS256 at+jwt", hdr)
	}
	if code, _ := whoAmI(t, s, jwt); code != http.StatusOK {
		t.Errorf("whoAmI with an RS256 exchanged JWT = %d", code)
	}
}

// TestExchangeEdDSAConfigurable: with exchange_alg EdDSA the exchanged JWT
// is signed by the Ed25519 key the server made at start (header alg
// EdDSA, its kid in the JWKS as an OKP key), and tolk accepts it.
func TestExchangeEdDSAConfigurable(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.ExchangeAlg = "EdDSA" }})
	_, c := newAPIToken(t, s, "edda", time.Time{})
	jwt, _ := exchange(t, s, c.Secret)
	hdr, _ := jwtParts(t, jwt)
	if hdr["alg"] != "EdDSA" || hdr["typ"] != "at+jwt" {
		t.Errorf("header = %v, want EdDSA at+jwt", hdr)
	}
	set, err := s.Tolk.Keys.PublicJWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(hdr["kid"].(string))
	if len(keys) != 1 || keys[0].Algorithm != "EdDSA" {
		t.Fatalf("JWKS keys for kid %v: %+v", hdr["kid"], keys)
	}
	if code, _ := whoAmI(t, s, jwt); code != http.StatusOK {
		t.Errorf("whoAmI with an EdDSA exchanged JWT = %d", code)
	}
}

// TestExchangeSubjectCache: the exchange checks its subject_token as
// /auth/verify checks a credential. A revocation this instance did not see
// (another instance, the CLI: here, the store directly) is refused within
// verify_cache_ttl; one that comes through this instance — any write
// request — is refused at once; with verify_cache_ttl 0 every exchange
// reads the token.
func TestExchangeSubjectCache(t *testing.T) {
	t.Parallel()
	refused := func(t *testing.T, s *tolktest.Server, secret, when string) {
		t.Helper()
		if resp, m := post(t, s, "/oauth/token", exchangeForm(secret)); resp.StatusCode != 400 || m["error"] != "invalid_request" {
			t.Errorf("exchange %s = %d %v, want invalid_request", when, resp.StatusCode, m)
		}
	}
	t.Run("bounded by verify_cache_ttl", func(t *testing.T) {
		t.Parallel()
		s := tolktest.New(t)
		u, c := newAPIToken(t, s, "cara", time.Time{})
		exchange(t, s, c.Secret)
		if err := s.Store.DeletePlatformToken(context.Background(), u.UID, c.Token.ID); err != nil {
			t.Fatal(err)
		}
		s.Clock.Advance(4 * time.Second)
		exchange(t, s, c.Secret) // within the 5 s bound: the earlier lookup
		s.Clock.Advance(time.Second)
		refused(t, s, c.Secret, "verify_cache_ttl after an unseen revocation")
	})
	t.Run("a write on this instance forgets at once", func(t *testing.T) {
		t.Parallel()
		s := tolktest.New(t)
		u, c := newAPIToken(t, s, "dana", time.Time{})
		_, other := newAPIToken(t, s, "dana2", time.Time{})
		exchange(t, s, c.Secret)
		if err := s.Store.DeletePlatformToken(context.Background(), u.UID, c.Token.ID); err != nil {
			t.Fatal(err)
		}
		// Any state-changing request, here another user's revocation.
		revokeInUI(t, s, "dana2", other.Token.ID)
		refused(t, s, c.Secret, "after a write request")
	})
	t.Run("verify_cache_ttl 0 reads every time", func(t *testing.T) {
		t.Parallel()
		s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.VerifyCacheTTL = 0 }})
		u, c := newAPIToken(t, s, "erin", time.Time{})
		exchange(t, s, c.Secret)
		if err := s.Store.DeletePlatformToken(context.Background(), u.UID, c.Token.ID); err != nil {
			t.Fatal(err)
		}
		refused(t, s, c.Secret, "without the cache")
	})
}

// TestExchangeTouchKeepsCacheBound: the last-used update of a cached
// subject token does not make the lookup live longer. With a cache bound
// longer than the touch interval, a token revoked elsewhere is refused
// once the bound has passed, though exchanges kept touching it meanwhile.
func TestExchangeTouchKeepsCacheBound(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.VerifyCacheTTL = 2 * time.Minute }})
	u, c := newAPIToken(t, s, "fay", time.Time{})
	exchange(t, s, c.Secret)
	if err := s.Store.DeletePlatformToken(context.Background(), u.UID, c.Token.ID); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(61 * time.Second) // past platform.TouchEvery: this exchange touches
	exchange(t, s, c.Secret)
	s.Clock.Advance(61 * time.Second) // 122 s after the lookup
	if resp, m := post(t, s, "/oauth/token", exchangeForm(c.Secret)); resp.StatusCode != 400 || m["error"] != "invalid_request" {
		t.Errorf("exchange past verify_cache_ttl of a revoked token = %d %v, want invalid_request", resp.StatusCode, m)
	}
}
