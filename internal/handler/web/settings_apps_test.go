package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

var (
	appsClientIDRE = regexp.MustCompile(`<code id="client_id">([A-Za-z0-9]+)</code>`)
	appsSecretRE   = regexp.MustCompile(`<code id="client_secret">([^<]+)</code>`)
)

// appsAdmin returns a browser signed in as the bootstrapped admin.
func appsAdmin(t *testing.T, s *tolktest.Server) *oauthflow.Browser {
	t.Helper()
	b := oauthflow.New(t, s.URL)
	b.Login(t, "admin", tolktest.AdminPassword)
	return b
}

// appsCSRF fetches a page and returns its CSRF token.
func appsCSRF(t *testing.T, b *oauthflow.Browser, path string) string {
	t.Helper()
	p := b.Get(t, path)
	if p.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, p.Status, p.Body)
	}
	tok := oauthflow.HiddenFields(p.Body).Get("csrf_token")
	if tok == "" {
		t.Fatalf("GET %s: no csrf_token", path)
	}
	return tok
}

// appsForm is a valid registration form.
func appsForm(csrf, name string, extra url.Values) url.Values {
	f := url.Values{
		"csrf_token":    {csrf},
		"name":          {name},
		"redirect_uris": {"https://app.example/cb\r\nhttp://localhost:8080/cb\r\n"},
		"description":   {"An app for tests"},
		"grant_types":   {"authorization_code", "refresh_token"},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func appsList(t *testing.T, s *tolktest.Server, org string) []store.Client {
	t.Helper()
	cs, err := s.Store.ListClients(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func adminOrg(t *testing.T, s *tolktest.Server) string {
	t.Helper()
	u, err := s.Store.GetUserByUserName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	return u.OrgUID
}

// clientCredentials asks the token endpoint for a client_credentials token.
func clientCredentials(t *testing.T, s *tolktest.Server, id, sec string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec))
	resp, body := s.Do(t, req)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("token response %d: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, m
}

func TestOAuthAppsCreateConfidential(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b := appsAdmin(t, s)

	p := b.Get(t, "/settings/oauth-apps/new")
	if p.Status != http.StatusOK {
		t.Fatalf("GET new: %d", p.Status)
	}
	for _, want := range []string{
		`<label for="name">Name</label>`, `<input id="name"`,
		`<label for="redirect_uris">Redirect URI (Callback)</label>`, `<textarea id="redirect_uris"`,
		`<label for="description">Description</label>`, `<textarea id="description"`,
		`<label for="public"><input id="public"`, `<label for="grant_client_credentials"><input id="grant_client_credentials"`,
		`<label for="scope_openid"><input id="scope_openid"`, `<label for="audience_tms"><input id="audience_tms"`,
		`<button type="submit">Save</button>`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("new form lacks %s", want)
		}
	}
	csrf := oauthflow.HiddenFields(p.Body).Get("csrf_token")

	r := b.Post(t, "/settings/oauth-apps/new", appsForm(csrf, "Reporting", url.Values{
		"grant_types": {"authorization_code", "refresh_token", "client_credentials"},
		"scopes":      {"openid", "public", "read"},
		"audiences":   {"tms"},
	}))
	if r.Status != http.StatusSeeOther || r.Location.RequestURI() != "/settings/oauth-apps?done=created" {
		t.Fatalf("create: %d %v, want 303 (post/redirect/get)", r.Status, r.Location)
	}
	r = b.Get(t, r.Location.RequestURI())
	if r.Status != http.StatusOK {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	idm, secm := appsClientIDRE.FindStringSubmatch(r.Body), appsSecretRE.FindStringSubmatch(r.Body)
	if idm == nil || secm == nil {
		t.Fatalf("created page lacks client id or secret: %s", r.Body)
	}
	id, sec := idm[1], secm[1]
	if !regexp.MustCompile(`^tolk_cs_[A-Za-z0-9]+$`).MatchString(sec) {
		t.Errorf("secret %q", sec)
	}
	cs := appsList(t, s, adminOrg(t, s))
	if len(cs) != 1 || cs[0].ID != id || cs[0].Public || cs[0].Name != "Reporting" || cs[0].Description != "An app for tests" {
		t.Fatalf("stored: %+v", cs)
	}
	if got := strings.Join(cs[0].RedirectURIs, " "); got != "https://app.example/cb http://localhost:8080/cb" {
		t.Errorf("redirect URIs %q", got)
	}
	if got := strings.Join(cs[0].Scopes, " "); got != "openid public read" {
		t.Errorf("scopes %q", got)
	}

	status, tok := clientCredentials(t, s, id, sec)
	if status != http.StatusOK || tok["access_token"] == nil {
		t.Fatalf("client_credentials: %d %v", status, tok)
	}

	// The secret is never shown again.
	for _, path := range []string{"/settings/oauth-apps", "/settings/oauth-apps/" + id} {
		p := b.Get(t, path)
		if p.Status != http.StatusOK || !strings.Contains(p.Body, id) {
			t.Fatalf("GET %s: %d, client id shown: %v", path, p.Status, strings.Contains(p.Body, id))
		}
		if strings.Contains(p.Body, sec) || strings.Contains(p.Body, "tolk_cs_") {
			t.Errorf("GET %s shows the secret", path)
		}
	}
	list := b.Get(t, "/settings/oauth-apps").Body
	for _, want := range []string{"Registered OAuth Apps", "Client ID", "Reporting", "confidential", "https://app.example/cb",
		`href="/settings/oauth-apps/new">New</a>`, `>Edit</a>`, `href="/settings/oauth-apps/` + id + `/delete" aria-describedby="app-` + id + `">Delete</a>`} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %s", want)
		}
	}
}

func TestOAuthAppsCreatePublic(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b := appsAdmin(t, s)
	csrf := appsCSRF(t, b, "/settings/oauth-apps/new")
	r := follow(t, b, b.Post(t, "/settings/oauth-apps/new", appsForm(csrf, "SPA", url.Values{"public": {"1"}})))
	if r.Status != http.StatusOK || appsClientIDRE.FindStringSubmatch(r.Body) == nil {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if appsSecretRE.MatchString(r.Body) || strings.Contains(r.Body, "tolk_cs_") {
		t.Error("public app shows a secret")
	}
	cs := appsList(t, s, adminOrg(t, s))
	if len(cs) != 1 || !cs[0].Public || cs[0].SecretHash != "" {
		t.Fatalf("stored: %+v", cs)
	}
	if !strings.Contains(b.Get(t, "/settings/oauth-apps").Body, ">public<") {
		t.Error("list does not say public")
	}
}

func TestOAuthAppsValidation(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b := appsAdmin(t, s)
	csrf := appsCSRF(t, b, "/settings/oauth-apps/new")
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string // the label the message names
		keep  string // input the form keeps
	}{
		{"missing name", appsForm(csrf, "  ", nil), "Name", "https://app.example/cb"},
		{"http redirect", appsForm(csrf, "Evil", url.Values{"redirect_uris": {"http://evil.example/cb"}}), "Redirect URI (Callback)", "http://evil.example/cb"},
		{"unknown scope", appsForm(csrf, "Scoped", url.Values{"scopes": {"openid", "nope.bogus"}}), "Allowed scopes", `value="Scoped"`},
		{"public client_credentials", appsForm(csrf, "Mixed", url.Values{"public": {"1"}, "grant_types": {"client_credentials"}}), "Allowed grants", `value="Mixed"`},
	} {
		r := b.Post(t, "/settings/oauth-apps/new", tc.form)
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: status %d", tc.name, r.Status)
			continue
		}
		if !regexp.MustCompile(`<p role="alert" class="error" id="form-error">[^<]*` + regexp.QuoteMeta(tc.field)).MatchString(r.Body) {
			t.Errorf("%s: no alert naming %q", tc.name, tc.field)
		}
		if !strings.Contains(r.Body, tc.keep) || !strings.Contains(r.Body, "An app for tests") {
			t.Errorf("%s: input not kept", tc.name)
		}
		if !regexp.MustCompile(`aria-describedby="[^"]*form-error"`).MatchString(r.Body) {
			t.Errorf("%s: the field does not point to the message", tc.name)
		}
	}
	if cs := appsList(t, s, ""); len(cs) != 0 {
		t.Errorf("created %d apps", len(cs))
	}

	// German: the message comes from the German catalog.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/settings/oauth-apps/new", strings.NewReader(appsForm(csrf, "", nil).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "de")
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("de: %d", resp.StatusCode)
	}
	de := b.Get(t, "/settings/oauth-apps/new?ui_locales=de").Body
	for _, want := range []string{"Weiterleitungs-URI (Callback)", "Beschreibung", "Speichern"} {
		if !strings.Contains(de, want) {
			t.Errorf("German form lacks %s", want)
		}
	}
}

func TestOAuthAppsAccess(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)

	// No session: off to sign in, and back.
	anon := oauthflow.New(t, s.URL)
	for _, path := range []string{"/settings/oauth-apps", "/settings/oauth-apps/new", "/settings/authorized-apps"} {
		p := anon.Get(t, path)
		if p.Status != http.StatusSeeOther || p.Location == nil || p.Location.Path != "/login" || p.Location.Query().Get("next") != path {
			t.Errorf("anonymous GET %s: %d %v", path, p.Status, p.Location)
		}
	}

	// Not an admin: 403, and no admin link in the nav.
	s.CreateUser(t, "pm", store.RoleProjectManager, "pm-password-12345")
	pm := oauthflow.New(t, s.URL)
	pm.Login(t, "pm", "pm-password-12345")
	home := pm.Get(t, "/")
	if strings.Contains(home.Body, `href="/settings/oauth-apps"`) || !strings.Contains(home.Body, `href="/settings/authorized-apps"`) {
		t.Error("nav for a non-admin is wrong")
	}
	csrf := oauthflow.HiddenFields(home.Body).Get("csrf_token")
	for _, path := range []string{"/settings/oauth-apps", "/settings/oauth-apps/new"} {
		if p := pm.Get(t, path); p.Status != http.StatusForbidden || !strings.Contains(p.Body, `role="alert"`) {
			t.Errorf("non-admin GET %s: %d", path, p.Status)
		}
	}
	if p := pm.Post(t, "/settings/oauth-apps/new", appsForm(csrf, "Sneaky", nil)); p.Status != http.StatusForbidden {
		t.Errorf("non-admin create: %d", p.Status)
	}
	if cs := appsList(t, s, ""); len(cs) != 0 {
		t.Fatalf("non-admin created %d apps", len(cs))
	}

	b := appsAdmin(t, s)
	if !strings.Contains(b.Get(t, "/").Body, `href="/settings/oauth-apps"`) {
		t.Error("admin nav lacks the apps link")
	}
	csrf = appsCSRF(t, b, "/settings/oauth-apps/new")
	r := follow(t, b, b.Post(t, "/settings/oauth-apps/new", appsForm(csrf, "Kept", nil)))
	id := appsClientIDRE.FindStringSubmatch(r.Body)[1]

	// Without (or with a wrong) CSRF token nothing changes.
	wrong := "x" + csrf[1:]
	if wrong == csrf {
		wrong = "y" + csrf[1:]
	}
	for _, tok := range []string{"", wrong} {
		f := appsForm(tok, "Forged", nil)
		if tok == "" {
			f.Del("csrf_token")
		}
		for _, path := range []string{"/settings/oauth-apps/new", "/settings/oauth-apps/" + id, "/settings/oauth-apps/" + id + "/delete"} {
			if p := b.Post(t, path, f); p.Status != http.StatusForbidden {
				t.Errorf("POST %s with token %q: %d", path, tok, p.Status)
			}
		}
	}
	// A cross-site post with the right token is refused too.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/settings/oauth-apps/"+id+"/delete", strings.NewReader(url.Values{"csrf_token": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site delete: %d", resp.StatusCode)
	}
	cs := appsList(t, s, "")
	if len(cs) != 1 || cs[0].Name != "Kept" {
		t.Fatalf("apps changed: %+v", cs)
	}
}

func TestOAuthAppsEditAndDelete(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b := appsAdmin(t, s)
	csrf := appsCSRF(t, b, "/settings/oauth-apps/new")
	r := follow(t, b, b.Post(t, "/settings/oauth-apps/new", appsForm(csrf, "Editable", url.Values{
		"grant_types": {"client_credentials"}, "scopes": {"public"}, "redirect_uris": {""}, "jwt_access_tokens": {"1"},
	})))
	id, sec := appsClientIDRE.FindStringSubmatch(r.Body)[1], appsSecretRE.FindStringSubmatch(r.Body)[1]

	// The edit form is prefilled.
	e := b.Get(t, "/settings/oauth-apps/"+id)
	for _, want := range []string{`value="Editable"`, `id="jwt_access_tokens" name="jwt_access_tokens" type="checkbox" value="1" checked`,
		`value="client_credentials" checked`, `value="public" checked`, `<code>` + id + `</code>`} {
		if !strings.Contains(e.Body, want) {
			t.Errorf("edit form lacks %s", want)
		}
	}
	if strings.Contains(e.Body, `id="public"`) {
		t.Error("edit form offers to change the client type")
	}

	f := appsForm(oauthflow.HiddenFields(e.Body).Get("csrf_token"), "Edited", url.Values{
		"grant_types":   {"authorization_code", "client_credentials"},
		"redirect_uris": {"https://new.example/callback\nhttps://other.example/cb"},
		"scopes":        {"public", "openid"},
	})
	if p := b.Post(t, "/settings/oauth-apps/"+id, f); p.Status != http.StatusSeeOther || p.Location.Path != "/settings/oauth-apps" {
		t.Fatalf("update: %d %s", p.Status, p.Body)
	}
	c, err := s.Store.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Edited" || strings.Join(c.RedirectURIs, " ") != "https://new.example/callback https://other.example/cb" || c.JWTAccessTokens || c.SecretHash == "" {
		t.Errorf("after update: %+v", c)
	}
	if l := b.Get(t, "/settings/oauth-apps?done=saved").Body; !strings.Contains(l, "https://new.example/callback") || !strings.Contains(l, `role="status"`) {
		t.Error("list does not show the new redirect URI")
	}
	// An invalid update is a 400 and changes nothing.
	f.Set("redirect_uris", "http://evil.example/cb")
	if p := b.Post(t, "/settings/oauth-apps/"+id, f); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "Redirect URI (Callback)") {
		t.Errorf("invalid update: %d", p.Status)
	}
	if c2, _ := s.Store.GetClient(context.Background(), id); strings.Join(c2.RedirectURIs, " ") != strings.Join(c.RedirectURIs, " ") {
		t.Error("invalid update changed the app")
	}

	// The secret still works, until the app is deleted.
	if status, _ := clientCredentials(t, s, id, sec); status != http.StatusOK {
		t.Fatalf("client_credentials after edit: %d", status)
	}
	del := b.Post(t, "/settings/oauth-apps/"+id+"/delete", url.Values{"csrf_token": {csrf}, "confirm": {"1"}})
	if del.Status != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", del.Status, del.Body)
	}
	if cs := appsList(t, s, ""); len(cs) != 0 {
		t.Errorf("still stored: %+v", cs)
	}
	status, m := clientCredentials(t, s, id, sec)
	if status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("after delete: %d %v", status, m)
	}
	if p := b.Get(t, "/settings/oauth-apps/"+id); p.Status != http.StatusNotFound {
		t.Errorf("edit deleted app: %d", p.Status)
	}
}

func TestOAuthAppsOtherOrganization(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	ctx := context.Background()
	org := store.Organization{UID: "6f0c7a52-2b8e-4f35-9a41-3f0e5d2c7b18", Name: "Other Org", CreatedAt: s.Clock.Now()}
	if err := s.Store.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	other, _, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "Theirs", RedirectURIs: []string{"https://theirs.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	b := appsAdmin(t, s)
	csrf := appsCSRF(t, b, "/settings/oauth-apps/new")
	if strings.Contains(b.Get(t, "/settings/oauth-apps").Body, "Theirs") {
		t.Error("list shows another organization's app")
	}
	if p := b.Get(t, "/settings/oauth-apps/"+other.ID); p.Status != http.StatusNotFound {
		t.Errorf("GET other org's app: %d", p.Status)
	}
	if p := b.Post(t, "/settings/oauth-apps/"+other.ID, appsForm(csrf, "Hijacked", nil)); p.Status != http.StatusNotFound {
		t.Errorf("update other org's app: %d", p.Status)
	}
	if p := b.Post(t, "/settings/oauth-apps/"+other.ID+"/delete", url.Values{"csrf_token": {csrf}}); p.Status != http.StatusNotFound {
		t.Errorf("delete other org's app: %d", p.Status)
	}
	if p := b.Get(t, "/settings/oauth-apps/does-not-exist"); p.Status != http.StatusNotFound {
		t.Errorf("unknown app: %d", p.Status)
	}
	c, err := s.Store.GetClient(ctx, other.ID)
	if err != nil || c.Name != "Theirs" {
		t.Errorf("other org's app changed: %+v %v", c, err)
	}
}

func TestAuthorizedAppsRevoke(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	ctx := context.Background()
	c, _, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{
		OrgUID: adminOrg(t, s), Name: "Granted App", Description: "Reads your stuff", Public: true,
		RedirectURIs: []string{"http://127.0.0.1:9/cb"}, Scopes: []string{"openid", "profile"},
	})
	if err != nil {
		t.Fatal(err)
	}
	authURL := s.URL + "/oauth/authorize?" + url.Values{
		"client_id": {c.ID}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st-1"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
	}.Encode()

	b := oauthflow.New(t, s.URL)
	p := b.Authorize(t, authURL, "admin", tolktest.AdminPassword, "allow")
	if p.Location == nil || oauthflow.Params(p.Location).Get("code") == "" {
		t.Fatalf("authorize: %d %v %s", p.Status, p.Location, p.Body)
	}

	a := b.Get(t, "/settings/authorized-apps")
	if a.Status != http.StatusOK {
		t.Fatalf("authorized apps: %d", a.Status)
	}
	for _, want := range []string{"Authorized apps", "Granted App", "Reads your stuff", "openid", `href="/settings/authorized-apps/` + c.ID + `/revoke" aria-describedby="app-` + c.ID + `">Revoke</a>`} {
		if !strings.Contains(a.Body, want) {
			t.Errorf("authorized apps lacks %s", want)
		}
	}
	// Revoke asks once more: the GET names the app and changes nothing.
	ask := b.Get(t, "/settings/authorized-apps/"+c.ID+"/revoke")
	if ask.Status != http.StatusOK || !strings.Contains(ask.Body, "Revoke the access of Granted App to your account?") || !button(ask.Body, "Confirm") {
		t.Fatalf("confirmation: %d %s", ask.Status, ask.Body)
	}
	if _, err := s.Store.GetConsent(ctx, adminUID(t, s), c.ID); err != nil {
		t.Fatalf("consent gone before Confirm: %v", err)
	}
	csrf := oauthflow.HiddenFields(ask.Body).Get("csrf_token")

	// Another user sees nothing, and cannot revoke the admin's consent.
	s.CreateUser(t, "bob", store.RoleLinguist, "bob-password-12345")
	bob := oauthflow.New(t, s.URL)
	bob.Login(t, "bob", "bob-password-12345")
	bp := bob.Get(t, "/settings/authorized-apps")
	if bp.Status != http.StatusOK || strings.Contains(bp.Body, "Granted App") {
		t.Errorf("bob's authorized apps: %d", bp.Status)
	}
	bob.Post(t, "/settings/authorized-apps/"+c.ID+"/revoke", url.Values{"csrf_token": {oauthflow.HiddenFields(bob.Get(t, "/logout").Body).Get("csrf_token")}, "confirm": {"1"}})
	if _, err := s.Store.GetConsent(ctx, adminUID(t, s), c.ID); err != nil {
		t.Fatalf("admin's consent gone after bob's revoke: %v", err)
	}

	// Without the CSRF token nothing happens.
	if r := b.Post(t, "/settings/authorized-apps/"+c.ID+"/revoke", url.Values{}); r.Status != http.StatusForbidden {
		t.Errorf("revoke without csrf: %d", r.Status)
	}
	if _, err := s.Store.GetConsent(ctx, adminUID(t, s), c.ID); err != nil {
		t.Fatalf("consent gone after forged revoke: %v", err)
	}

	r := b.Post(t, "/settings/authorized-apps/"+c.ID+"/revoke", url.Values{"csrf_token": {csrf}, "confirm": {"1"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if _, err := s.Store.GetConsent(ctx, adminUID(t, s), c.ID); err == nil {
		t.Error("consent still stored")
	}
	if a := b.Get(t, r.Location.String()); strings.Contains(a.Body, "Granted App") || !strings.Contains(a.Body, `role="status"`) {
		t.Error("revoked app still listed")
	}
	p = b.Authorize(t, authURL, "", "", "")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "consent_action") {
		t.Errorf("no consent page after revoke: %d %v", p.Status, p.Location)
	}
}

func adminUID(t *testing.T, s *tolktest.Server) string {
	t.Helper()
	u, err := s.Store.GetUserByUserName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	return u.UID
}
