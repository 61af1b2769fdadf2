package verify_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
	"github.com/tolk-project/tolk/verify"
)

func serve(t *testing.T, v *verify.Verifier, req verify.Require) *httptest.Server {
	h := v.Middleware(req)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := verify.FromContext(r.Context())
		if !ok {
			t.Error("no principal in context")
		}
		_ = json.NewEncoder(w).Encode(p)
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, url string, hdr map[string]string) (*http.Response, verify.Principal) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p verify.Principal
	if resp.StatusCode == 200 {
		_ = json.NewDecoder(resp.Body).Decode(&p)
	}
	return resp, p
}

// TestVerifier_Dialects runs the middleware against a real tolk: every
// dialect, audiences and scopes.
func TestVerifier_Dialects(t *testing.T) {
	s := tolktest.New(t, tolktest.Options{ClockStart: time.Now()})
	u := s.CreateUser(t, "lena", store.RoleProjectManager, "lena-password-1")
	v, err := verify.New(verify.Config{Issuer: s.Tolk.Config.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	tmsRead := serve(t, v, verify.Require{Audience: "tms", Scopes: []string{"read"}}).URL
	stringsRead := serve(t, v, verify.Require{Audience: "strings", Scopes: []string{"read"}}).URL
	stringsWrite := serve(t, v, verify.Require{Audience: "strings", Scopes: []string{"write"}}).URL
	routeScope := map[string]string{tmsRead: "read", stringsRead: "read", stringsWrite: "write"}

	apiToken := verifytest.APIToken(t, s, "lena", "lena-password-1")
	pat := verifytest.PAT(t, s, u, "read")
	jwt, _ := verifytest.PlatformJWT(t, s, u, "strings", "read")
	clientID, ccJWT := verifytest.ClientCredentials(t, s, true, "read")
	opaqueID, opaque := verifytest.ClientCredentials(t, s, false, "read")
	key := verifytest.APIKey(t, s, u)

	for _, tc := range []struct {
		name   string
		url    string
		hdr    map[string]string
		status int
		method verify.Method
		sub    string
	}{
		{"ApiToken", tmsRead, map[string]string{"Authorization": "ApiToken " + apiToken}, 200, verify.MethodAPIToken, u.UID},
		{"ApiToken of another application", stringsRead, map[string]string{"Authorization": "ApiToken " + apiToken}, 401, "", ""},
		{"PAT", stringsRead, map[string]string{"Authorization": "token " + pat}, 200, verify.MethodPAT, u.UID},
		{"PAT missing scope", stringsWrite, map[string]string{"Authorization": "token " + pat}, 403, "", ""},
		{"PAT as Basic user", stringsRead, map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(pat+":"))}, 200, verify.MethodPAT, u.UID},
		{"Basic with a password", stringsRead, map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(pat+":pw"))}, 401, "", ""},
		{"Basic not base64", stringsRead, map[string]string{"Authorization": "Basic %%%"}, 401, "", ""},
		{"PAT of another application", tmsRead, map[string]string{"Authorization": "token " + pat}, 401, "", ""},
		{"Platform JWT, verified locally", stringsRead, map[string]string{"Authorization": "Bearer " + jwt}, 200, verify.MethodJWT, u.UID},
		{"Platform JWT of another application", tmsRead, map[string]string{"Authorization": "Bearer " + jwt}, 401, "", ""},
		{"OAuth JWT", tmsRead, map[string]string{"Authorization": "Bearer " + ccJWT}, 200, verify.MethodJWT, clientID},
		{"opaque OAuth token", tmsRead, map[string]string{"Authorization": "Bearer " + opaque}, 200, verify.MethodBearer, opaqueID},
		{"API key", stringsWrite, map[string]string{"X-Proz-API-Key": key}, 200, verify.MethodAPIKey, u.UID},
		{"bad API key", tmsRead, map[string]string{"X-Proz-API-Key": "tolk_pk_nonsense"}, 401, "", ""},
		{"no credentials", tmsRead, nil, 401, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, p := call(t, tc.url, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 200 {
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate")
				}
				return
			}
			if p.Method != tc.method || p.Subject != tc.sub {
				t.Errorf("principal %+v, want method %s subject %s", p, tc.method, tc.sub)
			}
			// The rest of the principal: the user (or, for a
			// client_credentials token, the client and no user), the
			// organization, and a scope that satisfies the route.
			wantUser, wantClient := u.UID, p.ClientID
			if tc.sub != u.UID {
				wantUser, wantClient = "", tc.sub
			}
			if p.UserUID != wantUser || p.ClientID != wantClient || p.OrgUID != u.OrgUID || !p.HasScope(routeScope[tc.url]) {
				t.Errorf("principal %+v, want user %q, client %q, org %s, scope %s", p, wantUser, wantClient, u.OrgUID, routeScope[tc.url])
			}
		})
	}
}

// keyServer is a JWKS under test control.
type keyServer struct {
	srv     *httptest.Server
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches atomic.Int32
}

func newKeyServer(t *testing.T) *keyServer {
	ks := &keyServer{}
	ks.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
	ks.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ks.ed, _ = ed25519.GenerateKey(rand.Reader)
	ks.keys = []jose.JSONWebKey{
		{Key: &ks.rsa.PublicKey, KeyID: "r1", Algorithm: "RS256", Use: "sig"},
		{Key: &ks.ec.PublicKey, KeyID: "e1", Algorithm: "ES256", Use: "sig"},
		{Key: ks.ed.Public(), KeyID: "d1", Algorithm: "EdDSA", Use: "sig"},
	}
	ks.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		defer ks.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: ks.keys})
	}))
	t.Cleanup(ks.srv.Close)
	return ks
}

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, hdr map[jose.HeaderKey]any, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"typ": "at+jwt"}}
	for k, v := range hdr {
		opts.ExtraHeaders[k] = v
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

// TestVerifier_JWTPolicy: algorithms are pinned to the JWK, header keys
// are refused, and iss, exp, nbf and aud are checked.
func TestVerifier_JWTPolicy(t *testing.T) {
	ks := newKeyServer(t)
	now := time.Unix(1_800_000_000, 0)
	v, _ := verify.New(verify.Config{Issuer: "https://id.example", JWKSURL: ks.srv.URL, VerifyURL: "http://127.0.0.1:1/none",
		Now: func() time.Time { return now }, Leeway: 10 * time.Second})
	url := serve(t, v, verify.Require{Audience: "tms", Scopes: []string{"read"}}).URL
	good := func() map[string]any {
		return map[string]any{"iss": "https://id.example", "sub": "u1", "aud": []string{"tms"}, "exp": now.Unix() + 60,
			"client_id": "c1", "scope": "read", "org_uid": "o1"}
	}
	with := func(k string, v any) map[string]any { c := good(); c[k] = v; return c }
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaKid := map[jose.HeaderKey]any{"kid": "r1"}
	for _, tc := range []struct {
		name   string
		tok    string
		status int
	}{
		{"RS256", sign(t, jose.RS256, ks.rsa, rsaKid, good()), 200},
		{"ES256", sign(t, jose.ES256, ks.ec, map[jose.HeaderKey]any{"kid": "e1"}, good()), 200},
		{"EdDSA", sign(t, jose.EdDSA, ks.ed, map[jose.HeaderKey]any{"kid": "d1"}, good()), 200},
		{"EdDSA header on the EC key", sign(t, jose.EdDSA, ks.ed, map[jose.HeaderKey]any{"kid": "e1"}, good()), 401},
		{"ES256 header on the Ed25519 key", sign(t, jose.ES256, ks.ec, map[jose.HeaderKey]any{"kid": "d1"}, good()), 401},
		{"EdDSA signed by another key", sign(t, jose.EdDSA, ed25519.NewKeyFromSeed(make([]byte, 32)), map[jose.HeaderKey]any{"kid": "d1"}, good()), 401},
		{"string aud", sign(t, jose.RS256, ks.rsa, rsaKid, with("aud", "tms")), 200},
		{"alg not matching the JWK", sign(t, jose.PS256, ks.rsa, rsaKid, good()), 401},
		{"RS384 not allowed", sign(t, jose.RS384, ks.rsa, rsaKid, good()), 401},
		{"HS256 not allowed", sign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), rsaKid, good()), 401},
		{"ES256 header on the RSA key", sign(t, jose.ES256, ks.ec, rsaKid, good()), 401},
		{"jku header", sign(t, jose.RS256, ks.rsa, map[jose.HeaderKey]any{"kid": "r1", "jku": "https://evil.example/jwks"}, good()), 401},
		{"x5u header", sign(t, jose.RS256, ks.rsa, map[jose.HeaderKey]any{"kid": "r1", "x5u": "https://evil.example/cert"}, good()), 401},
		{"jwk header", sign(t, jose.RS256, ks.rsa, map[jose.HeaderKey]any{"kid": "r1", "jwk": map[string]string{"kty": "oct"}}, good()), 401},
		{"x5c header", sign(t, jose.RS256, ks.rsa, map[jose.HeaderKey]any{"kid": "r1", "x5c": []string{"AAAA"}}, good()), 401},
		{"signed by another key", sign(t, jose.RS256, other, rsaKid, good()), 401},
		{"wrong typ", sign(t, jose.RS256, ks.rsa, map[jose.HeaderKey]any{"kid": "r1", "typ": "JWT"}, good()), 401},
		{"wrong issuer", sign(t, jose.RS256, ks.rsa, rsaKid, with("iss", "https://evil.example")), 401},
		{"expired beyond leeway", sign(t, jose.RS256, ks.rsa, rsaKid, with("exp", now.Unix()-11)), 401},
		{"expired within leeway", sign(t, jose.RS256, ks.rsa, rsaKid, with("exp", now.Unix()-5)), 200},
		{"no exp", sign(t, jose.RS256, ks.rsa, rsaKid, with("exp", nil)), 401},
		{"not yet valid", sign(t, jose.RS256, ks.rsa, rsaKid, with("nbf", now.Unix()+60)), 401},
		{"another application", sign(t, jose.RS256, ks.rsa, rsaKid, with("aud", []string{"strings"})), 401},
		{"missing scope", sign(t, jose.RS256, ks.rsa, rsaKid, with("scope", "write")), 403},
		{"no kid", sign(t, jose.RS256, ks.rsa, nil, good()), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, _ := call(t, url, map[string]string{"Authorization": "Bearer " + tc.tok}); resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// TestVerifier_JWKSRefreshRateLimited: unknown kids refetch the JWKS at
// most once per interval, and a rotated-in key is found on the next
// allowed refetch.
func TestVerifier_JWKSRefreshRateLimited(t *testing.T) {
	ks := newKeyServer(t)
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v, _ := verify.New(verify.Config{Issuer: "https://id.example", JWKSURL: ks.srv.URL, VerifyURL: "http://127.0.0.1:1/none",
		Now: clock, JWKSRefreshInterval: 10 * time.Second})
	url := serve(t, v, verify.Require{}).URL
	claims := map[string]any{"iss": "https://id.example", "sub": "u1", "exp": now.Unix() + 3600, "client_id": "c1"}
	rotated, _ := rsa.GenerateKey(rand.Reader, 2048)
	tok := sign(t, jose.RS256, rotated, map[jose.HeaderKey]any{"kid": "r2"}, claims)
	for i := range 20 {
		forged := sign(t, jose.RS256, rotated, map[jose.HeaderKey]any{"kid": "forged-" + string(rune('a'+i))}, claims)
		if resp, _ := call(t, url, map[string]string{"Authorization": "Bearer " + forged}); resp.StatusCode != 401 {
			t.Fatalf("forged kid: %d", resp.StatusCode)
		}
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches for 20 unknown kids, want 1", n)
	}
	ks.mu.Lock()
	ks.keys = append(ks.keys, jose.JSONWebKey{Key: &rotated.PublicKey, KeyID: "r2", Algorithm: "RS256", Use: "sig"})
	ks.mu.Unlock()
	if resp, _ := call(t, url, map[string]string{"Authorization": "Bearer " + tok}); resp.StatusCode != 401 {
		t.Fatalf("rotated key within the interval: %d, want 401 (refetch rate-limited)", resp.StatusCode)
	}
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	if resp, _ := call(t, url, map[string]string{"Authorization": "Bearer " + tok}); resp.StatusCode != 200 {
		t.Fatalf("rotated key after the interval: %d, want 200", resp.StatusCode)
	}
	if n := ks.fetches.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches, want 2", n)
	}
}

// TestVerifier_OpaqueCacheBound: answers of VerifyURL, positive and
// negative, are reused for at most CacheTTL; failures of the issuer are
// not cached and answer 503.
func TestVerifier_OpaqueCacheBound(t *testing.T) {
	var calls atomic.Int32
	var valid, broken atomic.Bool
	valid.Store(true)
	tolk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch {
		case broken.Load():
			w.WriteHeader(http.StatusBadGateway)
		case r.Header.Get("Authorization") == "ApiToken good" && valid.Load():
			w.Header().Set("X-Auth-Subject", "u1")
			w.Header().Set("X-Auth-User", "lena")
			w.Header().Set("X-Auth-Method", "apitoken")
			w.Header().Set("X-Auth-Audiences", "tms")
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(tolk.Close)
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	v, _ := verify.New(verify.Config{Issuer: tolk.URL, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	url := serve(t, v, verify.Require{Audience: "tms"}).URL
	good := map[string]string{"Authorization": "ApiToken good"}
	status := func(h map[string]string) int { resp, _ := call(t, url, h); return resp.StatusCode }

	if s := status(good); s != 200 {
		t.Fatalf("first: %d", s)
	}
	valid.Store(false) // logged out at tolk
	advance(4 * time.Second)
	if s := status(good); s != 200 || calls.Load() != 1 {
		t.Fatalf("within the 5 s bound: status %d after %d calls, want the cached 200 after 1", s, calls.Load())
	}
	advance(time.Second)
	if s := status(good); s != 401 {
		t.Fatalf("at the bound: %d, want 401", s)
	}
	bad := map[string]string{"Authorization": "ApiToken bad"}
	status(bad)
	n := calls.Load()
	if s := status(bad); s != 401 || calls.Load() != n {
		t.Fatalf("negative answer not cached: %d, %d calls", s, calls.Load())
	}
	broken.Store(true)
	other := map[string]string{"Authorization": "ApiToken other"}
	for range 2 {
		if s := status(other); s != 503 {
			t.Fatalf("issuer failing: %d, want 503", s)
		}
	}
	if calls.Load() != n+2 {
		t.Fatalf("a failure was cached")
	}
}
