package interop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// Redirect URIs used by the security tests. None of them is served: the
// test browser stops at the first redirect that leaves tolk.
const (
	azGoodRedirect     = "https://good.example/cb"
	azQueryRedirect    = "https://good.example/q?foo=bar"
	azLoopbackRedirect = "http://127.0.0.1/cb"
)

// azTrickyState has spaces, non-ASCII, and the characters that delimit
// query and fragment parameters.
const azTrickyState = "st 1 ü€ &a=b&c==d ?#/%20+;"

// azEnv is one running tolk with a client registered for a test.
type azEnv struct {
	s      *tolktest.Server
	client store.Client
	secret string
}

// azNewServer starts tolk with the wall clock (go-oidc reads it).
func azNewServer(t *testing.T) *tolktest.Server {
	t.Helper()
	return tolktest.New(t, tolktest.Options{ClockStart: time.Now()})
}

// azNewClient registers a client in the default organization. Missing
// fields get defaults: name, the good redirect URI.
func azNewClient(t *testing.T, s *tolktest.Server, spec authz.ClientSpec) (store.Client, string) {
	t.Helper()
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if spec.OrgUID == "" {
		spec.OrgUID = org.UID
	}
	if spec.Name == "" {
		spec.Name = "Security test app " + rand.Text()[:8] // app names differ in an organization
	}
	if len(spec.RedirectURIs) == 0 {
		spec.RedirectURIs = []string{azGoodRedirect}
	}
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	return c, sec
}

// azNewEnv starts a server with one client.
func azNewEnv(t *testing.T, spec authz.ClientSpec) *azEnv {
	t.Helper()
	s := azNewServer(t)
	c, sec := azNewClient(t, s, spec)
	return &azEnv{s: s, client: c, secret: sec}
}

// azHybridSpec is a client allowed to use the code, implicit and hybrid flows.
func azHybridSpec() authz.ClientSpec {
	return authz.ClientSpec{GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantImplicit, oauth.GrantRefreshToken}}
}

// azAuthURL builds an authorization request URL from key/value pairs; a
// value of "" leaves the parameter out.
func azAuthURL(base string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Add(kv[i], kv[i+1])
		}
	}
	return base + "/oauth/authorize?" + q.Encode()
}

// browser returns a fresh cookie-keeping browser on the server.
func (e *azEnv) browser(t *testing.T) *oauthflow.Browser { return oauthflow.New(t, e.s.URL) }

// signedIn returns a browser signed in as admin.
func (e *azEnv) signedIn(t *testing.T) *oauthflow.Browser {
	t.Helper()
	b := e.browser(t)
	b.Login(t, "admin", tolktest.AdminPassword)
	return b
}

// azAssertErrorPage checks that tolk showed an error page and did not
// redirect anywhere.
func azAssertErrorPage(t *testing.T, p *oauthflow.Page) {
	t.Helper()
	if p.Status != http.StatusBadRequest {
		t.Errorf("status %d, want 400 (error page)", p.Status)
	}
	if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want an HTML page", ct)
	}
	if loc := p.Header.Get("Location"); loc != "" {
		t.Errorf("redirected to %q; must show a page and never redirect", loc)
	}
	if strings.Contains(p.Body, "code=") || strings.Contains(p.Body, "access_token") {
		t.Errorf("error page carries a code or token: %s", p.Body)
	}
}

// azAssertClientRedirect checks that p is a 303 to the registered redirect
// URI (scheme, host and path) and returns the response parameters.
func azAssertClientRedirect(t *testing.T, p *oauthflow.Page, redirect string) url.Values {
	t.Helper()
	if p.Location == nil {
		t.Fatalf("no redirect to the client: %d %.400s", p.Status, p.Body)
	}
	if p.Status != http.StatusSeeOther {
		t.Errorf("redirect status %d, want 303", p.Status)
	}
	want, _ := url.Parse(redirect)
	got := *p.Location
	if got.Scheme != want.Scheme || got.Host != want.Host || got.Path != want.Path {
		t.Fatalf("redirected to %s, want %s", p.Location, redirect)
	}
	return azRespParams(p.Location)
}

// azRespParams returns the authorization response parameters of a redirect:
// the fragment for fragment responses, else the query. Unlike
// oauthflow.Params it parses the fragment as sent (EscapedFragment), so an
// encoded & or = in a value does not split it.
func azRespParams(u *url.URL) url.Values {
	if f := u.EscapedFragment(); f != "" {
		v, _ := url.ParseQuery(f)
		return v
	}
	return u.Query()
}

// azContinueFlow follows tolk's redirects from p like oauthflow's
// Authorize: it signs in on the login page (if user is not empty) and
// answers the consent page (if consent is not empty).
func azContinueFlow(t *testing.T, b *oauthflow.Browser, p *oauthflow.Page, user, pw, consent string) *oauthflow.Page {
	t.Helper()
	for i := 0; i < 10; i++ {
		switch {
		case p.Location != nil && !b.IsTolk(p.Location):
			return p
		case p.Location != nil:
			p = b.Get(t, p.Location.String())
		case azIsLoginPage(p) && user != "":
			form := oauthflow.HiddenFields(p.Body)
			form.Set("username", user)
			form.Set("password", pw)
			p = b.Post(t, "/login", form)
			user = ""
		case azIsConsentPage(p) && consent != "":
			form := oauthflow.HiddenFields(p.Body)
			form.Set("consent_action", consent)
			p = b.Post(t, "/oauth/authorize", form)
			consent = ""
		default:
			return p
		}
	}
	t.Fatal("too many redirects")
	return nil
}

// azAssertRedirectError checks an error response at the client's redirect
// URI, with iss and the given state (or none when state is "").
func azAssertRedirectError(t *testing.T, p *oauthflow.Page, redirect, code, state, iss string) url.Values {
	t.Helper()
	q := azAssertClientRedirect(t, p, redirect)
	if q.Get("error") != code {
		t.Errorf("error %q (%s), want %q", q.Get("error"), q.Get("error_description"), code)
	}
	if state == "" && q.Has("state") {
		t.Errorf("state %q in the response though the request had none", q.Get("state"))
	}
	if state != "" && q.Get("state") != state {
		t.Errorf("state %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != iss {
		t.Errorf("iss %q, want %q", q.Get("iss"), iss)
	}
	for _, k := range []string{"code", "access_token", "id_token"} {
		if q.Has(k) {
			t.Errorf("error response carries %s", k)
		}
	}
	return q
}

// azIsLoginRedirect reports whether p sends the browser to tolk's login page.
func azIsLoginRedirect(b *oauthflow.Browser, p *oauthflow.Page) bool {
	return p.Location != nil && b.IsTolk(p.Location) && p.Location.Path == "/login"
}

// azIsConsentPage reports whether p is the consent page.
func azIsConsentPage(p *oauthflow.Page) bool {
	return p.Status == http.StatusOK && strings.Contains(p.Body, `name="consent_action"`)
}

// azIsLoginPage reports whether p is the login form.
func azIsLoginPage(p *oauthflow.Page) bool {
	return p.Status == http.StatusOK && strings.Contains(p.Body, `name="password"`)
}

// azPostWith posts a form from b with extra headers; an empty header value
// removes that header (Origin is set by default, as a same-origin form).
func azPostWith(t *testing.T, b *oauthflow.Browser, path string, form url.Values, headers map[string]string) *oauthflow.Page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.Base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Base)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := &oauthflow.Page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), URL: req.URL}
	if loc := resp.Header.Get("Location"); loc != "" {
		p.Location, _ = req.URL.Parse(loc)
	}
	return p
}

// azTokenResponse is the token endpoint's answer.
type azTokenResponse struct {
	Status int
	Header http.Header
	JSON   map[string]any
}

func (r azTokenResponse) str(k string) string { s, _ := r.JSON[k].(string); return s }

// exchange redeems a code at the token endpoint (client_secret_post).
func (e *azEnv) exchange(t *testing.T, code, redirect string) azTokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {e.client.ID}, "client_secret": {e.secret}}
	if redirect != "" {
		form.Set("redirect_uri", redirect)
	}
	req, _ := http.NewRequest(http.MethodPost, e.s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := e.s.Do(t, req)
	tr := azTokenResponse{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(body, &tr.JSON); err != nil {
		t.Fatalf("token response %d is not JSON: %s", resp.StatusCode, body)
	}
	return tr
}

// mustExchange redeems a code and fails unless tokens come back.
func (e *azEnv) mustExchange(t *testing.T, code, redirect string) azTokenResponse {
	t.Helper()
	tr := e.exchange(t, code, redirect)
	if tr.Status != http.StatusOK || tr.str("access_token") == "" {
		t.Fatalf("token endpoint: %d %v", tr.Status, tr.JSON)
	}
	return tr
}

// azIdClaims are the id_token claims the tests look at.
type azIdClaims struct {
	Iss      string `json:"iss"`
	Sub      string `json:"sub"`
	Nonce    string `json:"nonce"`
	AuthTime *int64 `json:"auth_time"`
	CHash    string `json:"c_hash"`
	AtHash   string `json:"at_hash"`
	AZP      string `json:"azp"`
}

// verifyIDToken checks an id_token's signature, issuer, audience and
// expiry with go-oidc and returns its claims.
func (e *azEnv) verifyIDToken(t *testing.T, raw string) azIdClaims {
	t.Helper()
	if raw == "" {
		t.Fatal("no id_token")
	}
	ctx := oidc.ClientContext(context.Background(), e.s.Client())
	provider, err := oidc.NewProvider(ctx, e.s.URL)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: e.client.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("id_token does not verify: %v", err)
	}
	var c azIdClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// azHalfHash is the OIDC c_hash / at_hash of v for RS256 and ES256:
// base64url of the left half of SHA-256.
func azHalfHash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// codeFor runs a full code flow as admin in b (signing in and allowing
// when asked) and returns the code.
func (e *azEnv) codeFor(t *testing.T, b *oauthflow.Browser, u, redirect string) string {
	t.Helper()
	p := b.Authorize(t, u, "admin", tolktest.AdminPassword, "allow")
	q := azAssertClientRedirect(t, p, redirect)
	if q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	return q.Get("code")
}
