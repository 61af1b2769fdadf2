package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
	"github.com/tolk-project/tolk/verify"
)

// TestProjects runs the example API against a real tolk.
func TestProjects(t *testing.T) {
	s := tolktest.New(t, tolktest.Options{ClockStart: time.Now()})
	u := s.CreateUser(t, "lena", store.RoleProjectManager, "lena-password-1")
	v, err := verify.New(verify.Config{Issuer: s.Tolk.Config.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(v))
	t.Cleanup(srv.Close)

	apiToken := verifytest.APIToken(t, s, "lena", "lena-password-1")
	patRead := verifytest.PAT(t, s, u, "read")
	patWrite := verifytest.PAT(t, s, u, "read", "write")
	stringsJWT, _ := verifytest.PlatformJWT(t, s, u, "strings", "read")
	_, tmsReadToken := verifytest.ClientCredentials(t, s, false, "read")

	for _, tc := range []struct {
		name, method, path, auth string
		status                   int
		challenge                string // substring of WWW-Authenticate
	}{
		{"ApiToken lists tms projects", "GET", "/projects", "ApiToken " + apiToken, 200, ""},
		{"ApiToken creates a tms project", "POST", "/projects", "ApiToken " + apiToken, 201, ""},
		{"PAT with write creates a strings project", "POST", "/strings/projects", "token " + patWrite, 201, ""},
		{"PAT with read lists strings projects", "GET", "/strings/projects", "token " + patRead, 200, ""},
		{"Platform JWT for strings lists strings projects", "GET", "/strings/projects", "Bearer " + stringsJWT, 200, ""},
		{"OAuth token with read lists tms projects", "GET", "/projects", "Bearer " + tmsReadToken, 200, ""},
		{"no credentials", "GET", "/projects", "", 401, `Bearer realm="tolk"`},
		{"Platform JWT of another application", "GET", "/projects", "Bearer " + stringsJWT, 401, `error="invalid_token"`},
		{"PAT of another application", "GET", "/projects", "token " + patWrite, 401, `error="invalid_token"`},
		{"ApiToken of another application", "GET", "/strings/projects", "ApiToken " + apiToken, 401, `error="invalid_token"`},
		{"PAT without write", "POST", "/strings/projects", "token " + patRead, 403, `error="insufficient_scope", error_description="the token lacks a required scope", scope="write"`},
		{"Platform JWT without write", "POST", "/strings/projects", "Bearer " + stringsJWT, 403, `scope="write"`},
		{"OAuth token without write", "POST", "/projects", "Bearer " + tmsReadToken, 403, `error="insufficient_scope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(`{"name":"Website"}`))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) || (tc.challenge == "") != (got == "") {
				t.Errorf("WWW-Authenticate %q, want it to contain %q", got, tc.challenge)
			}
		})
	}
}
