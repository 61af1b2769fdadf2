package oauthapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestTokenRefusesRepeatedParameters: the token endpoint answers
// invalid_request naming the parameter when one occurs twice (RFC 6749
// §3.2), whichever way the form reaches its parser (plain, escaped,
// repeated with an empty value, past an empty pair), and issues a token
// for the same form without the repetition. Issue 20 point 5 gave
// httpx.ParseForm a parser of its own for plain forms; this is the
// refusal it must keep.
func TestTokenRefusesRepeatedParameters(t *testing.T) {
	s := tolktest.New(t)
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "machine",
		GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"read", "write"}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, map[string]any) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(c.ID, sec)
		w := serve(s, r)
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	for body, param := range map[string]string{
		"grant_type=client_credentials&scope=read&scope=write":              "scope",
		"grant_type=client_credentials&scope=read&scope=read":               "scope",
		"grant_type=client_credentials&scope=read&sc%6Fpe=read":             "scope",
		"grant_type=client_credentials&scope=read&&scope=":                  "scope",
		"grant_type=client_credentials&grant_type=client_credentials":       "grant_type",
		"grant_type=client_credentials&scope=read&grant_type=refresh_token": "grant_type",
	} {
		code, m := post(body)
		if code != http.StatusBadRequest || m["error"] != "invalid_request" || !strings.Contains(m["error_description"].(string), param) {
			t.Errorf("%s: %d %v, want 400 invalid_request naming %s", body, code, m, param)
		}
	}
	for _, body := range []string{"grant_type=client_credentials&scope=read", "grant_type=client_credentials&scope=read+write&", "grant_type=client_credentials&sc%6Fpe=read"} {
		if code, m := post(body); code != http.StatusOK || m["access_token"] == nil {
			t.Errorf("%s: %d %v, want a token", body, code, m)
		}
	}
}
