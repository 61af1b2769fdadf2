package platform_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/core/platform"
	"github.com/tolk-project/tolk/internal/core/signing"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// checkJWT asserts that tolk accepts (want true) or refuses jwt at every
// verifier it has: platform.Service.Verify, whoAmI (authn), /auth/verify
// (forward auth, with its cache) and introspection.
func checkJWT(t *testing.T, s *tolktest.Server, introspect func(string) map[string]any, what, jwt string, want bool) {
	t.Helper()
	_, err := s.Tolk.Platform.Verify(context.Background(), jwt)
	if want && err != nil {
		t.Errorf("%s: Verify: %v, want accepted", what, err)
	}
	if !want && !errors.Is(err, authn.ErrInvalid) {
		t.Errorf("%s: Verify = %v, want authn.ErrInvalid", what, err)
	}
	wantCode := map[bool]int{true: http.StatusOK, false: http.StatusUnauthorized}[want]
	if code, _ := whoAmI(t, s, jwt); code != wantCode {
		t.Errorf("%s: whoAmI = %d, want %d", what, code, wantCode)
	}
	if code := forwardAuth(t, s, jwt); code != wantCode {
		t.Errorf("%s: /auth/verify = %d, want %d", what, code, wantCode)
	}
	if got := introspect(jwt); got["active"] != want || (!want && len(got) != 1) {
		t.Errorf("%s: introspection = %v, want active %v", what, got, want)
	}
}

// forwardAuth calls /auth/verify with a bearer token.
func forwardAuth(t testing.TB, s *tolktest.Server, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/auth/verify", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, _ := s.Do(t, req)
	return resp.StatusCode
}

// revokeInUI revokes the user's API token id through Settings → Access
// Tokens, as the user does.
func revokeInUI(t testing.TB, s *tolktest.Server, userName, id string) {
	t.Helper()
	b := oauthflow.New(t, s.URL)
	b.Login(t, userName, "pw-"+userName+"-long-enough")
	page := b.Get(t, "/settings/access-tokens")
	if page.Status != http.StatusOK {
		t.Fatalf("GET /settings/access-tokens: %d", page.Status)
	}
	form := url.Values{"csrf_token": {oauthflow.HiddenFields(page.Body).Get("csrf_token")}, "confirm": {"1"}}
	if p := b.Post(t, "/settings/access-tokens/"+id+"/revoke", form); p.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", p.Status, p.Body)
	}
}

// TestT42_RevokedTokenRefusesExchangedJWT: revoking the API token (in the
// web UI) makes tolk refuse the JWTs exchanged from it at once, at Verify,
// whoAmI, /auth/verify and introspection, and refuses new exchanges.
// Nothing per JWT is stored: the check is the token's own row.
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
			checkJWT(t, s, introspect, "before revocation", j, true)
		}
		revokeInUI(t, s, u.UserName, c.Token.ID)
		// No clock advance: "at once".
		for _, j := range []string{jwt1, jwt2} {
			checkJWT(t, s, introspect, "after revocation", j, false)
		}
		if resp, m := post(t, s, "/oauth/token", exchangeForm(c.Secret)); resp.StatusCode != 400 || m["error"] != "invalid_request" {
			t.Errorf("exchange after revocation = %d %v, want invalid_request", resp.StatusCode, m)
		}
		// Another token's JWT is untouched.
		checkJWT(t, s, introspect, "another token's JWT", other, true)
	})
}

// TestT42_TokenAndUserCheckedOnEveryUse: a JWT signed by tolk's own key,
// with good claims, is still refused when its API token has expired (even
// before the JWT's exp), when its user is deactivated, when its client_id
// names another user's token or a token that never existed, and when its
// org_uid is not its user's. Such JWTs are minted here with tolk's keyring,
// since Exchange never issues them: it is verification that must hold.
func TestT42_TokenAndUserCheckedOnEveryUse(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, s *tolktest.Server) {
		ctx := context.Background()
		introspect := introspector(t, s, defaultOrg(t, s))
		mint := func(t *testing.T, base string, set map[string]any) string {
			t.Helper()
			_, cl := jwtParts(t, base)
			for k, v := range set {
				cl[k] = v
			}
			tok, err := s.Tolk.Keys.Sign(ctx, "ES256", "at+jwt", signing.MapClaims(cl))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}

		t.Run("expired API token", func(t *testing.T) {
			_, c := newAPIToken(t, s, "exp-user", s.Clock.Now().Add(time.Hour))
			good, _ := exchange(t, s, c.Secret)
			// Four hours, beyond the token's expiry: only the token's own
			// expiry can end it at one hour.
			long := mint(t, good, map[string]any{"exp": s.Clock.Now().Add(4 * time.Hour).Unix()})
			checkJWT(t, s, introspect, "a long JWT of a live token", long, true)
			s.Clock.Advance(time.Hour)
			checkJWT(t, s, introspect, "a long JWT of an expired token", long, false)
		})
		t.Run("deactivated user", func(t *testing.T) {
			u, c := newAPIToken(t, s, "gone-user", time.Time{})
			jwt, _ := exchange(t, s, c.Secret)
			if _, err := s.Tolk.Platform.Verify(ctx, jwt); err != nil {
				t.Fatalf("Verify before deactivation: %v", err)
			}
			if err := s.Store.SetUserActive(ctx, u.UID, false, s.Clock.Now()); err != nil {
				t.Fatal(err)
			}
			checkJWT(t, s, introspect, "the JWT of a deactivated user", jwt, false)
		})
		t.Run("client_id of another user's token", func(t *testing.T) {
			_, ca := newAPIToken(t, s, "alice", time.Time{})
			_, cb := newAPIToken(t, s, "bob", time.Time{})
			jwtA, _ := exchange(t, s, ca.Secret)
			checkJWT(t, s, introspect, "alice's own JWT, re-signed", mint(t, jwtA, nil), true)
			bobs := mint(t, jwtA, map[string]any{"client_id": platform.ClientIDPrefix + cb.Token.ID})
			checkJWT(t, s, introspect, "sub alice, client_id bob's token", bobs, false)
			never := mint(t, jwtA, map[string]any{"client_id": platform.ClientIDPrefix + strings.Repeat("0", 32)})
			checkJWT(t, s, introspect, "client_id of a token never issued", never, false)
			for _, id := range []string{platform.ClientIDPrefix, "platform-api-token", ca.Token.ID} {
				checkJWT(t, s, introspect, "client_id "+id, mint(t, jwtA, map[string]any{"client_id": id}), false)
			}
			otherOrg := mint(t, jwtA, map[string]any{"org_uid": "00000000-0000-4000-8000-000000000042"})
			if _, err := s.Tolk.Platform.Verify(ctx, otherOrg); !errors.Is(err, authn.ErrInvalid) {
				t.Errorf("org_uid not alice's: Verify = %v, want authn.ErrInvalid", err)
			}
			noSub := mint(t, jwtA, map[string]any{"sub": ""})
			checkJWT(t, s, introspect, "no sub", noSub, false)
		})
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
	p, err := s.Tolk.Resolver.Principal(req)
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasScope("read") || p.HasScope("write") || p.HasScope("team.manage") {
		t.Errorf("principal scopes = %v, want exactly read", p.Scopes)
	}
	if p.Method != "jwt" || p.ClientID != platform.ClientIDPrefix+c.Token.ID {
		t.Errorf("principal = %+v", p)
	}
	// The principal's scopes and audiences are the signed claims: an
	// exchange without scope names the whole catalog (the API token's
	// whole access); a narrowed aud stays narrowed.
	whole, _ := exchange(t, s, c.Secret, "audience", "tms")
	req.Header.Set("Authorization", "Bearer "+whole)
	if p, err := s.Tolk.Resolver.Principal(req); err != nil || !hasAll(p, s.Tolk.Config.Scopes) || !p.ForAudience("tms") || p.ForAudience("strings") {
		t.Errorf("principal of a JWT not narrowed, aud tms = %+v, %v; want the whole catalog, audience tms only", p, err)
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
	wrongTyp, err := s.Tolk.Keys.Sign(context.Background(), "ES256", "JWT", signing.MapClaims(cl))
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
		{"signed by another key under our kid", foreign(t, hdr["kid"].(string), parts[1])},
		{"unsigned (two parts)", parts[0] + "." + parts[1]},
		{"empty signature", parts[0] + "." + parts[1] + "."},
	}
	introspect := introspector(t, s, defaultOrg(t, s))
	for _, tt := range tests {
		checkJWT(t, s, introspect, tt.name, tt.tok, false)
	}
	checkJWT(t, s, introspect, "the genuine JWT", good, true)
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
	s.Clock.Advance(s.Tolk.Config.KeyPublishDelay) // the new key signs once published for this long
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

// foreign signs payload (base64url) with a fresh ES256 key under kid, as
// an attacker who knows tolk's kid but not its key would.
func foreign(t testing.TB, kid, payload string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
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

// hasAll reports whether p names exactly scopes, in any order.
func hasAll(p authn.Principal, scopes []string) bool {
	for _, sc := range scopes {
		if !slices.Contains(p.Scopes, sc) {
			return false
		}
	}
	return len(p.Scopes) == len(scopes)
}
