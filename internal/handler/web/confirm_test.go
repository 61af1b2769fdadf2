package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestDestructiveActionsAskOnceMore (SPEC §5): deleting an app, revoking
// an access token or API key and deactivating a user each answer a GET,
// and a post without confirm, with a page naming what will go and a
// Confirm button; nothing changes until that page's own post, which needs
// the session's CSRF token.
func TestDestructiveActionsAskOnceMore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := tolktest.New(t)
	admin := appsAdmin(t, s)
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-12345")

	csrf := appsCSRF(t, admin, "/settings/oauth-apps/new")
	admin.Post(t, "/settings/oauth-apps/new", appsForm(csrf, "Doomed App", nil))
	apps := appsList(t, s, adminOrg(t, s))
	if len(apps) != 1 {
		t.Fatalf("%d apps", len(apps))
	}
	app := apps[0]
	createToken(t, admin, "Doomed token", "")
	tok := listTokens(t, s, adminUID(t, s))[0]
	admin.Post(t, "/settings/api-keys", url.Values{"csrf_token": {appsCSRF(t, admin, "/settings/api-keys")}, "user": {lena.UID}, "note": {"ci"}})
	keys, err := s.Store.ListAPIKeys(ctx, lena.OrgUID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	key := keys[0]

	for _, c := range []struct {
		name, path, names, done string
		alive                   func() bool
	}{
		{"delete app", "/settings/oauth-apps/" + app.ID + "/delete", "Delete the app Doomed App?", "/settings/oauth-apps?done=deleted", func() bool {
			_, err := s.Store.GetClient(ctx, app.ID)
			return err == nil
		}},
		{"revoke access token", "/settings/access-tokens/" + tok.ID + "/revoke", "Revoke the access token Doomed token (…" + tok.LastEight + ")?", "/settings/access-tokens?done=revoked", func() bool {
			return len(listTokens(t, s, adminUID(t, s))) == 1
		}},
		{"revoke API key", "/settings/api-keys/" + key.ID + "/revoke", "Revoke the API key " + key.ID + " of lena?", "/settings/api-keys?done=revoked", func() bool {
			k, err := s.Store.GetAPIKey(ctx, key.ID)
			return err == nil && k.RevokedAt.IsZero()
		}},
		{"deactivate user", "/settings/users/" + lena.UID + "/deactivate", "Deactivate lena?", "/settings/users?done=deactivated", func() bool {
			u, err := s.Store.GetUserByUserName(ctx, "lena")
			return err == nil && u.Active
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ask := admin.Get(t, c.path)
			if ask.Status != http.StatusOK || !strings.Contains(ask.Body, c.names) || !button(ask.Body, "Confirm") ||
				!strings.Contains(ask.Body, `<button type="submit" class="danger">Confirm</button>`) || !strings.Contains(ask.Body, ">Cancel</a>") {
				t.Fatalf("GET: %d, want a page naming %q with Confirm and Cancel:\n%s", ask.Status, c.names, ask.Body)
			}
			if !c.alive() {
				t.Fatal("gone after the GET")
			}
			form := oauthflow.HiddenFields(ask.Body)
			if form.Get("confirm") != "1" || form.Get("csrf_token") == "" {
				t.Fatalf("the confirmation's form: %v", form)
			}
			if p := admin.Post(t, c.path, url.Values{"csrf_token": {form.Get("csrf_token")}}); p.Status != http.StatusOK || !button(p.Body, "Confirm") {
				t.Errorf("post without confirm: %d", p.Status)
			}
			if p := admin.Post(t, c.path, url.Values{"confirm": {"1"}}); p.Status != http.StatusForbidden {
				t.Errorf("confirm without the CSRF token: %d, want 403", p.Status)
			}
			if !c.alive() {
				t.Fatal("gone before Confirm")
			}
			p := admin.Post(t, c.path, form)
			if p.Status != http.StatusSeeOther || p.Location.RequestURI() != c.done {
				t.Fatalf("Confirm: %d %v", p.Status, p.Location)
			}
			if c.alive() {
				t.Error("still there after Confirm")
			}
		})
	}
}
