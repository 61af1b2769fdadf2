package platform_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tolk-project/tolk/internal/platform"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestT42_RevokedTokenRefusesExchangedJWT: revoking the API token makes
// tolk refuse the JWTs exchanged from it at once, at whoAmI and at
// introspection, and refuses new exchanges.
func TestT42_RevokedTokenRefusesExchangedJWT(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, s *tolktest.Server) {
		u, c := newAPIToken(t, s, "pia", time.Time{})
		_, keep := newAPIToken(t, s, "quinn", time.Time{})
		jwt1, _ := exchange(t, s, c.Secret)
		jwt2, _ := exchange(t, s, c.Secret, "scope", "read")
		other, _ := exchange(t, s, keep.Secret)
		introspect := introspector(t, s, defaultOrg(t, s))
		for _, j := range []string{jwt1, jwt2, other} {
			if code, _ := whoAmI(t, s, j); code != http.StatusOK {
				t.Fatalf("whoAmI before revocation = %d", code)
			}
			if got := introspect(j); got["active"] != true {
				t.Fatalf("introspection before revocation = %v", got)
			}
		}
		if err := s.Tolk.Platform.Revoke(context.Background(), u.UID, c.Token.ID); err != nil {
			t.Fatal(err)
		}
		// No clock advance: "at once".
		for _, j := range []string{jwt1, jwt2} {
			if code, _ := whoAmI(t, s, j); code != http.StatusUnauthorized {
				t.Errorf("whoAmI after revocation = %d, want 401", code)
			}
			if got := introspect(j); got["active"] != false {
				t.Errorf("introspection after revocation = %v, want inactive", got)
			}
		}
		if resp, m := post(t, s, "/oauth/token", exchangeForm(c.Secret)); resp.StatusCode != 400 || m["error"] != "invalid_request" {
			t.Errorf("exchange after revocation = %d %v, want invalid_request", resp.StatusCode, m)
		}
		// Another token's JWT is untouched.
		if code, _ := whoAmI(t, s, other); code != http.StatusOK {
			t.Errorf("whoAmI with another token's JWT = %d, want 200", code)
		}
	})
}

// TestT42_LifetimeBounded: expires_in ≤ 14400, and never beyond the API
// token's own expiry.
func TestT42_LifetimeBounded(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	now := s.Clock.Now()
	tests := []struct {
		name    string
		expires time.Time
		want    int64
	}{
		{"never-expiring token", time.Time{}, 14399},
		{"token valid for a day", now.Add(24 * time.Hour), 14399},
		{"token expiring in an hour", now.Add(time.Hour), 3600},
	}
	for i, tt := range tests {
		_, c := newAPIToken(t, s, "user"+string(rune('a'+i)), tt.expires)
		jwt, m := exchange(t, s, c.Secret)
		in := int64(m["expires_in"].(float64))
		if in != tt.want || in > 14400 {
			t.Errorf("%s: expires_in = %d, want %d (≤ 14400)", tt.name, in, tt.want)
		}
		_, cl := jwtParts(t, jwt)
		exp := int64(cl["exp"].(float64))
		if exp-now.Unix() != tt.want || (!tt.expires.IsZero() && exp > tt.expires.Unix()) {
			t.Errorf("%s: exp = %d (now %d), outlives the token or disagrees with expires_in", tt.name, exp, now.Unix())
		}
	}
	// And the JWT stops working at exp.
	_, c := newAPIToken(t, s, "zoe", time.Time{})
	jwt, _ := exchange(t, s, c.Secret)
	s.Clock.Advance(14399*time.Second - time.Second)
	if code, _ := whoAmI(t, s, jwt); code != http.StatusOK {
		t.Errorf("whoAmI a second before exp = %d", code)
	}
	s.Clock.Advance(time.Second)
	if code, _ := whoAmI(t, s, jwt); code != http.StatusUnauthorized {
		t.Errorf("whoAmI at exp = %d, want 401", code)
	}
}

// TestT42_NoMoreScopeThanAsked: the JWT carries exactly the scopes asked
// for, tolk's principal has no more, and a scope outside the catalog is
// refused rather than granted.
func TestT42_NoMoreScopeThanAsked(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	_, c := newAPIToken(t, s, "pia", time.Time{})
	jwt, _ := exchange(t, s, c.Secret, "scope", "read")
	if _, cl := jwtParts(t, jwt); cl["scope"] != "read" {
		t.Errorf("scope claim = %v, want read", cl["scope"])
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
	req.Header.Set("Authorization", "Bearer "+jwt)
	p, err := s.Tolk.Authn.Authenticate(req)
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasScope("read") || p.HasScope("write") || p.HasScope("team.manage") {
		t.Errorf("principal scopes = %v, want exactly read", p.Scopes)
	}
	if p.Method != "jwt" || p.ClientID != platform.ClientIDPrefix+c.Token.ID {
		t.Errorf("principal = %+v", p)
	}
	if resp, m := post(t, s, "/oauth/token", exchangeForm(c.Secret, "scope", "read superuser")); resp.StatusCode != 400 || m["error"] != "invalid_scope" {
		t.Errorf("widening scope = %d %v, want invalid_scope", resp.StatusCode, m)
	}
	if introspect := introspector(t, s, defaultOrg(t, s)); introspect(jwt)["scope"] != "read" {
		t.Errorf("introspected scope != read")
	}
}

// TestT31_ExchangedJWTForgeries: tolk's verifier of exchanged JWTs rejects
// alg none, HS256 with a public key as secret, a header naming another
// key, an unknown kid, a tampered payload and an id_token-typed JWT, even
// when signed by tolk's own key.
func TestT31_ExchangedJWTForgeries(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	_, c := newAPIToken(t, s, "pia", time.Time{})
	good, _ := exchange(t, s, c.Secret)
	hdr, cl := jwtParts(t, good)
	parts := strings.Split(good, ".")
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	with := func(m map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for kk, vv := range m {
			out[kk] = vv
		}
		out[k] = v
		return out
	}
	jwks := fetchJWKS(t, s)
	pubJSON, _ := json.Marshal(jwks.Keys[0])
	hs := func(h, p string) string {
		mac := hmac.New(sha256.New, pubJSON)
		mac.Write([]byte(h + "." + p))
		return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	wrongTyp, err := s.Tolk.Keys.Sign(context.Background(), "ES256", "JWT", cl)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, tok string }{
		{"alg none", enc(with(hdr, "alg", "none")) + "." + parts[1] + "."},
		{"HS256 keyed with the public key", hs(enc(with(hdr, "alg", "HS256")), parts[1])},
		{"jwk header", enc(with(hdr, "jwk", jwks.Keys[0])) + "." + parts[1] + "." + parts[2]},
		{"jku header", enc(with(hdr, "jku", "https://evil.example/jwks")) + "." + parts[1] + "." + parts[2]},
		{"unknown kid", enc(with(hdr, "kid", "not-our-key")) + "." + parts[1] + "." + parts[2]},
		{"widened scope", parts[0] + "." + enc(with(cl, "scope", "team.manage")) + "." + parts[2]},
		{"other subject", parts[0] + "." + enc(with(cl, "sub", "00000000-0000-4000-8000-000000000001")) + "." + parts[2]},
		{"typ JWT (id_token-like), our key", wrongTyp},
	}
	for _, tt := range tests {
		if code, _ := whoAmI(t, s, tt.tok); code != http.StatusUnauthorized {
			t.Errorf("%s: whoAmI = %d, want 401", tt.name, code)
		}
	}
	if code, _ := whoAmI(t, s, good); code != http.StatusOK {
		t.Errorf("the genuine JWT: whoAmI = %d", code)
	}
}

// TestT32_ExchangedJWTSurvivesKeyRotation: the JWT names its kid, and
// after a rotation the old key stays published, so it keeps verifying.
func TestT32_ExchangedJWTSurvivesKeyRotation(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	_, c := newAPIToken(t, s, "pia", time.Time{})
	before, _ := exchange(t, s, c.Secret)
	oldHdr, _ := jwtParts(t, before)
	if _, err := s.Tolk.Keys.Rotate(context.Background(), "ES256"); err != nil {
		t.Fatal(err)
	}
	after, _ := exchange(t, s, c.Secret)
	newHdr, _ := jwtParts(t, after)
	if oldHdr["kid"] == newHdr["kid"] {
		t.Fatalf("kid unchanged after rotation: %v", oldHdr["kid"])
	}
	for name, tok := range map[string]string{"old key": before, "new key": after} {
		if code, _ := whoAmI(t, s, tok); code != http.StatusOK {
			t.Errorf("%s: whoAmI = %d", name, code)
		}
		if _, err := verifyWithJose(t, s, tok, "tms"); err != nil {
			t.Errorf("%s: go-jose against the JWKS: %v", name, err)
		}
	}
}

func fetchJWKS(t testing.TB, s *tolktest.Server) jose.JSONWebKeySet {
	t.Helper()
	resp, err := s.Client().Get(s.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS: %v: %s", err, body)
	}
	return set
}

// verifyWithJose verifies tok as an independent resource server would:
// go-jose, ES256 only, key by kid from the published JWKS, typ at+jwt,
// iss, aud containing audience, exp at the server's clock.
func verifyWithJose(t testing.TB, s *tolktest.Server, tok, audience string) (map[string]any, error) {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, err
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].ExtraHeaders[jose.HeaderType] != "at+jwt" {
		return nil, errString("typ is not at+jwt")
	}
	set := fetchJWKS(t, s)
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		return nil, errString("kid not in the JWKS")
	}
	var std jwt.Claims
	var all map[string]any
	if err := parsed.Claims(keys[0].Key, &std, &all); err != nil {
		return nil, err
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: s.URL, AnyAudience: jwt.Audience{audience}, Time: s.Clock.Now()}, 0); err != nil {
		return nil, err
	}
	return all, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// TestResourceServerVerifiesWithGoJose: a resource server that knows only
// the JWKS URL verifies the exchanged JWT with go-jose: ES256, typ at+jwt,
// aud, exp; and rejects it for another application and after exp.
func TestResourceServerVerifiesWithGoJose(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	u, c := newAPIToken(t, s, "pia", time.Time{})
	tok, _ := exchange(t, s, c.Secret, "audience", "tms", "scope", "read")
	claims, err := verifyWithJose(t, s, tok, "tms")
	if err != nil {
		t.Fatalf("go-jose verification: %v", err)
	}
	if claims["sub"] != u.UID || claims["scope"] != "read" || claims["client_id"] != platform.ClientIDPrefix+c.Token.ID || claims["org_uid"] != u.OrgUID {
		t.Errorf("claims = %v", claims)
	}
	if _, err := verifyWithJose(t, s, tok, "strings"); err == nil {
		t.Error("a JWT for tms verified for strings")
	}
	// Verifying locally, a revoked token's JWT is still accepted until exp
	// (documented in SECURITY.md T42); tolk itself refuses it.
	if err := s.Tolk.Platform.Revoke(context.Background(), u.UID, c.Token.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyWithJose(t, s, tok, "tms"); err != nil {
		t.Errorf("local verification after revocation: %v (expected to pass until exp)", err)
	}
	s.Clock.Advance(14400 * time.Second) // go-jose accepts exp itself; one second after
	if _, err := verifyWithJose(t, s, tok, "tms"); err == nil {
		t.Error("go-jose accepted the JWT after exp")
	}
}
