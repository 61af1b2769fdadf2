package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

var newKeyRE = regexp.MustCompile(`<input id="new_key" type="text" readonly [^>]*value="(tolk_pk_[A-Za-z0-9]+)"`)

func apiKeyWorks(t *testing.T, s *tolktest.Server, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/v2/user", nil)
	req.Header.Set("X-Proz-API-Key", key)
	resp, _ := s.Do(t, req)
	return resp.StatusCode
}

func TestAPIKeysPage(t *testing.T) {
	s := tolktest.New(t)
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	b := appsAdmin(t, s)
	p := b.Get(t, "/settings/api-keys")
	if p.Status != 200 || !strings.Contains(p.Body, `<label for="user">`) || !strings.Contains(p.Body, `<label for="note">`) ||
		!strings.Contains(p.Body, "Create key") {
		t.Fatalf("page: %d %s", p.Status, p.Body)
	}
	csrf := oauthflow.HiddenFields(p.Body).Get("csrf_token")
	p = follow(t, b, b.Post(t, "/settings/api-keys", url.Values{"csrf_token": {csrf}, "user": {lena.UID}, "note": {"CAT tool"}}))
	m := newKeyRE.FindStringSubmatch(p.Body)
	if p.Status != 200 || m == nil {
		t.Fatalf("create: %d %s", p.Status, p.Body)
	}
	key := m[1]
	if cc := p.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q", cc)
	}
	if c := apiKeyWorks(t, s, key); c != 200 {
		t.Fatalf("new key: %d", c)
	}
	// Shown once: the list does not show it again.
	p = b.Get(t, "/settings/api-keys")
	if strings.Contains(p.Body, key) || !strings.Contains(p.Body, "CAT tool") || !strings.Contains(p.Body, "lena") {
		t.Errorf("list: %s", p.Body)
	}
	keys, _ := s.Store.ListAPIKeys(context.Background(), "")
	if len(keys) != 1 {
		t.Fatalf("%d keys", len(keys))
	}
	p = b.Post(t, "/settings/api-keys/"+keys[0].ID+"/revoke", url.Values{"csrf_token": {csrf}, "confirm": {"1"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", p.Status, p.Body)
	}
	if c := apiKeyWorks(t, s, key); c != 401 {
		t.Errorf("revoked key: %d, want 401", c)
	}
}

func TestAPIKeysPageRefusals(t *testing.T) {
	s := tolktest.New(t)
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	admin := appsAdmin(t, s)
	csrf := appsCSRF(t, admin, "/settings/api-keys")
	k, _, err := s.Tolk.APIKeys.CreateFor(context.Background(), "lena", "")
	if err != nil {
		t.Fatal(err)
	}
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
		{"non-admin list", linguist, "GET", "/settings/api-keys", nil, 403},
		{"non-admin create", linguist, "POST", "/settings/api-keys", url.Values{"csrf_token": {lcsrf}, "user": {lena.UID}}, 403},
		{"non-admin revoke", linguist, "POST", "/settings/api-keys/" + k.ID + "/revoke", url.Values{"csrf_token": {lcsrf}}, 403},
		{"missing CSRF", admin, "POST", "/settings/api-keys", url.Values{"user": {lena.UID}}, 403},
		{"wrong CSRF", admin, "POST", "/settings/api-keys/" + k.ID + "/revoke", url.Values{"csrf_token": {"x"}}, 403},
		{"unknown user", admin, "POST", "/settings/api-keys", url.Values{"csrf_token": {csrf}, "user": {"' OR 1=1--"}}, 400},
		{"note too long", admin, "POST", "/settings/api-keys", url.Values{"csrf_token": {csrf}, "user": {lena.UID}, "note": {strings.Repeat("n", 256)}}, 400},
		{"unknown key", admin, "POST", "/settings/api-keys/" + strings.Repeat("0", 32) + "/revoke", url.Values{"csrf_token": {csrf}}, 404},
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
	keys, _ := s.Store.ListAPIKeys(context.Background(), "")
	if len(keys) != 1 || !keys[0].RevokedAt.IsZero() {
		t.Errorf("keys changed: %+v", keys)
	}
	// Signed out: sent to sign in.
	if p := oauthflow.New(t, s.URL).Get(t, "/settings/api-keys"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location.Path, "/login") {
		t.Errorf("signed out: %d %v", p.Status, p.Location)
	}
}
