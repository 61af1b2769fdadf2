package verify_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
	"github.com/tolk-project/tolk/verify"
)

// TestVerifyAgreesWithAuthVerify (issue 15.11): for every credential kind
// and every required audience and scopes, the verify package and tolk's
// /auth/verify give the same answer. Only an ApiToken and an API key carry
// their user's whole access; an OAuth or Platform token, opaque or JWT,
// carries exactly the scopes it names, and a JWT without a scope claim
// carries none. Each case is answered by
//
//   - /auth/verify?audience=…&scope=…,
//   - the verify package against tolk (JWTs verified locally, opaque
//     credentials through /auth/verify),
//   - the same with IntrospectJWTs (JWTs through /auth/verify too),
//   - tolk's own endpoints: its Resolver and verify.Check,
//   - the package with tolk's Resolver plugged in (Config.Resolver),
//   - a proxy in front of an upstream: /auth/verify without requirements,
//     its answer headers copied to the upstream request without the empty
//     ones (nginx sends no header for an empty value), read back by
//     verify.PrincipalFromHeaders and checked there.
func TestVerifyAgreesWithAuthVerify(t *testing.T) {
	s := tolktest.New(t, tolktest.Options{ClockStart: time.Now()}) // local JWT checks use the real clock
	u := s.CreateUser(t, "nora", store.RoleProjectManager, "nora-password-1")
	const pw = "nora-password-1"

	local, err := verify.New(verify.Config{Issuer: s.Tolk.Config.Issuer, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := verify.New(verify.Config{Issuer: s.Tolk.Config.Issuer, CacheTTL: -1, IntrospectJWTs: true})
	if err != nil {
		t.Fatal(err)
	}
	inProcess, err := verify.New(verify.Config{Resolver: s.Tolk.Resolver})
	if err != nil {
		t.Fatal(err)
	}

	auth := func(v string) [2]string { return [2]string{"Authorization", v} }
	bearer := func(tok string) [2]string { return auth("Bearer " + tok) }
	platform := func(aud, scope string) [2]string {
		tok, _ := verifytest.PlatformJWT(t, s, u, aud, scope)
		return bearer(tok)
	}
	clientCreds := func(jwt bool, allowed []string, asked string) [2]string {
		_, tok := verifytest.ClientCredentialsAsking(t, s, jwt, allowed, asked)
		return bearer(tok)
	}
	userToken := func(jwt bool, scope string) [2]string {
		return bearer(verifytest.UserToken(t, s, "nora", pw, jwt, nil, scope))
	}

	apiToken := auth("ApiToken " + verifytest.APIToken(t, s, "nora", pw))
	apiKey := [2]string{"X-Proz-API-Key", verifytest.APIKey(t, s, u)}
	patRead := auth("token " + verifytest.PAT(t, s, u, "read"))
	patNone := auth("token " + verifytest.PAT(t, s, u))
	jwtStringsRead := platform("strings", "read")
	jwtTMSWhole := platform("tms", "") // not narrowed: names the whole catalog
	// An app not allowed public that asks for no scope: a token without
	// scopes (a JWT without a scope claim).
	ccJWTNone := clientCreds(true, []string{"read"}, "")
	ccOpaqueNone := clientCreds(false, []string{"read"}, "")
	ccJWTPublic := clientCreds(true, []string{"public", "read"}, "")
	userJWT := userToken(true, "openid email")
	userOpaque := userToken(false, "openid email")

	rw := []string{"write", "team.manage"}
	for _, tc := range []struct {
		name     string
		cred     [2]string
		audience string
		scopes   []string
		want     int
	}{
		{"ApiToken, tms, any scope", apiToken, "tms", rw, 200},
		{"ApiToken, another application", apiToken, "strings", nil, 401},
		{"API key, any application and scope", apiKey, "strings", rw, 200},
		{"API key, no audience", apiKey, "", []string{"team.manage"}, 200},
		{"PAT with its scope", patRead, "strings", []string{"read"}, 200},
		{"PAT beyond its scope", patRead, "strings", []string{"write"}, 403},
		{"PAT, another application", patRead, "tms", []string{"read"}, 401},
		{"PAT without scopes, a scope required", patNone, "strings", []string{"read"}, 403},
		{"PAT without scopes, none required", patNone, "strings", nil, 200},
		{"Platform JWT with its scope", jwtStringsRead, "strings", []string{"read"}, 200},
		{"Platform JWT beyond its scope", jwtStringsRead, "strings", []string{"write"}, 403},
		{"Platform JWT, another application", jwtStringsRead, "tms", nil, 401},
		{"Platform JWT not narrowed", jwtTMSWhole, "tms", rw, 200},
		{"Platform JWT not narrowed, another application", jwtTMSWhole, "strings", nil, 401},
		{"OAuth JWT without scopes, write required", ccJWTNone, "", rw, 403},
		{"OAuth JWT without scopes, read required", ccJWTNone, "tms", []string{"read"}, 403},
		{"OAuth JWT without scopes, none required", ccJWTNone, "tms", nil, 200},
		{"opaque OAuth token without scopes, write required", ccOpaqueNone, "", rw, 403},
		{"opaque OAuth token without scopes, none required", ccOpaqueNone, "tms", nil, 200},
		{"OAuth JWT granted public", ccJWTPublic, "", []string{"public"}, 200},
		{"OAuth JWT granted public, read required", ccJWTPublic, "", []string{"read"}, 403},
		{"user's OAuth JWT with its scope", userJWT, "tms", []string{"email"}, 200},
		{"user's OAuth JWT beyond its scope", userJWT, "tms", []string{"write"}, 403},
		{"user's opaque OAuth token with its scope", userOpaque, "tms", []string{"email"}, 200},
		{"user's opaque OAuth token beyond its scope", userOpaque, "tms", []string{"write"}, 403},
		{"unknown token", bearer("tolk_at_nonsense"), "", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := verify.Require{Audience: tc.audience, Scopes: tc.scopes}
			got := map[string]int{
				"/auth/verify":                authVerify(t, s, tc.cred, req),
				"verify package":              middleware(t, local, tc.cred, req),
				"verify with IntrospectJWTs":  middleware(t, remote, tc.cred, req),
				"tolk's own endpoints":        ownEndpoint(t, s, tc.cred, req),
				"verify with tolk's Resolver": middleware(t, inProcess, tc.cred, req),
				"behind a proxy":              proxied(t, s, tc.cred, req),
			}
			for leg, status := range got {
				if status != tc.want {
					t.Errorf("%s: %d, want %d", leg, status, tc.want)
				}
			}
		})
	}
}

// authVerify asks tolk's /auth/verify with req as its query.
func authVerify(t *testing.T, s *tolktest.Server, cred [2]string, req verify.Require) int {
	t.Helper()
	q := url.Values{}
	if req.Audience != "" {
		q.Set("audience", req.Audience)
	}
	if len(req.Scopes) > 0 {
		q.Set("scope", strings.Join(req.Scopes, " "))
	}
	r, _ := http.NewRequest(http.MethodGet, s.URL+"/auth/verify?"+q.Encode(), nil)
	r.Header.Set(cred[0], cred[1])
	resp, _ := s.Do(t, r)
	return resp.StatusCode
}

// middleware runs v.Middleware(req) on a request carrying cred.
func middleware(t *testing.T, v *verify.Verifier, cred [2]string, req verify.Require) int {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/resource", nil)
	r.Header.Set(cred[0], cred[1])
	w := httptest.NewRecorder()
	v.Middleware(req)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
	return w.Code
}

// ownEndpoint decides as tolk's own resource endpoints do: the server's
// Resolver, then verify.Check.
func ownEndpoint(t *testing.T, s *tolktest.Server, cred [2]string, req verify.Require) int {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/resource", nil)
	r.Header.Set(cred[0], cred[1])
	p, err := s.Tolk.Resolver.Principal(r)
	if err == nil {
		err = verify.Check(p.Principal, req)
	}
	if err != nil {
		status, _, _, _ := verify.Classify(err)
		return status
	}
	return http.StatusOK
}

// proxied is an upstream behind a forward-auth proxy: /auth/verify decides
// the credential only; the upstream checks req on the copied headers.
func proxied(t *testing.T, s *tolktest.Server, cred [2]string, req verify.Require) int {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, s.URL+"/auth/verify", nil)
	r.Header.Set(cred[0], cred[1])
	resp, _ := s.Do(t, r)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode
	}
	copied := http.Header{}
	for k, v := range resp.Header {
		if len(v) > 0 && v[0] != "" {
			copied[k] = v
		}
	}
	if err := verify.Check(verify.PrincipalFromHeaders(copied), req); err != nil {
		status, _, _, _ := verify.Classify(err)
		return status
	}
	return http.StatusOK
}
