package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/pat"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// creds are every kind of credential of one user, all issued for real.
type creds struct {
	apiToken, access, refresh, pat, apiKey, platform, jwt string
	clientID, clientSecret                                string
	browser                                               *oauthflow.Browser
}

// issueAll signs user in on the web and obtains an ApiToken (TMS login),
// OAuth access and refresh tokens (authorization code flow), a PAT, an
// API key and a Platform API token with a JWT exchanged from it.
func issueAll(t *testing.T, s *tolktest.Server, u store.User, pw string) creds {
	t.Helper()
	ctx := context.Background()
	var c creds
	resp, body := postJSON(t, s, "/api2/v1/auth/login", map[string]string{"userName": u.UserName, "password": pw})
	if resp.StatusCode != 200 {
		t.Fatalf("TMS login: %d %s", resp.StatusCode, body)
	}
	var login struct{ Token string }
	json.Unmarshal(body, &login)
	c.apiToken = login.Token

	admin, err := s.Store.GetUserByUserName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	cl, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: admin.OrgUID, Name: "CAT tool " + rand.Text()[:8],
		RedirectURIs: []string{"http://127.0.0.1:9/cb"}, Scopes: []string{"openid", "offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	c.clientID, c.clientSecret = cl.ID, sec
	c.browser = oauthflow.New(t, s.URL)
	p := c.browser.Authorize(t, s.URL+"/oauth/authorize?"+url.Values{"response_type": {"code"}, "client_id": {cl.ID},
		"redirect_uri": {"http://127.0.0.1:9/cb"}, "scope": {"openid offline_access"}, "state": {"st"}}.Encode(), u.UserName, pw, "allow")
	code := ""
	if p.Location != nil {
		code = p.Location.Query().Get("code")
	}
	if code == "" {
		t.Fatalf("authorize: %d %v %s", p.Status, p.Location, p.Body)
	}
	tok := tokenRequest(t, s, c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:9/cb"}})
	c.access, c.refresh = tok["access_token"], tok["refresh_token"]
	if c.access == "" || c.refresh == "" {
		t.Fatalf("token: %v", tok)
	}

	note := "deploy"
	_, c.pat, err = s.Tolk.PATs.Create(ctx, u, pat.Changes{Note: &note})
	if err != nil {
		t.Fatal(err)
	}
	if _, c.apiKey, err = s.Tolk.APIKeys.Create(ctx, u, "CAT"); err != nil {
		t.Fatal(err)
	}
	pt, err := s.Tolk.Platform.Create(ctx, u, "CI", s.Clock.Now().AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	c.platform = pt.Secret
	ex := tokenRequest(t, s, creds{}, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {c.platform}})
	if c.jwt = ex["access_token"]; c.jwt == "" {
		t.Fatalf("exchange: %v", ex)
	}
	return c
}

func postJSON(t *testing.T, s *tolktest.Server, path string, v any) (*http.Response, []byte) {
	t.Helper()
	b, _ := json.Marshal(v)
	req, _ := http.NewRequest("POST", s.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return s.Do(t, req)
}

func tokenRequest(t *testing.T, s *tolktest.Server, c creds, form url.Values) map[string]string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.clientID != "" {
		req.SetBasicAuth(c.clientID, c.clientSecret)
	}
	resp, body := s.Do(t, req)
	out := map[string]string{}
	var raw map[string]any
	json.Unmarshal(body, &raw)
	for k, v := range raw {
		out[k] = fmt.Sprint(v)
	}
	out["status"] = fmt.Sprint(resp.StatusCode)
	return out
}

// whoAmI answers for a request with header h: v at TMS's whoAmI, or for a
// Strings PAT (which whoAmI refuses as another application's) at /v2/user.
func whoAmI(t *testing.T, s *tolktest.Server, h, v string) int {
	t.Helper()
	path := "/api2/v1/auth/whoAmI"
	if strings.HasPrefix(v, "token ") {
		path = "/v2/user"
	}
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.Header.Set(h, v)
	resp, _ := s.Do(t, req)
	return resp.StatusCode
}

func credentialChecks(c creds) []struct{ name, header, value string } {
	return []struct{ name, header, value string }{
		{"ApiToken", "Authorization", "ApiToken " + c.apiToken},
		{"OAuth access token", "Authorization", "Bearer " + c.access},
		{"PAT", "Authorization", "token " + c.pat},
		{"API key", "X-Proz-API-Key", c.apiKey},
		{"exchanged JWT", "Authorization", "Bearer " + c.jwt},
	}
}

// TestT38_DeactivationEndsEveryCredential: an admin deactivates a user in
// the UI; every credential of the user is refused at once on the same
// instance, the refresh family is gone, the web session ended; the user
// can no longer sign in. Reactivation restores sign-in.
func TestT38_DeactivationEndsEveryCredential(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			s := tolktest.New(t, tolktest.Options{Postgres: pg})
			lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
			c := issueAll(t, s, lena, "lena-password-1")
			checks := credentialChecks(c)
			for _, ch := range checks {
				if got := whoAmI(t, s, ch.header, ch.value); got != 200 {
					t.Fatalf("%s before deactivation: %d", ch.name, got)
				}
			}
			admin := appsAdmin(t, s)
			csrf := appsCSRF(t, admin, "/settings/users")
			p := admin.Post(t, "/settings/users/"+lena.UID+"/deactivate", url.Values{"csrf_token": {csrf}, "confirm": {"1"}})
			if p.Status != http.StatusSeeOther {
				t.Fatalf("deactivate: %d %s", p.Status, p.Body)
			}
			for _, ch := range checks {
				if got := whoAmI(t, s, ch.header, ch.value); got != 401 {
					t.Errorf("%s after deactivation: %d, want 401", ch.name, got)
				}
			}
			if tok := tokenRequest(t, s, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.refresh}}); tok["status"] != "400" {
				t.Errorf("refresh after deactivation: %v", tok)
			}
			if p := c.browser.Get(t, "/settings/access-tokens"); p.Status != http.StatusSeeOther {
				t.Errorf("web session after deactivation: %d", p.Status)
			}
			resp, _ := postJSON(t, s, "/api2/v1/auth/login", map[string]string{"userName": "lena", "password": "lena-password-1"})
			if resp.StatusCode != 401 {
				t.Errorf("login after deactivation: %d", resp.StatusCode)
			}
			p = admin.Post(t, "/settings/users/"+lena.UID+"/reactivate", url.Values{"csrf_token": {csrf}})
			if p.Status != http.StatusSeeOther {
				t.Fatalf("reactivate: %d", p.Status)
			}
			resp, _ = postJSON(t, s, "/api2/v1/auth/login", map[string]string{"userName": "lena", "password": "lena-password-1"})
			if resp.StatusCode != 200 {
				t.Errorf("login after reactivation: %d", resp.StatusCode)
			}
			// Sessions and tokens ended by deactivation stay ended.
			for _, ch := range checks[:2] {
				if got := whoAmI(t, s, ch.header, ch.value); got != 401 {
					t.Errorf("%s after reactivation: %d, want 401", ch.name, got)
				}
			}
		})
	}
}

func TestUsersPage(t *testing.T) {
	s := tolktest.New(t)
	admin := appsAdmin(t, s)
	p := admin.Get(t, "/settings/users")
	for _, want := range []string{`<label for="username">Username`, `<label for="email">Email`, `<label for="role">Role`,
		`<label for="password">Password`, "Create user", "admin@localhost.localdomain"} {
		if !strings.Contains(p.Body, want) {
			t.Fatalf("page lacks %q: %d %s", want, p.Status, p.Body)
		}
	}
	csrf := oauthflow.HiddenFields(p.Body).Get("csrf_token")
	p = admin.Post(t, "/settings/users", url.Values{"csrf_token": {csrf}, "username": {"mira"}, "email": {"mira@example.com"},
		"role": {"PROJECT_MANAGER"}, "password": {"mira-password-1"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.Status, p.Body)
	}
	mira, err := s.Store.GetUserByUserName(context.Background(), "mira")
	if err != nil || mira.Role != store.RoleProjectManager || !mira.Active {
		t.Fatalf("created: %+v %v", mira, err)
	}
	if b := oauthflow.New(t, s.URL); true {
		b.Login(t, "mira", "mira-password-1")
	}
	p = admin.Post(t, "/settings/users/"+mira.UID+"/role", url.Values{"csrf_token": {csrf}, "role": {"GUEST"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("role: %d %s", p.Status, p.Body)
	}
	if u, _ := s.Store.GetUser(context.Background(), mira.UID); u.Role != store.RoleGuest {
		t.Errorf("role = %s", u.Role)
	}
	p = admin.Get(t, "/settings/users")
	if !strings.Contains(p.Body, `<label for="role-`+mira.UID+`" class="visually-hidden">Role of mira</label>`) {
		t.Errorf("row form unlabelled: %s", p.Body)
	}

	tests := []struct {
		name   string
		form   url.Values
		status int
	}{
		{"taken", url.Values{"username": {"MIRA"}, "email": {"x@example.com"}, "role": {"GUEST"}, "password": {"long-enough-1"}}, 409},
		{"bad email", url.Values{"username": {"x"}, "email": {"nope"}, "role": {"GUEST"}, "password": {"long-enough-1"}}, 400},
		{"bad role", url.Values{"username": {"x"}, "email": {"x@example.com"}, "role": {"ROOT"}, "password": {"long-enough-1"}}, 400},
		{"short password", url.Values{"username": {"x"}, "email": {"x@example.com"}, "role": {"GUEST"}, "password": {"short"}}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("csrf_token", csrf)
			if p := admin.Post(t, "/settings/users", tt.form); p.Status != tt.status {
				t.Errorf("status %d, want %d: %s", p.Status, tt.status, p.Body)
			} else if strings.Contains(p.Body, "long-enough-1") {
				t.Error("password echoed")
			}
		})
	}
}

func TestUsersPageRefusals(t *testing.T) {
	s := tolktest.New(t)
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	admin := appsAdmin(t, s)
	csrf := appsCSRF(t, admin, "/settings/users")
	adminUser, _ := s.Store.GetUserByUserName(context.Background(), "admin")
	linguist := oauthflow.New(t, s.URL)
	linguist.Login(t, "lena", "lena-password-1")
	lcsrf := appsCSRF(t, linguist, "/")

	tests := []struct {
		name   string
		b      *oauthflow.Browser
		method string
		path   string
		form   url.Values
		status int
	}{
		{"non-admin list", linguist, "GET", "/settings/users", nil, 403},
		{"non-admin audit", linguist, "GET", "/settings/audit", nil, 403},
		{"non-admin create", linguist, "POST", "/settings/users", url.Values{"csrf_token": {lcsrf}, "username": {"x"}}, 403},
		{"non-admin deactivate", linguist, "POST", "/settings/users/" + adminUser.UID + "/deactivate", url.Values{"csrf_token": {lcsrf}}, 403},
		{"non-admin role", linguist, "POST", "/settings/users/" + lena.UID + "/role", url.Values{"csrf_token": {lcsrf}, "role": {"ADMIN"}}, 403},
		{"missing CSRF", admin, "POST", "/settings/users/" + lena.UID + "/deactivate", url.Values{}, 403},
		{"wrong CSRF", admin, "POST", "/settings/users/" + lena.UID + "/role", url.Values{"csrf_token": {"x"}, "role": {"ADMIN"}}, 403},
		{"unknown user", admin, "POST", "/settings/users/' OR 1=1--/deactivate", url.Values{"csrf_token": {csrf}}, 404},
		{"self deactivate", admin, "POST", "/settings/users/" + adminUser.UID + "/deactivate", url.Values{"csrf_token": {csrf}}, 400},
		{"self demote", admin, "POST", "/settings/users/" + adminUser.UID + "/role", url.Values{"csrf_token": {csrf}, "role": {"GUEST"}}, 400},
		{"bad role", admin, "POST", "/settings/users/" + lena.UID + "/role", url.Values{"csrf_token": {csrf}, "role": {"ROOT"}}, 400},
		{"bad audit filter", admin, "GET", "/settings/audit?type=nope", nil, 400},
		{"bad audit cursor", admin, "GET", "/settings/audit?before=x", nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *oauthflow.Page
			if tt.method == "GET" {
				p = tt.b.Get(t, tt.path)
			} else {
				p = tt.b.Post(t, tt.path, tt.form)
			}
			if p.Status != tt.status {
				t.Errorf("status %d, want %d", p.Status, tt.status)
			}
		})
	}
	for _, name := range []string{"admin", "lena"} {
		u, _ := s.Store.GetUserByUserName(context.Background(), name)
		if !u.Active || (name == "lena" && u.Role != store.RoleLinguist) || (name == "admin" && u.Role != store.RoleAdmin) {
			t.Errorf("%s changed: %+v", name, u)
		}
	}
	if p := oauthflow.New(t, s.URL).Get(t, "/settings/users"); p.Status != http.StatusSeeOther {
		t.Errorf("signed out: %d", p.Status)
	}
}
