package signing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestEdDSAAlgPinnedToKey: an Ed25519 key verifies only EdDSA, and EdDSA
// verifies only with an Ed25519 key (RFC 8725 §3.1), whatever the header
// says.
func TestEdDSAAlgPinnedToKey(t *testing.T) {
	e := newEnv(t, ES256, EdDSA)
	ed, es := activeKey(t, e.kr, EdDSA), activeKey(t, e.kr, ES256)
	payload := `{"jti":"` + newJTI() + `","sub":"u"}`
	good := rawToken(t, ed.signer, `{"alg":"EdDSA","kid":"`+ed.meta.KID+`","typ":"at+jwt"}`, payload)
	if _, err := e.kr.Verify(ctx, good, TypAtJWT); err != nil {
		t.Fatalf("a token signed by the EdDSA key: %v", err)
	}
	for name, tok := range map[string]string{
		"EdDSA key, header ES256":    rawToken(t, ed.signer, `{"alg":"ES256","kid":"`+ed.meta.KID+`"}`, payload),
		"ES256 key, header EdDSA":    rawToken(t, es.signer, `{"alg":"EdDSA","kid":"`+es.meta.KID+`"}`, payload),
		"EdDSA header, ES256 kid":    rawToken(t, ed.signer, `{"alg":"EdDSA","kid":"`+es.meta.KID+`"}`, payload),
		"Ed25519 as alg":             rawToken(t, ed.signer, `{"alg":"Ed25519","kid":"`+ed.meta.KID+`"}`, payload),
		"EdDSA with an embedded jwk": rawToken(t, ed.signer, `{"alg":"EdDSA","kid":"`+ed.meta.KID+`","jwk":{"kty":"OKP","crv":"Ed25519","x":"`+base64.RawURLEncoding.EncodeToString(ed.public.(ed25519.PublicKey))+`"}}`, payload),
	} {
		if _, err := e.kr.Verify(ctx, tok, ""); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify = %v, want ErrInvalidToken", name, err)
		}
	}
	// A signature of other bytes under the right header.
	parts := strings.Split(good, ".")
	other := rawToken(t, ed.signer, `{"alg":"EdDSA","kid":"`+ed.meta.KID+`","typ":"at+jwt"}`, `{"jti":"`+newJTI()+`"}`)
	if _, err := e.kr.Verify(ctx, parts[0]+"."+parts[1]+"."+strings.Split(other, ".")[2], ""); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a signature of another payload: Verify = %v", err)
	}
}

// TestRotateEdDSA: `tolk keys rotate --alg EdDSA` on a key set without an
// Ed25519 key creates one that signs at once (nothing to retire), and a
// second rotation publishes the next before it signs, as for ES256.
func TestRotateEdDSA(t *testing.T) {
	e := newEnv(t, RS256, ES256)
	if _, err := e.kr.Sign(ctx, EdDSA, TypAtJWT, jtiOnly()); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Sign(EdDSA) without an Ed25519 key = %v, want ErrNoKey", err)
	}
	first, err := e.kr.Rotate(ctx, EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	if got := activeKey(t, e.kr, EdDSA).meta.KID; got != first.KID {
		t.Fatalf("signing kid %s, want the new %s", got, first.KID)
	}
	second, err := e.kr.Rotate(ctx, EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	if got := activeKey(t, e.kr, EdDSA).meta.KID; got != first.KID {
		t.Errorf("the rotated-in key signs before its publish delay")
	}
	if kids := jwksKIDs(t, e.kr); !strings.Contains(strings.Join(kids, " "), second.KID) {
		t.Errorf("JWKS %v lacks the new key", kids)
	}
	e.clk.Advance(testPublishDelay + 1)
	if got := activeKey(t, e.kr, EdDSA).meta.KID; got != second.KID {
		t.Errorf("after the publish delay %s signs, want %s", got, second.KID)
	}
}

// explicitClaims write their own JSON and refuse encoding/json, as the
// exchange's and the access tokens' claims would if Sign reflected.
type explicitClaims struct{ jti string }

func (c explicitClaims) JWTID() string { return c.jti }
func (c explicitClaims) AppendJSON(dst []byte) []byte {
	o := NewJSONObject(dst)
	o.String("jti", c.jti)
	o.String("sub", "u<1>")
	return o.Close()
}
func (explicitClaims) MarshalJSON() ([]byte, error) {
	return nil, errors.New("Sign used encoding/json")
}

// TestSignWritesTheClaimsItself: Sign signs what AppendJSON writes and
// never marshals a JSONAppender with encoding/json; the header is the
// fixed {"alg","kid","typ"}; go-jose, parsing the compact form on its own,
// verifies every algorithm's signature over those bytes.
func TestSignWritesTheClaimsItself(t *testing.T) {
	e := newEnv(t, RS256, ES256, EdDSA)
	for _, alg := range []string{RS256, ES256, EdDSA} {
		for _, typ := range []string{TypAtJWT, TypJWT, "", `we"ird`} {
			c := explicitClaims{jti: newJTI()}
			tok, err := e.kr.Sign(ctx, alg, typ, c)
			if err != nil {
				t.Fatalf("%s %q: %v", alg, typ, err)
			}
			k := activeKey(t, e.kr, alg)
			hdr := NewJSONObject(nil)
			hdr.String("alg", alg)
			hdr.String("kid", k.meta.KID)
			if typ != "" {
				hdr.String("typ", typ)
			}
			parts := strings.Split(tok, ".")
			if got := mustDecode(t, parts[0]); !bytes.Equal(got, hdr.Close()) {
				t.Errorf("%s %q: header %s", alg, typ, got)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("%s %q: go-jose: %v", alg, typ, err)
			}
			payload, err := jws.Verify(k.public)
			if err != nil {
				t.Fatalf("%s %q: go-jose refuses the signature: %v", alg, typ, err)
			}
			if want := c.AppendJSON(nil); !bytes.Equal(payload, want) {
				t.Errorf("%s %q: payload %s, want %s", alg, typ, payload, want)
			}
			var m map[string]string
			if err := json.Unmarshal(payload, &m); err != nil || m["sub"] != "u<1>" {
				t.Errorf("%s %q: payload %s decodes to %v (%v)", alg, typ, payload, m, err)
			}
		}
	}
}
