package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// FuzzVerify: Keyring.Verify over a real keyring (RS256, ES256 and EdDSA
// keys in the fake store) with any token text and expected typ. It never panics,
// fails only with ErrInvalidToken, and accepts a token only if its payload
// is one tolk signed, its header passes the policy (alg of the key, kid,
// nothing but alg/kid/typ) and typ is the expected one: a fuzzer cannot
// forge a signature, so anything else accepted is a verification bug
// (T31: alg none, HS256 with the public key, jku/jwk/x5u, unknown kid).
func FuzzVerify(f *testing.F) {
	e := newEnv(f, RS256, ES256, EdDSA)
	now := e.clk.Now()
	signed := map[string]bool{}
	sign := func(alg, typ string, claims MapClaims) string {
		tok := mustSign(f, e.kr, alg, typ, claims)
		payload, err := e.kr.Verify(ctx, tok, "")
		if err != nil {
			f.Fatal(err)
		}
		signed[string(payload)] = true
		return tok
	}
	rs := sign(RS256, TypJWT, testClaims(now))
	es := sign(ES256, TypAtJWT, testClaims(now))
	ed := sign(EdDSA, TypAtJWT, testClaims(now))
	edParts, esParts := strings.Split(ed, "."), strings.Split(es, ".")
	edKID, esKID := activeKey(f, e.kr, EdDSA).meta.KID, activeKey(f, e.kr, ES256).meta.KID
	rsParts := strings.Split(rs, ".")
	hdr := func(h string) string { return b64(h) + "." + rsParts[1] + "." + rsParts[2] }
	for _, s := range []struct{ tok, typ string }{
		{rs, ""}, {rs, TypJWT}, {rs, TypAtJWT}, {es, TypAtJWT}, {es, "application/AT+JWT"}, {ed, TypAtJWT},
		{b64(`{"alg":"ES256","kid":"`+edKID+`","typ":"at+jwt"}`) + "." + edParts[1] + "." + edParts[2], ""},
		{b64(`{"alg":"EdDSA","kid":"`+esKID+`","typ":"at+jwt"}`) + "." + esParts[1] + "." + esParts[2], ""},
		{hdr(`{"alg":"none","kid":"x"}`), ""},
		{b64(`{"alg":"none"}`) + "." + rsParts[1] + ".", ""},
		{hdr(`{"alg":"HS256","kid":"x"}`), ""},
		{hdr(`{"alg":"RS256","kid":"x","jku":"https://evil/jwks"}`), ""},
		{hdr(`{"alg":"RS256","kid":"x","jwk":{}}`), ""},
		{hdr(`{"alg":"RS256","alg":"ES256","kid":"x"}`), ""},
		{hdr(`{"alg":"RS256","kid":"x","crit":["b64"],"b64":false}`), ""},
		{hdr(`{"alg":"RS256","kid":1}`), ""},
		{hdr(`{"alg":"RS256","kid":"x"} trailing`), ""},
		{hdr(`[]`), ""},
		{rs + ".", ""}, {strings.Replace(rs, ".", "..", 1), ""}, {rs[:len(rs)-2], ""},
		{`{"payload":"e30","signatures":[]}`, ""},
		{"a.b.c", ""}, {"", ""}, {"..", ""},
	} {
		f.Add(s.tok, s.typ)
	}
	f.Fuzz(func(t *testing.T, tok, typ string) {
		payload, err := e.kr.Verify(ctx, tok, typ)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify(%q): %v is not ErrInvalidToken", tok, err)
			}
			return
		}
		if !signed[string(payload)] {
			t.Fatalf("Verify(%q) accepted a payload tolk never signed: %q", tok, payload)
		}
		h, err := parseHeader(tok)
		if err != nil {
			t.Fatalf("Verify(%q) accepted a header the policy refuses: %v", tok, err)
		}
		k := e.kr.cache.Load().byKID[h.KID]
		if k == nil || k.meta.Alg != h.Alg {
			t.Fatalf("Verify(%q) accepted kid %q alg %q", tok, h.KID, h.Alg)
		}
		if typ != "" && !typEqual(h.Typ, typ) {
			t.Fatalf("Verify(%q, %q) accepted typ %q", tok, typ, h.Typ)
		}
	})
}

// FuzzParseSigned: go-jose's compact and JSON parsers, restricted to our
// algorithms, never panic on any input, and a parsed JWS verified with
// our public key yields only payloads we signed. The jwt package's claims
// path (what RPs and our own id_token_hint code use) is exercised too.
func FuzzParseSigned(f *testing.F) {
	e := newEnv(f, RS256)
	now := e.clk.Now()
	tok := mustSign(f, e.kr, RS256, TypJWT, testClaims(now))
	want, err := e.kr.Verify(ctx, tok, "")
	if err != nil {
		f.Fatal(err)
	}
	pub := activeKey(f, e.kr, RS256).public
	parts := strings.Split(tok, ".")
	for _, s := range []string{
		tok,
		`{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
		`{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"},{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`,
		`{"payload":"e30","signatures":[{"header":{"alg":"RS256","jwk":{"kty":"oct","k":"AA"}},"signature":""}]}`,
		b64(`{"alg":"RS256","crit":["exp"]}`) + ".e30.",
		b64(`{"alg":"RS256","b64":false,"crit":["b64"]}`) + ".{}.",
		"eyJ.eyJ.", "", "{", `{"payload":1}`,
	} {
		f.Add(s)
	}
	algs := []jose.SignatureAlgorithm{jose.RS256, jose.ES256}
	f.Fuzz(func(t *testing.T, in string) {
		if jws, err := jose.ParseSigned(in, algs); err == nil {
			if p, err := jws.Verify(pub); err == nil && !bytes.Equal(p, want) {
				t.Fatalf("go-jose verified a payload we never signed: %q", p)
			}
		}
		if jws, err := jose.ParseSignedCompact(in, algs); err == nil {
			if p, err := jws.Verify(pub); err == nil && !bytes.Equal(p, want) {
				t.Fatalf("go-jose verified a payload we never signed: %q", p)
			}
		}
		if jt, err := jwt.ParseSigned(in, algs); err == nil {
			var c jwt.Claims
			if err := jt.Claims(pub, &c); err == nil {
				var w jwt.Claims
				if json.Unmarshal(want, &w) != nil || c.Subject != w.Subject || c.Issuer != w.Issuer {
					t.Fatalf("jwt claims %+v verified but differ from ours", c)
				}
			}
		}
	})
}

// FuzzValidateClaims: claims checking on any payload. Success implies iss
// equal to the expected issuer, the expected audience among aud, an exp
// in the future (within leeway) that is after iat, and no nbf or iat in
// the future; failures wrap ErrInvalidToken.
func FuzzValidateClaims(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		`{"iss":"https://id.example.com","aud":"tms","exp":1772370000,"iat":1772366400}`,
		`{"iss":"https://id.example.com","aud":["x","tms"],"exp":1772370000}`,
		`{"iss":"https://id.example.com","aud":"tms"}`,
		`{"iss":"https://id.example.com/","aud":"tms","exp":1772370000}`,
		`{"iss":"https://id.example.com","aud":"tms","exp":1772370000,"iat":1772380000}`,
		`{"iss":"https://id.example.com","aud":"tms","exp":1772370000,"nbf":1772380000}`,
		`{"iss":"https://id.example.com","aud":"tms","exp":1e400}`,
		`{"iss":"https://id.example.com","aud":"tms","exp":-1}`,
		`{"iss":"https://id.example.com","aud":"tms","exp":"1772370000"}`,
		`{"iss":"https://id.example.com","aud":{},"exp":1772370000}`,
		`[]`, `null`, ``, `{"exp":9223372036854775807,"iss":"https://id.example.com","aud":"tms"}`,
	} {
		f.Add([]byte(s))
	}
	const iss, aud, leeway = "https://id.example.com", "tms", time.Minute
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := ValidateClaims(payload, iss, aud, now, leeway)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("ValidateClaims(%q): %v is not ErrInvalidToken", payload, err)
			}
			return
		}
		if c.Issuer != iss || !c.Audience.Contains(aud) || c.Expiry == nil {
			t.Fatalf("ValidateClaims(%q) accepted %+v", payload, c)
		}
		if !c.Expiry.Time().Add(leeway).After(now) {
			t.Fatalf("ValidateClaims(%q) accepted an expired token", payload)
		}
		if c.IssuedAt != nil && (!c.Expiry.Time().After(c.IssuedAt.Time()) || c.IssuedAt.Time().After(now.Add(leeway))) {
			t.Fatalf("ValidateClaims(%q) accepted iat %v", payload, c.IssuedAt.Time())
		}
		if c.NotBefore != nil && c.NotBefore.Time().After(now.Add(leeway)) {
			t.Fatalf("ValidateClaims(%q) accepted nbf %v", payload, c.NotBefore.Time())
		}
	})
}
