package interop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/pat"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestEveryCredentialAtEveryResourceEndpoint (issue 4, point 6): a
// credential of every dialect is accepted by whoAmI, /user, /v2/user and
// /userinfo, all naming the same user, and the principal records the
// dialect it came from (X-Auth-Method at /auth/verify).
func TestEveryCredentialAtEveryResourceEndpoint(t *testing.T) {
	s := tolktest.New(t, tolktest.Options{ClockStart: time.Now()})
	ctx := context.Background()
	admin, err := s.Store.GetUserByUserName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}

	apiToken, _, err := s.Tolk.Identity.IssueAPIToken(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	scopes := []string{"openid", "profile", "email", "read"}
	note := "dialects"
	_, patToken, err := s.Tolk.PATs.Create(ctx, admin, pat.Changes{Note: &note, Scopes: &scopes})
	if err != nil {
		t.Fatal(err)
	}
	_, apiKey, err := s.Tolk.APIKeys.Create(ctx, admin, "dialects")
	if err != nil {
		t.Fatal(err)
	}
	pt, err := s.Tolk.Platform.Create(ctx, admin, "dialects", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	exchanged := postForm(t, s, "/oauth/token", url.Values{
		"grant_type":    {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token": {pt.Secret},
	})["access_token"]
	opaque := codeFlowToken(t, s, false)
	jwt := codeFlowToken(t, s, true)

	cases := []struct {
		name, header, value, method string
	}{
		{"TMS ApiToken", "Authorization", "ApiToken " + apiToken, "apitoken"},
		{"OAuth opaque bearer", "Authorization", "Bearer " + opaque, "bearer"},
		{"OAuth JWT access token", "Authorization", "Bearer " + jwt, "jwt"},
		{"Strings PAT (token)", "Authorization", "token " + patToken, "pat"},
		{"Strings PAT (Bearer)", "Authorization", "Bearer " + patToken, "pat"},
		{"Strings PAT (Basic user name)", "Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(patToken+":")), "pat"},
		{"ProZ API key", "X-Proz-API-Key", apiKey, "apikey"},
		{"exchanged Platform JWT", "Authorization", "Bearer " + exchanged, "jwt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api2/v1/auth/whoAmI", "/user", "/v2/user", "/userinfo", "/auth/verify"} {
				req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
				req.Header.Set(tc.header, tc.value)
				resp, body := s.Do(t, req)
				if tc.method == "pat" && path == "/api2/v1/auth/whoAmI" {
					// A PAT is for the strings application; whoAmI is
					// tms's (SPEC §4).
					if resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("%s: %d %s, want 401", path, resp.StatusCode, body)
					}
					continue
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
				}
				if path == "/auth/verify" {
					if got := resp.Header.Get("X-Auth-Method"); got != tc.method {
						t.Errorf("X-Auth-Method = %q, want %q", got, tc.method)
					}
					if got := resp.Header.Get("X-Auth-Subject"); got != admin.UID {
						t.Errorf("X-Auth-Subject = %q, want %q", got, admin.UID)
					}
					continue
				}
				if !strings.Contains(string(body), admin.UID) {
					t.Errorf("%s does not name the user: %s", path, body)
				}
			}
		})
	}
}

func postForm(t *testing.T, s *tolktest.Server, path string, form url.Values) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := s.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	out := map[string]string{}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	for k, v := range raw {
		if sv, ok := v.(string); ok {
			out[k] = sv
		}
	}
	return out
}

// codeFlowToken signs admin in through the real forms and redeems the code
// for an access token with openid, profile and email; jwt picks an app
// that issues RFC 9068 JWT access tokens.
func codeFlowToken(t *testing.T, s *tolktest.Server, jwt bool) string {
	t.Helper()
	ctx := context.Background()
	org, _ := s.Store.DefaultOrganization(ctx)
	redirect := "http://127.0.0.1:9/cb"
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "dialects " + rand.Text()[:8], RedirectURIs: []string{redirect}, JWTAccessTokens: jwt})
	if err != nil {
		t.Fatal(err)
	}
	b := oauthflow.New(t, s.URL)
	p := b.Authorize(t, s.URL+"/oauth/authorize?"+url.Values{"client_id": {c.ID}, "redirect_uri": {redirect},
		"response_type": {"code"}, "scope": {"openid profile email"}, "state": {"s"}}.Encode(), "admin", tolktest.AdminPassword, "allow")
	if p.Location == nil {
		t.Fatalf("no redirect to the client: %d %s", p.Status, p.Body)
	}
	tok := postForm(t, s, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {oauthflow.Params(p.Location).Get("code")},
		"redirect_uri": {redirect}, "client_id": {c.ID}, "client_secret": {sec}})
	return tok["access_token"]
}
