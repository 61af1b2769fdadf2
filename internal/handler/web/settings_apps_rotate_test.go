package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestOAuthAppsRotateSecret: Rotate secret on the edit page asks once
// more, changes nothing before Confirm, then shows the new secret once
// (a reload shows it no more); the old secret stops at once, the new one
// works. A public app has no secret to rotate; a linguist may not.
func TestOAuthAppsRotateSecret(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	ctx := context.Background()
	c, old, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: adminOrg(t, s), Name: "Machine", GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := clientCredentials(t, s, c.ID, old); status != http.StatusOK {
		t.Fatalf("old secret before: %d", status)
	}
	b := appsAdmin(t, s)
	rotate := "/settings/oauth-apps/" + c.ID + "/rotate-secret"
	edit := b.Get(t, "/settings/oauth-apps/"+c.ID).Body
	for _, want := range []string{`<h2 id="secret-title">Client secret</h2>`, `href="` + rotate + `">Rotate secret</a>`, "The old one stops working at once"} {
		if !strings.Contains(edit, want) {
			t.Errorf("edit page lacks %s", want)
		}
	}
	ask := b.Get(t, rotate)
	if ask.Status != http.StatusOK || !strings.Contains(ask.Body, "Rotate the client secret of Machine?") || !strings.Contains(ask.Body, ">Confirm</button>") {
		t.Fatalf("confirmation: %d %s", ask.Status, ask.Body)
	}
	// A post without confirm asks again and changes nothing.
	csrf := oauthflow.HiddenFields(ask.Body).Get("csrf_token")
	if p := b.Post(t, rotate, url.Values{"csrf_token": {csrf}}); p.Status != http.StatusOK || !strings.Contains(p.Body, ">Confirm</button>") {
		t.Fatalf("unconfirmed post: %d", p.Status)
	}
	if status, _ := clientCredentials(t, s, c.ID, old); status != http.StatusOK {
		t.Fatalf("old secret changed before Confirm: %d", status)
	}
	r := b.Post(t, rotate, url.Values{"csrf_token": {csrf}, "confirm": {"1"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("confirmed: %d, want 303 (post/redirect/get)", r.Status)
	}
	shown := b.Get(t, r.Location.RequestURI())
	m := appsSecretRE.FindStringSubmatch(shown.Body)
	if m == nil || !strings.Contains(shown.Body, "<h1>New client secret</h1>") || !strings.Contains(shown.Body, "Machine has a new client secret") {
		t.Fatalf("new secret page: %s", shown.Body)
	}
	sec := m[1]
	if again := b.Get(t, r.Location.RequestURI()); strings.Contains(again.Body, sec) {
		t.Error("a reload shows the secret again")
	}
	if status, _ := clientCredentials(t, s, c.ID, old); status != http.StatusUnauthorized {
		t.Errorf("old secret after rotation: %d, want 401", status)
	}
	if status, tok := clientCredentials(t, s, c.ID, sec); status != http.StatusOK || tok["access_token"] == nil {
		t.Errorf("new secret: %d %v", status, tok)
	}

	pub, _, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: adminOrg(t, s), Name: "SPA", Public: true, RedirectURIs: []string{"https://spa.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := b.Get(t, "/settings/oauth-apps/"+pub.ID); strings.Contains(p.Body, "rotate-secret") {
		t.Error("public app offers Rotate secret")
	}
	if p := b.Get(t, "/settings/oauth-apps/"+pub.ID+"/rotate-secret"); p.Status != http.StatusBadRequest {
		t.Errorf("rotate a public app: %d", p.Status)
	}
	s.CreateUser(t, "lena", "LINGUIST", "lena-password-1")
	lb := oauthflow.New(t, s.URL)
	lb.Login(t, "lena", "lena-password-1")
	if p := lb.Get(t, rotate); p.Status != http.StatusForbidden {
		t.Errorf("linguist: %d", p.Status)
	}
}

// TestOAuthAppsNamesDiffer: the form refuses a name another app of the
// organization has, ignoring case, with the reason at the field.
func TestOAuthAppsNamesDiffer(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b := appsAdmin(t, s)
	csrf := appsCSRF(t, b, "/settings/oauth-apps/new")
	if r := b.Post(t, "/settings/oauth-apps/new", appsForm(csrf, "Reporting", nil)); r.Status != http.StatusSeeOther {
		t.Fatalf("first: %d %s", r.Status, r.Body)
	}
	csrf = appsCSRF(t, b, "/settings/oauth-apps/new")
	r := b.Post(t, "/settings/oauth-apps/new", appsForm(csrf, "reporting", nil))
	if r.Status != http.StatusConflict {
		t.Fatalf("duplicate: %d, want 409", r.Status)
	}
	for _, want := range []string{`Check the field “Name”: Another app of your organization is already called “reporting”. Choose another name.`,
		`<input id="name" name="name" type="text" required maxlength="200" value="reporting" aria-invalid="true"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("form lacks %s: %s", want, r.Body)
		}
	}
	if n := len(appsList(t, s, adminOrg(t, s))); n != 1 {
		t.Errorf("%d apps, want 1", n)
	}
}

// TestOAuthAppsFormScopes: a new app's form ticks only the catalog's
// default scopes (not write or team.manage) and says in plain words what
// each scope allows; the consent page leads with those words too.
func TestOAuthAppsFormScopes(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b := appsAdmin(t, s)
	p := b.Get(t, "/settings/oauth-apps/new").Body
	for _, sc := range []string{"openid", "profile", "email", "public", "user.email", "user.name", "profile.read", "read"} {
		if !strings.Contains(p, `id="scope_`+sc+`" name="scopes" type="checkbox" value="`+sc+`" checked>`) {
			t.Errorf("default scope %s not ticked", sc)
		}
	}
	for _, sc := range []string{"offline_access", "message.send", "write", "orders.create", "team.manage"} {
		if !strings.Contains(p, `id="scope_`+sc+`" name="scopes" type="checkbox" value="`+sc+`">`) {
			t.Errorf("scope %s is ticked or missing", sc)
		}
	}
	for _, want := range []string{`<code>write</code>: change your data</label>`, `<code>team.manage</code>: manage your team</label>`,
		"Only the usual read permissions are ticked.", "If none is ticked, the usual read permissions are allowed."} {
		if !strings.Contains(p, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	// Nothing ticked gets the defaults, not the whole catalog.
	csrf := oauthflow.HiddenFields(p).Get("csrf_token")
	if r := b.Post(t, "/settings/oauth-apps/new", appsForm(csrf, "Unticked", nil)); r.Status != http.StatusSeeOther {
		t.Fatalf("create without scopes: %d %s", r.Status, r.Body)
	}
	if cs := appsList(t, s, adminOrg(t, s)); len(cs) != 1 || strings.Join(cs[0].Scopes, " ") != "openid profile email public user.email user.name profile.read read" {
		t.Errorf("app registered with nothing ticked has scopes %v", cs)
	}
	const redirect = "https://app.example/cb"
	c, _, err := s.Tolk.Authz.CreateClient(context.Background(), authz.ClientSpec{OrgUID: adminOrg(t, s), Name: "Zorblax", RedirectURIs: []string{redirect}})
	if err != nil {
		t.Fatal(err)
	}
	consent := b.Get(t, "/oauth/authorize?"+url.Values{"client_id": {c.ID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid write"}, "state": {"s"}}.Encode())
	for _, want := range []string{`<li>change your data <span class="hint">(<code>write</code>)</span></li>`, `<li>confirm your identity`} {
		if !strings.Contains(consent.Body, want) {
			t.Errorf("consent page lacks %s: %s", want, consent.Body)
		}
	}
}
