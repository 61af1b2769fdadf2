package oauthapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

func serve(s *tolktest.Server, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.Tolk.Handler.ServeHTTP(w, r)
	return w
}

// oauthErrors are the error codes the token, introspection and revocation
// endpoints may answer with (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 7009).
var oauthErrors = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
	"invalid_scope", "invalid_target", "unsupported_token_type", "slow_down", "temporarily_unavailable",
}

// FuzzTokenEndpoint: any content type, body and Authorization header at
// POST /oauth/token and the Platform alias: the form parser, duplicate
// parameters, client authentication (Basic with form-urlencoded values,
// client_secret_post), every grant type and the token exchange. The
// answer is JSON with Cache-Control: no-store: 200 with an access token,
// or an RFC 6749 §5.2 error with 400, 401 (with WWW-Authenticate), 413,
// 415 or 429; never a 5xx (T43, T25).
func FuzzTokenEndpoint(f *testing.F) {
	s := tolktest.New(f)
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		f.Fatal(err)
	}
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "machine",
		GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"read", "write"}})
	if err != nil {
		f.Fatal(err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ID)+":"+url.QueryEscape(sec)))
	const form = "application/x-www-form-urlencoded"
	for _, seed := range []struct{ ctype, authz, body string }{
		{form, basic, "grant_type=client_credentials&scope=read"},
		{form, basic, "grant_type=client_credentials&scope=read&scope=write"},
		{form, basic, "grant_type=client_credentials&client_secret=x"},
		{form, "", "grant_type=client_credentials&client_id=" + c.ID + "&client_secret=" + sec},
		{form, "", "grant_type=client_credentials&client_id=" + c.ID + "&client_secret=wrong"},
		{form, "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":%zz")), "grant_type=client_credentials"},
		{form, "Basic !!!", "grant_type=client_credentials"},
		{form, "Bearer x", "grant_type=client_credentials"},
		{form, "", "grant_type=authorization_code&code=tolk_ac_x&client_id=" + c.ID + "&code_verifier=short"},
		{form, "", "grant_type=refresh_token&refresh_token=tolk_rt_x&client_id=" + c.ID},
		{form, "", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=tolk_pt_x"},
		{form, "", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=x&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&audience=evil"},
		{form, "", "grant_type=password&username=admin&password=x"},
		{form, "", "grant_type=implicit"},
		{form, "", "grant_type=client_credentials&scope=%22"},
		{form, "", "a=%zz"},
		{form, "", ""},
		{"application/json", "", `{"grant_type":"client_credentials"}`},
		{"", "", "grant_type=client_credentials"},
		{form + "; charset=\"", "", "grant_type=client_credentials"},
	} {
		f.Add(seed.ctype, seed.authz, []byte(seed.body), false)
	}
	f.Add(form, basic, []byte("grant_type=client_credentials"), true)
	f.Fuzz(func(t *testing.T, ctype, authorization string, body []byte, platform bool) {
		path := "/oauth/token"
		if platform {
			path = "/idm/oauth/token"
		}
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.Header["Content-Type"] = []string{ctype}
		if authorization != "" {
			r.Header["Authorization"] = []string{authorization}
		}
		w := serve(s, r)
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("status %d, Content-Type %q: %s", w.Code, ct, w.Body)
		}
		if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Fatalf("Cache-Control %q", cc)
		}
		var resp struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			Error       string `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("status %d, body not JSON: %s", w.Code, w.Body)
		}
		switch w.Code {
		case http.StatusOK:
			if resp.AccessToken == "" || !strings.EqualFold(resp.TokenType, "Bearer") || resp.Error != "" {
				t.Fatalf("200 without a token: %s", w.Body)
			}
			return
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge,
			http.StatusUnsupportedMediaType, http.StatusTooManyRequests:
		default:
			t.Fatalf("%q %q %q: status %d: %s", ctype, authorization, body, w.Code, w.Body)
		}
		if !slices.Contains(oauthErrors, resp.Error) || resp.AccessToken != "" {
			t.Fatalf("status %d, error %q: %s", w.Code, resp.Error, w.Body)
		}
		if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("401 without WWW-Authenticate: %s", w.Body)
		}
		if len(sec) > 0 && bytes.Contains(w.Body.Bytes(), []byte(sec)) {
			t.Fatalf("client secret echoed: %s", w.Body)
		}
	})
}

// FuzzResourceCredentials: credentials of every dialect at the resource
// endpoints tolk serves (/userinfo, /v2/user): any Authorization header
// (ApiToken, token, Bearer with opaque tokens, JWTs or PATs, Basic) and
// any API key header go through authn and the dialects' verifiers (the
// JWT verifier included). Without a real credential the answer is 401
// with WWW-Authenticate (or the ProZ API-key error), 403 or 429; never
// 200 and never a 5xx.
func FuzzResourceCredentials(f *testing.F) {
	s := tolktest.New(f)
	jwtSeed := "eyJhbGciOiJSUzI1NiIsImtpZCI6IngiLCJ0eXAiOiJhdCtqd3QifQ.e30.AAAA"
	for _, seed := range []struct{ authz, key string }{
		{"Bearer tolk_at_abc", ""},
		{"Bearer " + jwtSeed, ""},
		{"Bearer eyJhbGciOiJub25lIn0.e30.", ""},
		{"Bearer " + strings.Repeat("a", 64), ""},
		{"token " + strings.Repeat("a", 64), ""},
		{"ApiToken " + strings.Repeat("a", 64), ""},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 64)+":")), ""},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+tolktest.AdminPassword)), ""},
		{"Basic %%%", ""},
		{"", "tolk_pk_abc"},
		{"", "' OR 1=1--"},
		{"Negotiate x", ""},
		{"Bearer", ""},
	} {
		f.Add(seed.authz, seed.key, false)
	}
	f.Fuzz(func(t *testing.T, authorization, key string, v2 bool) {
		path := "/userinfo"
		if v2 {
			path = "/v2/user"
		}
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if authorization != "" {
			r.Header["Authorization"] = []string{authorization}
		}
		if key != "" {
			r.Header["X-Proz-Api-Key"] = []string{key}
		}
		w := serve(s, r)
		switch w.Code {
		case http.StatusUnauthorized:
			proz := strings.Contains(w.Body.String(), "invalid_api_key")
			if w.Header().Get("WWW-Authenticate") == "" && !proz {
				t.Fatalf("401 without WWW-Authenticate: %s", w.Body)
			}
		case http.StatusForbidden, http.StatusTooManyRequests, http.StatusBadRequest:
		default:
			t.Fatalf("%s with %q / %q: status %d: %s", path, authorization, key, w.Code, w.Body)
		}
	})
}
