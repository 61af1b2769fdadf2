package interop

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// The TMS paths /web/oauth/authorize and /web/oauth/token are the same
// endpoints as /oauth/authorize and /oauth/token: a code obtained at one
// alias is redeemed at the other.
func TestWebAliases(t *testing.T) {
	t.Parallel()
	e := azNewEnv(t, authz.ClientSpec{GrantTypes: []string{oauth.GrantAuthorizationCode}})
	u := strings.Replace(azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "state", "w1"),
		"/oauth/authorize", "/web/oauth/authorize", 1)
	code := e.codeFor(t, e.browser(t), u, azGoodRedirect)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {azGoodRedirect},
		"client_id": {e.client.ID}, "client_secret": {e.secret}}
	req, _ := http.NewRequest(http.MethodPost, e.s.URL+"/web/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := e.s.Do(t, req)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"access_token"`) {
		t.Fatalf("/web/oauth/token: %d %s", resp.StatusCode, body)
	}
}

// login_hint is carried to the sign-in page and fills its Username field.
func TestLoginHintFillsUserName(t *testing.T) {
	t.Parallel()
	e := azNewEnv(t, authz.ClientSpec{})
	b := e.browser(t)
	p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "login_hint", "lena.k"))
	if p.Location == nil || p.Location.Path != "/login" {
		t.Fatalf("not sent to sign in: %d %v", p.Status, p.Location)
	}
	lp := b.Get(t, p.Location.String())
	if !strings.Contains(lp.Body, `id="username"`) || !strings.Contains(lp.Body, `value="lena.k"`) {
		t.Fatalf("sign-in page does not carry the hint: %s", lp.Body)
	}
}

// An app configured to always get a refresh token gets one with its code
// even without offline_access; another app gets none without it.
func TestAlwaysRefreshApp(t *testing.T) {
	t.Parallel()
	for _, always := range []bool{true, false} {
		e := azNewEnv(t, authz.ClientSpec{GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}, AlwaysRefresh: always})
		b := e.browser(t)
		b.Login(t, "admin", tolktest.AdminPassword)
		code := e.codeFor(t, b, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code",
			"scope", "read", "state", "ar"), azGoodRedirect)
		tr := e.mustExchange(t, code, azGoodRedirect)
		if got := tr.str("refresh_token") != ""; got != always {
			t.Errorf("always_refresh %v, scope read: refresh token issued %v", always, got)
		}
	}
}
