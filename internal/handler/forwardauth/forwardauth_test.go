package forwardauth_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
)

func get(t *testing.T, s *tolktest.Server, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, _ := s.Do(t, req)
	return resp
}

// TestVerify covers every dialect and every answer of GET /auth/verify.
func TestVerify(t *testing.T) {
	s := tolktest.New(t)
	u := s.CreateUser(t, "lena", store.RoleProjectManager, "lena-password-1")
	apiToken := verifytest.APIToken(t, s, "lena", "lena-password-1")
	patRead := verifytest.PAT(t, s, u, "read")
	clientID, opaque := verifytest.ClientCredentials(t, s, false, "read")
	_, ccJWT := verifytest.ClientCredentials(t, s, true, "read")
	platformJWT, _ := verifytest.PlatformJWT(t, s, u, "strings", "read")
	apiKey := verifytest.APIKey(t, s, u)
	basicPAT := "Basic " + base64.StdEncoding.EncodeToString([]byte(patRead+":"))

	for _, tc := range []struct {
		name      string
		path      string
		hdr       map[string]string
		status    int
		challenge string            // WWW-Authenticate, exact
		want      map[string]string // response headers; "" = absent
	}{
		{"no credentials", "/auth/verify", nil, 401, `Bearer realm="tolk"`, nil},
		{"bad ApiToken", "/auth/verify", map[string]string{"Authorization": "ApiToken " + strings.Repeat("x", 64)}, 401,
			`Bearer realm="tolk", error="invalid_token", error_description="the access token is invalid, expired or revoked"`, nil},
		{"unknown scheme", "/auth/verify", map[string]string{"Authorization": "Digest abc"}, 401,
			`Bearer realm="tolk", error="invalid_token", error_description="the access token is invalid, expired or revoked"`, nil},
		{"ApiToken", "/auth/verify", map[string]string{"Authorization": "ApiToken " + apiToken}, 200, "", map[string]string{
			"X-Auth-Subject": u.UID, "X-Auth-User": "lena", "X-Auth-Org": u.OrgUID, "X-Auth-Method": "apitoken",
			"X-Auth-Scopes": "", "X-Auth-Client": "", "Remote-User": "lena", "Remote-Email": u.Email}},
		{"ApiToken for tms", "/auth/verify?audience=tms", map[string]string{"Authorization": "ApiToken " + apiToken}, 200, "", nil},
		{"ApiToken of another application", "/auth/verify?audience=strings", map[string]string{"Authorization": "ApiToken " + apiToken}, 401,
			`Bearer realm="tolk", error="invalid_token", error_description="the token is not meant for this application"`, nil},
		{"PAT", "/auth/verify?scope=read&audience=strings", map[string]string{"Authorization": "token " + patRead}, 200, "",
			map[string]string{"X-Auth-Method": "pat", "X-Auth-Scopes": "read", "X-Auth-Subject": u.UID}},
		{"PAT as Bearer", "/auth/verify", map[string]string{"Authorization": "Bearer " + patRead}, 200, "", map[string]string{"X-Auth-Method": "pat"}},
		{"PAT as Basic user", "/auth/verify", map[string]string{"Authorization": basicPAT}, 200, "", map[string]string{"X-Auth-Method": "pat"}},
		{"PAT missing scope", "/auth/verify?scope=write", map[string]string{"Authorization": "token " + patRead}, 403,
			`Bearer realm="tolk", error="insufficient_scope", error_description="the token lacks a required scope", scope="write"`, nil},
		{"PAT missing one of comma-separated scopes", "/auth/verify?scope=read,write", map[string]string{"Authorization": "token " + patRead}, 403,
			`Bearer realm="tolk", error="insufficient_scope", error_description="the token lacks a required scope", scope="read write"`, nil},
		{"opaque client_credentials", "/auth/verify?scope=read", map[string]string{"Authorization": "Bearer " + opaque}, 200, "",
			map[string]string{"X-Auth-Subject": clientID, "X-Auth-Client": clientID, "X-Auth-Method": "bearer", "X-Auth-User": "", "Remote-User": ""}},
		{"OAuth JWT", "/auth/verify?scope=read", map[string]string{"Authorization": "Bearer " + ccJWT}, 200, "", map[string]string{"X-Auth-Method": "jwt"}},
		{"Platform JWT", "/auth/verify?audience=strings&scope=read", map[string]string{"Authorization": "Bearer " + platformJWT}, 200, "",
			map[string]string{"X-Auth-Method": "jwt", "X-Auth-Subject": u.UID, "X-Auth-User": "lena", "X-Auth-Audiences": "strings"}},
		{"Platform JWT of another application", "/auth/verify?audience=tms", map[string]string{"Authorization": "Bearer " + platformJWT}, 401,
			`Bearer realm="tolk", error="invalid_token", error_description="the token is not meant for this application"`, nil},
		{"API key", "/auth/verify?audience=tms&scope=write", map[string]string{"X-Proz-API-Key": apiKey}, 200, "",
			map[string]string{"X-Auth-Method": "apikey", "X-Auth-Subject": u.UID}},
		{"ApiToken in X-Original-URI", "/auth/verify", map[string]string{"X-Original-URI": "/api/x?a=1&token=" + apiToken}, 200, "",
			map[string]string{"X-Auth-Method": "apitoken"}},
		{"ApiToken in X-Forwarded-Uri", "/auth/verify", map[string]string{"X-Forwarded-Uri": "/api/x?token=" + apiToken}, 200, "", nil},
		{"token on the verify URL itself is ignored", "/auth/verify?token=" + apiToken, nil, 401, `Bearer realm="tolk"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, s, tc.path, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			for k, want := range tc.want {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestVerify_QueryTokenOff: with query_token off, a ?token= in the
// original URI is not a credential.
func TestVerify_QueryTokenOff(t *testing.T) {
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.QueryToken = false }})
	tok := verifytest.APIToken(t, s, "admin", tolktest.AdminPassword)
	if resp := get(t, s, "/auth/verify", map[string]string{"X-Original-URI": "/x?token=" + tok}); resp.StatusCode != 401 {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
}

// TestVerify_LogoutRefusedAtOnce: a cached ApiToken is refused as soon as
// it is logged out, though the cache bound has not passed.
func TestVerify_LogoutRefusedAtOnce(t *testing.T) {
	s := tolktest.New(t)
	tok := verifytest.APIToken(t, s, "admin", tolktest.AdminPassword)
	h := map[string]string{"Authorization": "ApiToken " + tok}
	for range 2 { // the second answer comes from the cache
		if resp := get(t, s, "/auth/verify", h); resp.StatusCode != 200 {
			t.Fatalf("before logout: %d", resp.StatusCode)
		}
	}
	verifytest.Logout(t, s, tok)
	if resp := get(t, s, "/auth/verify", h); resp.StatusCode != 401 {
		t.Fatalf("after logout: %d, want 401", resp.StatusCode)
	}
}

// TestVerify_CacheBound: a revocation made elsewhere (another instance,
// the CLI: here the store, behind this instance's services) is honoured
// once verify_cache_ttl has passed, and not later.
func TestVerify_CacheBound(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ttl     time.Duration
		advance time.Duration
		want    int
	}{
		{"within the bound the cached answer stands", 5 * time.Second, 4 * time.Second, 200},
		{"after the bound the revocation holds", 5 * time.Second, 5 * time.Second, 401},
		{"without a cache the revocation holds at once", 0, 0, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.VerifyCacheTTL = tc.ttl }})
			admin, err := s.Store.GetUserByUserName(context.Background(), "admin")
			if err != nil {
				t.Fatal(err)
			}
			pat, id := verifytest.PATWithID(t, s, admin, "read")
			h := map[string]string{"Authorization": "token " + pat}
			if resp := get(t, s, "/auth/verify", h); resp.StatusCode != 200 {
				t.Fatalf("before: %d", resp.StatusCode)
			}
			if err := s.Store.DeletePAT(context.Background(), admin.UID, id); err != nil {
				t.Fatal(err)
			}
			s.Clock.Advance(tc.advance)
			if resp := get(t, s, "/auth/verify", h); resp.StatusCode != tc.want {
				t.Fatalf("after revocation: %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestVerify_BrowserHeadersOnlyOnDenials: a 200 goes to the proxy alone,
// so it carries no browser-protection headers; a 401 or 403, which
// Traefik and Caddy relay to the browser, carries them; every answer is
// no-store.
func TestVerify_BrowserHeadersOnlyOnDenials(t *testing.T) {
	s := tolktest.New(t)
	tok := verifytest.APIToken(t, s, "admin", tolktest.AdminPassword)
	u := s.CreateUser(t, "mira", store.RoleProjectManager, "mira-password-1")
	patRead := verifytest.PAT(t, s, u, "read")
	browser := []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy", "Cross-Origin-Opener-Policy"}
	for _, tc := range []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
	}{
		{"allowed", "/auth/verify", map[string]string{"Authorization": "ApiToken " + tok}, 200},
		{"no credentials", "/auth/verify", nil, 401},
		{"missing scope", "/auth/verify?scope=write", map[string]string{"Authorization": "token " + patRead}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, s, tc.path, tc.hdr)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			// HTTP/1.0's Pragma only where a browser may see the answer.
			if got := resp.Header.Get("Pragma") != ""; got != (tc.status != 200) {
				t.Errorf("Pragma present=%v on a %d", got, tc.status)
			}
			for _, k := range browser {
				if got := resp.Header.Get(k) != ""; got != (tc.status != 200) {
					t.Errorf("%s present=%v on a %d", k, got, tc.status)
				}
			}
		})
	}
	// Every other route keeps them.
	resp := get(t, s, "/health/alive", nil)
	resp.Body.Close()
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatal("security headers missing on /health/alive")
	}
}

// TestVerify_OnlyRevocationsEmptyTheCache: requests that revoke nothing
// leave cached verifications alone, whatever their HTTP method — a token
// request that issues, one that fails without revoking, a login, an
// introspection — and a revocation empties the cache. The token row is
// deleted behind the cache's back (as another instance would) to see
// which answers come from the cache.
func TestVerify_OnlyRevocationsEmptyTheCache(t *testing.T) {
	s := tolktest.New(t)
	clientID, opaque := verifytest.ClientCredentials(t, s, false, "read")
	bearer := map[string]string{"Authorization": "Bearer " + opaque}
	status := func() int {
		resp := get(t, s, "/auth/verify", bearer)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != 200 {
		t.Fatalf("first verification: %d", got)
	}
	// The token is sealed: cut its id, as revoking it at another instance
	// would.
	c, err := s.Tolk.Authz.Sealer.Open(t.Context(), opaque)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store.CutAccessTokens(t.Context(), store.Cutoff{Key: store.TokenCutoffKey(c.IDString()),
		NotBefore: c.ExpiresAt, ExpiresAt: c.ExpiresAt}); err != nil {
		t.Fatalf("cut token: %v", err)
	}
	if got := status(); got != 200 {
		t.Fatalf("not answered from the cache: %d", got)
	}
	post := func(path, contentType, body string, basic ...string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if len(basic) == 2 {
			req.SetBasicAuth(basic[0], basic[1])
		}
		resp, _ := s.Do(t, req)
		if resp.StatusCode >= 500 {
			t.Fatalf("POST %s: %d", path, resp.StatusCode)
		}
	}
	form := "application/x-www-form-urlencoded"
	_, other := verifytest.ClientCredentials(t, s, false, "read") // a token request that issues
	post("/oauth/token", form, url.Values{"grant_type": {"authorization_code"}, "code": {"tolk_ac_not-a-code"}}.Encode())
	post("/api2/v1/auth/login", "application/json", `{"userName":"admin","password":"`+tolktest.AdminPassword+`"}`)
	post("/api2/v1/auth/login", "application/json", `{"userName":"admin","password":"wrong"}`)
	post("/oauth/introspect", form, url.Values{"token": {other}}.Encode(), clientID, "wrong secret")
	if got := status(); got != 200 {
		t.Fatalf("a request that revoked nothing emptied the cache: %d", got)
	}
	admin, err := s.Store.GetUserByUserName(t.Context(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	_, id := verifytest.PATWithID(t, s, admin, "read")
	if err := s.Tolk.PATs.Delete(t.Context(), admin, id); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != 401 {
		t.Fatalf("a revocation left the cache: %d", got)
	}
}
