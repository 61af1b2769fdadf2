package web_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestT29_RevokingAnAppEndsItsTokens: Settings → Authorized apps → Revoke
// ends every access and refresh token of the user's grant to the app, at
// once and on every instance (SECURITY.md T29, ASVS 10.7.3), and the page
// says so. Two instances share one database (a SQLite file, a PostgreSQL
// database); the user revokes at one, the app's tokens stop working at
// both, opaque and JWT access tokens alike.
func TestT29_RevokingAnAppEndsItsTokens(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, jwt := range []bool{false, true} {
			name := backend + "/opaque"
			if jwt {
				name = backend + "/jwt"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				a := tolktest.New(t, tolktest.Options{Postgres: backend == "postgres"})
				// One issuer for both, as in a cluster behind one URL.
				b := tolktest.New(t, tolktest.Options{DSN: a.Tolk.Config.DB, Config: func(c *config.Config) { c.Issuer = a.Tolk.Config.Issuer }})
				testRevokeEndsTokens(t, a, b, jwt)
			})
		}
	}
}

func testRevokeEndsTokens(t *testing.T, a, b *tolktest.Server, jwt bool) {
	ctx := context.Background()
	const redirect = "http://127.0.0.1:9/cb"
	c, sec, err := a.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{
		OrgUID: adminOrg(t, a), Name: "Sync Tool " + rand.Text()[:8], RedirectURIs: []string{redirect},
		Scopes: []string{"openid", "profile", "offline_access"}, JWTAccessTokens: jwt,
	})
	if err != nil {
		t.Fatal(err)
	}
	// token posts form to a server's token endpoint as the app.
	token := func(s *tolktest.Server, form url.Values) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(sec))
		resp, body := s.Do(t, req)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("token response %d: %s", resp.StatusCode, body)
		}
		return resp.StatusCode, m
	}
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 appendix B
	authURL := a.URL + "/oauth/authorize?" + url.Values{
		"client_id": {c.ID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile offline_access"}, "state": {"st"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
	}.Encode()
	br := oauthflow.New(t, a.URL)
	p := br.Authorize(t, authURL, "admin", tolktest.AdminPassword, "allow")
	if p.Location == nil || oauthflow.Params(p.Location).Get("code") == "" {
		t.Fatalf("authorize: %d %v %s", p.Status, p.Location, p.Body)
	}
	st, tok := token(a, url.Values{"grant_type": {"authorization_code"}, "code": {oauthflow.Params(p.Location).Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}})
	access, _ := tok["access_token"].(string)
	refresh, _ := tok["refresh_token"].(string)
	if st != http.StatusOK || access == "" || refresh == "" {
		t.Fatalf("code exchange: %d %v", st, tok)
	}
	// A refresh at the other instance works, and its pair is ended too.
	st, tok = token(b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	access2, _ := tok["access_token"].(string)
	refresh2, _ := tok["refresh_token"].(string)
	if st != http.StatusOK || access2 == "" || refresh2 == "" {
		t.Fatalf("refresh: %d %v", st, tok)
	}

	// active introspects tok at s; userinfo and verify present it as a
	// bearer token.
	active := func(s *tolktest.Server, tok string) bool {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(sec))
		resp, body := s.Do(t, req)
		var m map[string]any
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &m) != nil {
			t.Fatalf("introspect: %d %s", resp.StatusCode, body)
		}
		return m["active"] == true
	}
	bearer := func(s *tolktest.Server, path, tok string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, _ := s.Do(t, req)
		return resp.StatusCode
	}
	servers := map[string]*tolktest.Server{"instance a": a, "instance b": b}
	for name, s := range servers {
		for _, at := range []string{access, access2} {
			if act, st := active(s, at), bearer(s, "/userinfo", at); !act || st != http.StatusOK {
				t.Fatalf("%s: access token not working before the revoke: active %v, /userinfo %d", name, act, st)
			}
		}
	}
	// Instance a's /auth/verify caches the answer; the revoke, a write to
	// the same instance, must empty that cache.
	if st := bearer(a, "/auth/verify", access2); st != http.StatusOK {
		t.Fatalf("/auth/verify before the revoke: %d", st)
	}

	page := br.Get(t, "/settings/authorized-apps")
	if !strings.Contains(page.Body, "Sync Tool") || !strings.Contains(page.Body, "ends at once all access the app holds for your account") {
		t.Errorf("authorized apps page does not say that revoking ends the app's tokens:\n%s", page.Body)
	}
	r := br.Post(t, "/settings/authorized-apps/"+c.ID+"/revoke", oauthflow.HiddenFields(br.Get(t, "/settings/authorized-apps/"+c.ID+"/revoke").Body))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	done := br.Get(t, r.Location.String())
	if !strings.Contains(done.Body, `<p role="status">Access has been revoked: every token the app held for your account has been ended.</p>`) {
		t.Errorf("the page after revoking does not say the tokens were ended:\n%s", done.Body)
	}

	for name, s := range servers {
		for i, at := range []string{access, access2} {
			if active(s, at) {
				t.Errorf("%s: access token %d still active at introspection after the revoke", name, i+1)
			}
			if st := bearer(s, "/userinfo", at); st != http.StatusUnauthorized {
				t.Errorf("%s: /userinfo with access token %d: %d, want 401", name, i+1, st)
			}
		}
		for i, rt := range []string{refresh, refresh2} {
			if active(s, rt) {
				t.Errorf("%s: refresh token %d still active at introspection after the revoke", name, i+1)
			}
		}
	}
	// The current refresh token first: presenting the rotated one would
	// revoke the family as a reuse, whatever the revoke did.
	for _, s := range []*tolktest.Server{b, a} {
		for i, rt := range []string{refresh2, refresh} {
			st, tok := token(s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			if st != http.StatusBadRequest || tok["error"] != "invalid_grant" {
				t.Errorf("%s: refresh with refresh token %d: %d %v, want 400 invalid_grant", s.URL, 2-i, st, tok["error"])
			}
		}
	}
	if st := bearer(a, "/auth/verify", access2); st != http.StatusUnauthorized {
		t.Errorf("/auth/verify at the revoking instance: %d, want 401", st)
	}
	// The next authorization asks for consent again.
	if p := br.Authorize(t, authURL, "", "", ""); p.Status != http.StatusOK || !strings.Contains(p.Body, "consent_action") {
		t.Errorf("no consent page after the revoke: %d %v", p.Status, p.Location)
	}
}
