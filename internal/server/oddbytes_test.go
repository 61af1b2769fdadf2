package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// oddEnv is one server with what the odd-byte requests need: an app, a
// signed-in admin browser with its CSRF token, and an admin ApiToken.
type oddEnv struct {
	s        *tolktest.Server
	client   store.Client
	secret   string
	admin    *oauthflow.Browser
	csrf     string
	apiToken string
}

func newOddEnv(t *testing.T, postgres bool) *oddEnv {
	t.Helper()
	s := tolktest.New(t, tolktest.Options{Postgres: postgres})
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{
		OrgUID: org.UID, Name: "odd bytes", RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials},
		Scopes:     []string{"openid", "public"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &oddEnv{s: s, client: c, secret: sec, admin: oauthflow.New(t, s.URL)}
	e.admin.Login(t, "admin", tolktest.AdminPassword)
	e.csrf = oauthflow.HiddenFields(e.admin.Get(t, "/settings/oauth-apps/new").Body).Get("csrf_token")
	if e.csrf == "" {
		t.Fatal("no CSRF token on the settings page")
	}
	admin, err := s.Store.GetUserByUserName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	// A standing consent, so that an authorization request is answered
	// at once (and reaches the store) without the consent page.
	if err := s.Store.SaveConsent(ctx, store.Consent{UserUID: admin.UID, ClientID: c.ID, Scopes: []string{"openid", "public"}, GrantedAt: s.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	resp, body := send(t, s, http.MethodPost, "/api2/v1/auth/login", loginBody("admin", tolktest.AdminPassword), "Content-Type", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("TMS login: %d %s", resp.StatusCode, body)
	}
	_, tok, _ := strings.Cut(body, `"token":"`)
	e.apiToken, _, _ = strings.Cut(tok, `"`)
	return e
}

// status sends a request without a session; hdr are header pairs.
func (e *oddEnv) status(t *testing.T, method, path, body string, hdr ...string) int {
	t.Helper()
	req, err := http.NewRequest(method, e.s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, _ := e.s.Do(t, req)
	return resp.StatusCode
}

// form posts form to path without a session.
func (e *oddEnv) form(t *testing.T, path string, form url.Values, hdr ...string) int {
	t.Helper()
	return e.status(t, http.MethodPost, path, form.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)...)
}

// adminGet and adminPost act as the signed-in admin.
func (e *oddEnv) adminGet(t *testing.T, path string) int {
	t.Helper()
	return e.admin.Get(t, path).Status
}

func (e *oddEnv) adminPost(t *testing.T, path string, form url.Values) int {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", e.csrf)
	return e.admin.Post(t, path, form).Status
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// TestT43_OddBytesAnswerAlikeOnEveryBackend sends ids, names and tokens
// holding NUL or invalid UTF-8 wherever a request names something the
// store looks up or keeps. PostgreSQL refuses such text where SQLite
// stores or compares it: each request must be refused (or answered) as
// the input deserves, identically on both backends, without an ERROR log
// line.
func TestT43_OddBytesAnswerAlikeOnEveryBackend(t *testing.T) {
	const nul, ff = "a\x00b", "a\xffb"
	const pathID = "%00%ff"
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	authorize := func(kv ...string) string { return "/oauth/authorize?" + form(kv...).Encode() }
	type oddCase struct {
		name string
		want int
		do   func(t *testing.T, e *oddEnv) int
	}
	cases := []oddCase{
		// The authorization endpoint: an unknown client is a page, never
		// a redirect (RFC 9700 §4.11.2).
		{"authorize client_id NUL", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodGet, authorize("client_id", nul, "response_type", "code"), "")
		}},
		{"authorize client_id 0xFF", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodGet, authorize("client_id", ff, "response_type", "code"), "")
		}},
		{"authorize POST client_id NUL", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/oauth/authorize", form("client_id", nul, "response_type", "code"))
		}},
		{"consent answer client_id 0xFF", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/oauth/authorize", form("client_id", ff, "response_type", "code", "consent_action", "allow"))
		}},
		// A nonce is kept with the code: refused as invalid_request at
		// the redirect URI.
		{"authorize nonce NUL", http.StatusSeeOther, func(t *testing.T, e *oddEnv) int {
			p := e.admin.Get(t, authorize("client_id", e.client.ID, "redirect_uri", "https://app.example/cb", "response_type", "code",
				"scope", "openid", "state", "s", "nonce", nul))
			if p.Location == nil || p.Location.Query().Get("error") != "invalid_request" {
				t.Errorf("nonce NUL: %d %v, want an invalid_request redirect", p.Status, p.Location)
			}
			return p.Status
		}},
		// Client authentication: invalid_client, counted as a failure.
		{"token client_id NUL (post)", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/token", form("grant_type", "client_credentials", "client_id", nul, "client_secret", "x"))
		}},
		{"token client_id 0xFF (post)", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/token", form("grant_type", "client_credentials", "client_id", ff, "client_secret", "x"))
		}},
		{"token client_id NUL (none)", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/token", form("grant_type", "authorization_code", "client_id", nul, "code", "x"))
		}},
		{"token Basic a%FF", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/token", form("grant_type", "client_credentials"), "Authorization", basic("a%FF", "x"))
		}},
		{"token Basic a%00", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/token", form("grant_type", "client_credentials"), "Authorization", basic("a%00", "x"))
		}},
		{"introspect client_id NUL", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/introspect", form("client_id", nul, "client_secret", "x", "token", "t"))
		}},
		{"revoke Basic a%FF", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/revoke", form("token", "t"), "Authorization", basic("a%FF", "x"))
		}},
		// Credentials presented by an authenticated client.
		{"token code NUL", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/token", form("grant_type", "authorization_code", "code", nul, "redirect_uri", "https://app.example/cb"),
				"Authorization", basic(e.client.ID, e.secret))
		}},
		{"token refresh_token 0xFF", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/token", form("grant_type", "refresh_token", "refresh_token", "tolk_rt_"+ff), "Authorization", basic(e.client.ID, e.secret))
		}},
		{"token exchange subject_token NUL", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/token", form("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange",
				"subject_token", "tolk_pt_"+nul, "subject_token_type", "urn:ietf:params:oauth:token-type:access_token"))
		}},
		// Introspection and revocation answer an unknown token with 200
		// (RFC 7662 §2.2, RFC 7009 §2.2).
		{"introspect token NUL", http.StatusOK, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/introspect", form("token", "tolk_at_"+nul), "Authorization", basic(e.client.ID, e.secret))
		}},
		{"revoke token 0xFF", http.StatusOK, func(t *testing.T, e *oddEnv) int {
			return e.form(t, "/oauth/revoke", form("token", "tolk_rt_"+ff), "Authorization", basic(e.client.ID, e.secret))
		}},
		// Bearer credentials at the resources.
		{"userinfo Bearer 0xFF", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodGet, "/userinfo", "", "Authorization", "Bearer tolk_at_"+ff)
		}},
		{"/v2/user token 0xFF", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodGet, "/v2/user", "", "Authorization", "token "+ff)
		}},
		{"/user API key 0xFF", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodGet, "/user", "", "X-Proz-API-Key", ff)
		}},
		{"/auth/verify ?token=NUL", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodGet, "/auth/verify?token="+url.QueryEscape(nul), "")
		}},
		// User names at every sign-in.
		{"TMS login userName NUL", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodPost, "/api2/v1/auth/login", `{"userName":"a\u0000b","password":"x"}`, "Content-Type", "application/json")
		}},
		{"TMS whoAmI ApiToken 0xFF", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodGet, "/api2/v1/auth/whoAmI", "", "Authorization", "ApiToken "+ff)
		}},
		{"TMS loginOther userName NUL", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodPost, "/api2/v1/auth/loginOther", `{"userName":"a\u0000b"}`,
				"Content-Type", "application/json", "Authorization", "ApiToken "+e.apiToken)
		}},
		{"web login username NUL", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			b := oauthflow.New(t, e.s.URL)
			f := oauthflow.HiddenFields(b.Get(t, "/login").Body)
			f.Set("username", nul)
			f.Set("password", "x")
			return b.Post(t, "/login", f).Status
		}},
		{"Strings Basic user NUL", http.StatusUnauthorized, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodGet, "/v2/authorizations", "", "Authorization", basic(nul, "x"))
		}},
		// Path ids of the settings pages and the Strings API.
		{"GET oauth-apps/{id}", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.adminGet(t, "/settings/oauth-apps/"+pathID)
		}},
		{"POST oauth-apps/{id}", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/oauth-apps/"+pathID, form("name", "x", "redirect_uris", "https://app.example/cb"))
		}},
		{"POST oauth-apps/{id}/delete", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/oauth-apps/"+pathID+"/delete", nil)
		}},
		{"POST authorized-apps/{id}/revoke", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/authorized-apps/"+pathID+"/revoke", nil)
		}},
		{"POST access-tokens/{id}/revoke", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/access-tokens/"+pathID+"/revoke", nil)
		}},
		{"POST api-keys/{id}/revoke", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/api-keys/"+pathID+"/revoke", nil)
		}},
		{"POST api-keys user NUL", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/api-keys", form("user", nul, "note", "n"))
		}},
		{"POST users/{uid}/role", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/users/"+pathID+"/role", form("role", "ADMIN"))
		}},
		{"POST users/{uid}/deactivate", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/users/"+pathID+"/deactivate", nil)
		}},
		{"POST users/{uid}/reactivate", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/users/"+pathID+"/reactivate", nil)
		}},
		{"GET audit ?user=NUL", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminGet(t, "/settings/audit?user="+url.QueryEscape(nul))
		}},
		{"GET audit ?before=cursor 0xFF", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminGet(t, "/settings/audit?before="+url.QueryEscape("1."+ff))
		}},
		{"GET /v2/authorizations/{id}", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodGet, "/v2/authorizations/"+pathID, "", "Authorization", basic("admin", tolktest.AdminPassword))
		}},
		{"PATCH /v2/authorizations/{id}", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodPatch, "/v2/authorizations/"+pathID, `{"note":"x"}`,
				"Authorization", basic("admin", tolktest.AdminPassword), "Content-Type", "application/json")
		}},
		{"DELETE /v2/authorizations/{id}", http.StatusNotFound, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodDelete, "/v2/authorizations/"+pathID, "", "Authorization", basic("admin", tolktest.AdminPassword))
		}},
		// Names the store keeps.
		{"Strings note NUL", http.StatusUnprocessableEntity, func(t *testing.T, e *oddEnv) int {
			return e.status(t, http.MethodPost, "/v2/authorizations", `{"note":"a\u0000b"}`,
				"Authorization", basic("admin", tolktest.AdminPassword), "Content-Type", "application/json")
		}},
		{"new app name NUL", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/oauth-apps/new", form("name", nul, "redirect_uris", "https://app.example/cb", "grant_types", "authorization_code"))
		}},
		{"app update name 0xFF", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/oauth-apps/"+e.client.ID, form("name", ff, "redirect_uris", "https://app.example/cb", "grant_types", "authorization_code"))
		}},
		{"new app redirect URI 0xFF", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/oauth-apps/new", form("name", "n", "redirect_uris", "https://app.example/"+ff, "grant_types", "authorization_code"))
		}},
		{"new access token name NUL", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/access-tokens", form("name", nul))
		}},
		{"new API key note NUL", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/api-keys", form("user", "", "note", nul))
		}},
		{"new user name NUL", http.StatusBadRequest, func(t *testing.T, e *oddEnv) int {
			return e.adminPost(t, "/settings/users", form("username", nul, "email", "n@example.com", "password", "a-long-password-1", "role", "LINGUIST"))
		}},
	}

	backends := []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}}
	got := map[string][]int{}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newOddEnv(t, b.postgres)
			for _, tc := range cases {
				before := len(e.s.Logs.String())
				st := tc.do(t, e)
				got[tc.name] = append(got[tc.name], st)
				if st != tc.want {
					t.Errorf("%s: status %d, want %d", tc.name, st, tc.want)
				}
				e.s.Tolk.Audit.Flush()
				for _, line := range strings.Split(e.s.Logs.String()[before:], "\n") {
					if strings.Contains(line, "level=ERROR") {
						t.Errorf("%s: logged %s", tc.name, line)
					}
				}
			}
		})
	}
	for _, tc := range cases {
		if st := got[tc.name]; len(st) == 2 && st[0] != st[1] {
			t.Errorf("%s: sqlite %d, postgres %d", tc.name, st[0], st[1])
		}
	}
}

// TestT43_OddIDsCountAsFailures: a client id or user name no backend
// could hold is a failed client authentication or sign-in like any
// other, counted toward the address's failure limit on both backends.
func TestT43_OddIDsCountAsFailures(t *testing.T) {
	limits := func(c *config.Config) { c.LoginIPBurst, c.LoginIPInterval = 3, time.Minute }
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "sqlite", true: "postgres"}[pg]
		t.Run(name, func(t *testing.T) {
			s := tolktest.New(t, tolktest.Options{Postgres: pg, Config: limits})
			e := &oddEnv{s: s}
			attempts := map[string]func(i int) int{
				"client_id": func(i int) int {
					return e.form(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"},
						"client_id": {fmt.Sprintf("c%d\x00\xff", i)}, "client_secret": {"x"}})
				},
				"userName": func(i int) int {
					return e.status(t, http.MethodPost, "/api2/v1/auth/login", fmt.Sprintf(`{"userName":"u%d\u0000","password":"x"}`, i),
						"Content-Type", "application/json")
				},
			}
			for what, try := range attempts {
				for i := range 3 {
					if st := try(i); st != http.StatusUnauthorized {
						t.Fatalf("%s %d: %d, want 401", what, i+1, st)
					}
				}
				if st := try(3); st != http.StatusTooManyRequests {
					t.Errorf("%s past the address's burst: %d, want 429", what, st)
				}
			}
		})
	}
}
