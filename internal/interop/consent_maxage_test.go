package interop

import (
	"net/url"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
)

// TestConsentAfterMaxAgeAsksToSignInAgain: a consent page left open past
// max_age must not yield a code with a stale auth_time (OIDC Core §3.1.2.1).
func TestConsentAfterMaxAgeAsksToSignInAgain(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	b := e.signedIn(t)
	p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect,
		"response_type", "code", "scope", "openid", "state", "s", "max_age", "60"))
	if !azIsConsentPage(p) {
		t.Fatalf("want the consent page, got %d %s", p.Status, p.Body)
	}
	e.s.Clock.Advance(2 * time.Minute)
	form := oauthflow.HiddenFields(p.Body)
	form.Set("consent_action", "allow")
	r := b.Post(t, "/oauth/authorize", form)
	if r.Location == nil || r.Location.Path != "/login" {
		t.Fatalf("allow after max_age: %d %v, want a redirect to /login", r.Status, r.Location)
	}
	if q, _ := url.ParseQuery(r.Location.RawQuery); q.Get("reauth") != "1" {
		t.Fatalf("login redirect %v lacks reauth=1", r.Location)
	}
}
