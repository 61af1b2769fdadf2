// Package verifytest obtains credentials of every dialect from a running
// tolktest server, for the tests of /auth/verify, the verify package and
// the example API.
package verifytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/pat"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// APIToken logs userName in with the TMS dialect and returns the ApiToken.
func APIToken(t testing.TB, s *tolktest.Server, userName, pw string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"userName": userName, "password": pw})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api2/v1/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, raw := s.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, raw)
	}
	var out struct{ Token string }
	if err := json.Unmarshal(raw, &out); err != nil || out.Token == "" {
		t.Fatalf("login: %s", raw)
	}
	return out.Token
}

// Logout logs an ApiToken out (TMS POST /api2/v1/auth/logout).
func Logout(t testing.TB, s *tolktest.Server, tok string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api2/v1/auth/logout", nil)
	req.Header.Set("Authorization", "ApiToken "+tok)
	if resp, raw := s.Do(t, req); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, raw)
	}
}

// ClientCredentials registers a client_credentials app with scopes and
// returns its client id and an (opaque, or JWT if jwt) access token.
func ClientCredentials(t testing.TB, s *tolktest.Server, jwt bool, scopes ...string) (string, string) {
	t.Helper()
	return ClientCredentialsAsking(t, s, jwt, scopes, strings.Join(scopes, " "))
}

// ClientCredentialsAsking registers a client_credentials app allowed
// scopes and returns its client id and the access token it gets asking
// for scope ("": the scope parameter is left out).
func ClientCredentialsAsking(t testing.TB, s *tolktest.Server, jwt bool, scopes []string, scope string) (string, string) {
	t.Helper()
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "verify-test " + rand.Text()[:8],
		GrantTypes: []string{"client_credentials"}, Scopes: scopes, JWTAccessTokens: jwt})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, sec)
	return c.ID, token(t, s, req)
}

func token(t testing.TB, s *tolktest.Server, req *http.Request) string {
	t.Helper()
	resp, raw := s.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.AccessToken == "" {
		t.Fatalf("token: %s", raw)
	}
	return out.AccessToken
}

// PlatformJWT creates a Platform API token for u and exchanges it for a
// JWT narrowed to audience and scope (empty: not narrowed). It returns the
// JWT and the API token's id.
func PlatformJWT(t testing.TB, s *tolktest.Server, u store.User, audience, scope string) (string, string) {
	t.Helper()
	pt, err := s.Tolk.Platform.Create(context.Background(), u, "verify-test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {pt.Secret}}
	if audience != "" {
		form.Set("audience", audience)
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return token(t, s, req), pt.Token.ID
}

// PAT creates a Strings personal access token for u with scopes.
func PAT(t testing.TB, s *tolktest.Server, u store.User, scopes ...string) string {
	t.Helper()
	tok, _ := PATWithID(t, s, u, scopes...)
	return tok
}

// PATWithID is PAT, also returning the token's id.
func PATWithID(t testing.TB, s *tolktest.Server, u store.User, scopes ...string) (string, string) {
	t.Helper()
	note := "verify-test"
	rec, tok, err := s.Tolk.PATs.Create(context.Background(), u, pat.Changes{Note: &note, Scopes: &scopes})
	if err != nil {
		t.Fatal(err)
	}
	return tok, rec.ID
}

// APIKey creates a ProZ API key for u.
func APIKey(t testing.TB, s *tolktest.Server, u store.User) string {
	t.Helper()
	_, key, err := s.Tolk.APIKeys.Create(context.Background(), u, "verify-test")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// UserToken registers an authorization-code app for auds (nil: every
// application) with JWT access tokens if jwt, and returns the access token
// that userName grants it for scope through the real sign-in and consent
// pages.
func UserToken(t testing.TB, s *tolktest.Server, userName, pw string, jwt bool, auds []string, scope string) string {
	t.Helper()
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	redirect := "http://127.0.0.1:9/cb"
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "verify-test " + rand.Text()[:8],
		RedirectURIs: []string{redirect}, Audiences: auds, JWTAccessTokens: jwt})
	if err != nil {
		t.Fatal(err)
	}
	b := oauthflow.New(t, s.URL)
	p := b.Authorize(t, s.URL+"/oauth/authorize?"+url.Values{"client_id": {c.ID}, "redirect_uri": {redirect},
		"response_type": {"code"}, "scope": {scope}, "state": {"s"}}.Encode(), userName, pw, "allow")
	if p.Location == nil {
		t.Fatalf("authorize: no redirect to the client: %d %s", p.Status, p.Body)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {oauthflow.Params(p.Location).Get("code")},
		"redirect_uri": {redirect}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, sec)
	return token(t, s, req)
}
