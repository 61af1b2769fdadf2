package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tolk-project/tolk/internal/kit/seal"
	"github.com/tolk-project/tolk/internal/kit/secret"
)

var ctx = context.Background()

func testSealer(t testing.TB) *seal.Sealer {
	t.Helper()
	s, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type env struct {
	st  *fakeStore
	clk *fakeClock
	kr  *Keyring
}

func newEnv(t testing.TB, algs ...string) *env {
	t.Helper()
	e := &env{st: &fakeStore{}, clk: newClock()}
	e.kr = e.keyring(t)
	if err := e.kr.Ensure(ctx, algs...); err != nil {
		t.Fatal(err)
	}
	return e
}

// keyring returns another Keyring on the same store and clock: a second
// tolk instance.
func (e *env) keyring(t testing.TB) *Keyring {
	return New(e.st, testSealer(t), Options{Now: e.clk.Now, RefreshInterval: 5 * time.Second,
		PublishDelay: testPublishDelay, MaxTokenLifetime: 24 * time.Hour})
}

// testPublishDelay is the test keyrings' PublishDelay.
const testPublishDelay = time.Minute

func testClaims(now time.Time) MapClaims {
	return MapClaims{
		"jti": newJTI(),
		"iss": "https://id.example.com/",
		"sub": "user-1",
		"aud": "client-1",
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

// newJTI returns a fresh jti, as signing.Claims asks.
func newJTI() string {
	jti, err := secret.Generator{}.JTI(time.Now())
	if err != nil {
		panic(err)
	}
	return jti
}

// hiddenJTI names a jti that its JSON leaves out.
type hiddenJTI struct {
	Sub string `json:"sub"`
	JTI string `json:"-"`
}

func (h hiddenJTI) JWTID() string { return h.JTI }

// jtiOnly are claims with nothing but a fresh jti.
func jtiOnly() MapClaims { return MapClaims{"jti": newJTI()} }

// notObject are claims that do not encode as a JSON object.
type notObject []int

func (notObject) JWTID() string { return newJTI() }

type notObjectString string

func (notObjectString) JWTID() string { return newJTI() }

func mustSign(t testing.TB, kr *Keyring, alg, typ string, claims Claims) string {
	t.Helper()
	tok, err := kr.Sign(ctx, alg, typ, claims)
	if err != nil {
		t.Fatalf("Sign(%s): %v", alg, err)
	}
	return tok
}

func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// rawToken signs header.payload by hand with priv, so tests can put any
// header on a token with a valid signature from one of our own keys.
func rawToken(t *testing.T, priv crypto.Signer, headerJSON, payloadJSON string) string {
	t.Helper()
	input := b64(headerJSON) + "." + b64(payloadJSON)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		var err error
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	default:
		t.Fatalf("unexpected key %T", priv)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func hmacToken(headerJSON, payloadJSON string, secret []byte) string {
	input := b64(headerJSON) + "." + b64(payloadJSON)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// activeKey returns the key that signs alg now.
func activeKey(t testing.TB, kr *Keyring, alg string) *key {
	t.Helper()
	snap, err := kr.current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k := snap.signer(alg, kr.opts.Now())
	if k == nil {
		t.Fatalf("no active %s key", alg)
	}
	return k
}

func TestSignVerifyRoundTrip(t *testing.T) {
	e := newEnv(t, RS256, ES256, EdDSA)
	for _, tc := range []struct {
		alg, typ string
	}{
		{RS256, TypJWT},
		{ES256, TypAtJWT},
		{ES256, TypJWT},
		{RS256, TypAtJWT},
		{EdDSA, TypAtJWT},
		{EdDSA, TypJWT},
	} {
		t.Run(tc.alg+"/"+tc.typ, func(t *testing.T) {
			claims := testClaims(e.clk.Now())
			tok := mustSign(t, e.kr, tc.alg, tc.typ, claims)
			hdr := decodeSegment(t, strings.Split(tok, ".")[0])
			k := activeKey(t, e.kr, tc.alg)
			if hdr["alg"] != tc.alg || hdr["typ"] != tc.typ || hdr["kid"] != k.meta.KID {
				t.Errorf("header = %v", hdr)
			}
			if len(hdr) != 3 {
				t.Errorf("header has extra fields: %v", hdr)
			}
			payload, err := e.kr.Verify(ctx, tok, tc.typ)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want, _ := json.Marshal(claims)
			if !bytes.Equal(payload, want) {
				t.Errorf("payload = %s, want %s", payload, want)
			}
		})
	}
}

func TestKIDIsJWKThumbprint(t *testing.T) {
	e := newEnv(t, RS256, ES256, EdDSA)
	for _, alg := range []string{RS256, ES256, EdDSA} {
		k := activeKey(t, e.kr, alg)
		tp, err := (&jose.JSONWebKey{Key: k.public}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(tp); k.meta.KID != want {
			t.Errorf("%s kid = %q, want %q", alg, k.meta.KID, want)
		}
	}
}

func TestSignRejects(t *testing.T) {
	e := newEnv(t, RS256)
	for _, tc := range []struct {
		name   string
		alg    string
		claims Claims
		want   error
	}{
		{"HS256", "HS256", jtiOnly(), ErrUnsupportedAlg},
		{"none", "none", jtiOnly(), ErrUnsupportedAlg},
		{"PS256", "PS256", jtiOnly(), ErrUnsupportedAlg},
		{"not ensured", ES256, jtiOnly(), ErrNoKey},
		{"array claims", RS256, notObject{1}, nil},
		{"string claims", RS256, notObjectString("x"), nil},
		{"no jti", ES256, MapClaims{"sub": "u1"}, ErrNoJTI},
		{"empty jti", RS256, MapClaims{"jti": ""}, ErrNoJTI},
		{"jti not stamped", ES256, MapClaims{"jti": "1"}, ErrNoJTI},
		{"jti not a string", ES256, MapClaims{"jti": 12}, ErrNoJTI},
		{"jti named but not signed", ES256, hiddenJTI{Sub: "u1", JTI: newJTI()}, ErrNoJTI},
		{"nil claims", RS256, nil, ErrNoJTI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.kr.Sign(ctx, tc.alg, TypJWT, tc.claims)
			if err == nil {
				t.Fatal("Sign succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if err := e.kr.Ensure(ctx, "HS256"); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("Ensure(HS256) = %v", err)
	}
}

func TestTypCheck(t *testing.T) {
	e := newEnv(t, ES256)
	for _, tc := range []struct {
		signedTyp, wantTyp string
		ok                 bool
	}{
		{TypAtJWT, TypAtJWT, true},
		{TypAtJWT, "application/at+jwt", true},
		{"application/at+jwt", TypAtJWT, true},
		{"AT+JWT", TypAtJWT, true},
		{"Application/At+JWT", TypAtJWT, true},
		{TypJWT, TypJWT, true},
		{TypJWT, "", true},
		{"", "", true},
		{TypJWT, TypAtJWT, false}, // an id_token used as an access token (T31)
		{TypAtJWT, TypJWT, false},
		{"", TypAtJWT, false},
		{"at+jwt; x=1", TypAtJWT, false},
		{"application/application/at+jwt", TypAtJWT, false},
	} {
		t.Run(tc.signedTyp+"→"+tc.wantTyp, func(t *testing.T) {
			tok := mustSign(t, e.kr, ES256, tc.signedTyp, testClaims(e.clk.Now()))
			_, err := e.kr.Verify(ctx, tok, tc.wantTyp)
			if tc.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestTampered(t *testing.T) {
	e := newEnv(t, RS256, ES256)
	for _, alg := range []string{RS256, ES256} {
		tok := mustSign(t, e.kr, alg, TypJWT, testClaims(e.clk.Now()))
		other := mustSign(t, e.kr, alg, TypJWT, MapClaims{"sub": "admin", "jti": newJTI()})
		parts := strings.Split(tok, ".")
		otherParts := strings.Split(other, ".")
		flipSig := []byte(parts[2])
		flipSig[10] ^= 0x01
		if flipSig[10] == '.' {
			flipSig[10] = 'A'
		}
		badPayload := b64(strings.Replace(string(mustDecode(t, parts[1])), "user-1", "user-2", 1))
		for _, tc := range []struct{ name, tok string }{
			{"payload edited", parts[0] + "." + badPayload + "." + parts[2]},
			{"payload swapped", parts[0] + "." + otherParts[1] + "." + parts[2]},
			{"signature flipped", parts[0] + "." + parts[1] + "." + string(flipSig)},
			{"signature empty", parts[0] + "." + parts[1] + "."},
			{"signature truncated", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4]},
			{"header edited", b64(`{"alg":"`+alg+`","kid":"`+activeKey(t, e.kr, alg).meta.KID+`","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2]},
			{"two parts", parts[0] + "." + parts[1]},
			{"four parts", tok + "." + parts[2]},
			{"empty", ""},
			{"garbage", "not.a.jwt"},
			{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`},
		} {
			t.Run(alg+"/"+tc.name, func(t *testing.T) {
				if _, err := e.kr.Verify(ctx, tc.tok, ""); !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("Verify = %v, want ErrInvalidToken", err)
				}
			})
		}
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestForgedTokens(t *testing.T) {
	e := newEnv(t, RS256, ES256)
	rsKey := activeKey(t, e.kr, RS256)
	esKey := activeKey(t, e.kr, ES256)
	rsKID, esKID := rsKey.meta.KID, esKey.meta.KID
	payload := `{"iss":"https://id.example.com/","sub":"admin","aud":"client-1","exp":9999999999}`

	pubDER, _ := x509.MarshalPKIXPublicKey(rsKey.public)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	rsaDER := x509.MarshalPKCS1PublicKey(rsKey.public.(*rsa.PublicKey))

	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerKID, _ := thumbprintKID(attacker.Public())
	attackerJWK, _ := json.Marshal(jose.JSONWebKey{Key: attacker.Public(), Algorithm: ES256})
	certDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"}}, attacker.Public(), attacker)
	if err != nil {
		t.Fatal(err)
	}
	x5c := base64.StdEncoding.EncodeToString(certDER)

	// go-jose as the attacker's tool: a well-formed token with an embedded jwk.
	joseSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: attacker},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	joseJWS, err := joseSigner.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	joseJWK, _ := joseJWS.CompactSerialize()

	for _, tc := range []struct{ name, tok string }{
		{"alg none", b64(`{"alg":"none","kid":"`+rsKID+`","typ":"JWT"}`) + "." + b64(payload) + "."},
		{"alg None", b64(`{"alg":"None","kid":"`+rsKID+`","typ":"JWT"}`) + "." + b64(payload) + "."},
		{"alg none with signature", b64(`{"alg":"none","kid":"`+rsKID+`"}`) + "." + b64(payload) + "." + b64("x")},
		{"HS256 with RSA public key PEM", hmacToken(`{"alg":"HS256","kid":"`+rsKID+`","typ":"JWT"}`, payload, pubPEM)},
		{"HS256 with RSA public key DER", hmacToken(`{"alg":"HS256","kid":"`+rsKID+`","typ":"JWT"}`, payload, pubDER)},
		{"HS256 with PKCS1 DER", hmacToken(`{"alg":"HS256","kid":"`+rsKID+`","typ":"JWT"}`, payload, rsaDER)},
		{"HS256 no kid", hmacToken(`{"alg":"HS256","typ":"JWT"}`, payload, pubPEM)},
		// Validly signed by our own key, but with a header pointing at another key:
		// refused by policy, not merely ignored.
		{"jku header (our signature)", rawToken(t, rsKey.signer, `{"alg":"RS256","kid":"`+rsKID+`","typ":"JWT","jku":"https://evil.example/jwks.json"}`, payload)},
		{"x5u header (our signature)", rawToken(t, rsKey.signer, `{"alg":"RS256","kid":"`+rsKID+`","typ":"JWT","x5u":"https://evil.example/cert.pem"}`, payload)},
		{"jwk header (our signature)", rawToken(t, esKey.signer, `{"alg":"ES256","kid":"`+esKID+`","typ":"JWT","jwk":`+string(attackerJWK)+`}`, payload)},
		{"crit header (our signature)", rawToken(t, esKey.signer, `{"alg":"ES256","kid":"`+esKID+`","crit":["exp"],"exp":1}`, payload)},
		{"jwk header, attacker key, our kid", rawToken(t, attacker, `{"alg":"ES256","kid":"`+esKID+`","jwk":`+string(attackerJWK)+`}`, payload)},
		{"jwk header, attacker key, no kid", rawToken(t, attacker, `{"alg":"ES256","jwk":`+string(attackerJWK)+`}`, payload)},
		{"jwk header made by go-jose", joseJWK},
		{"jku header, attacker key", rawToken(t, attacker, `{"alg":"ES256","kid":"`+attackerKID+`","jku":"https://evil.example/jwks.json"}`, payload)},
		{"x5c header, attacker key", rawToken(t, attacker, `{"alg":"ES256","kid":"`+esKID+`","x5c":["`+x5c+`"]}`, payload)},
		{"unknown kid", rawToken(t, attacker, `{"alg":"ES256","kid":"`+attackerKID+`","typ":"JWT"}`, payload)},
		{"no kid, our signature", rawToken(t, rsKey.signer, `{"alg":"RS256","typ":"JWT"}`, payload)},
		{"empty kid", rawToken(t, rsKey.signer, `{"alg":"RS256","kid":"","typ":"JWT"}`, payload)},
		{"kid of ES256 key, alg RS256, signed by RSA key", rawToken(t, rsKey.signer, `{"alg":"RS256","kid":"`+esKID+`","typ":"JWT"}`, payload)},
		{"kid of RS256 key, alg ES256, signed by EC key", rawToken(t, esKey.signer, `{"alg":"ES256","kid":"`+rsKID+`","typ":"JWT"}`, payload)},
		{"RS384 with our key", b64(`{"alg":"RS384","kid":"`+rsKID+`"}`) + "." + b64(payload) + "." + b64("sig")},
		{"PS256", b64(`{"alg":"PS256","kid":"`+rsKID+`"}`) + "." + b64(payload) + "." + b64("sig")},
		{"duplicate alg", rawToken(t, rsKey.signer, `{"alg":"HS256","alg":"RS256","kid":"`+rsKID+`"}`, payload)},
		{"duplicate kid", rawToken(t, rsKey.signer, `{"alg":"RS256","kid":"`+esKID+`","kid":"`+rsKID+`"}`, payload)},
		{"non-string kid", rawToken(t, rsKey.signer, `{"alg":"RS256","kid":["`+rsKID+`"]}`, payload)},
		{"header not an object", rawToken(t, rsKey.signer, `["alg","RS256"]`, payload)},
		{"header trailing data", rawToken(t, rsKey.signer, `{"alg":"RS256","kid":"`+rsKID+`"}{}`, payload)},
		{"header padded base64", strings.Replace(rawToken(t, rsKey.signer, `{"alg":"RS256","kid":"`+rsKID+`","typ":"JWT"}`, payload), ".", "=.", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.kr.Verify(ctx, tc.tok, "")
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %q, %v; want ErrInvalidToken", p, err)
			}
			// Rejected for the intended reason, not by accident.
			if want := reason(tc.name); !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to mention %q", err, want)
			}
		})
	}

	// Control: the hand-made signer produces tokens we accept when the header
	// is clean, so the rejections above are due to the header alone.
	for _, k := range []*key{rsKey, esKey} {
		tok := rawToken(t, k.signer, `{"alg":"`+k.meta.Alg+`","kid":"`+k.meta.KID+`","typ":"JWT"}`, payload)
		if _, err := e.kr.Verify(ctx, tok, TypJWT); err != nil {
			t.Errorf("control token for %s rejected: %v", k.meta.Alg, err)
		}
	}
}

// reason maps a forged-token case to the check that must reject it.
func reason(name string) string {
	for _, r := range []struct{ prefix, want string }{
		{"alg none", `algorithm "none"`},
		{"alg None", `algorithm "None"`},
		{"HS256", `algorithm "HS256"`},
		{"jku", `header "jku"`},
		{"x5u", `header "x5u"`},
		{"jwk", `header "jwk"`},
		{"x5c", `header "x5c"`},
		{"crit", `header "crit"`},
		{"unknown kid", "unknown kid"},
		{"no kid", "no kid"},
		{"empty kid", "no kid"},
		{"kid of", "does not match key"},
		{"RS384", "not allowed"},
		{"PS256", "not allowed"},
		{"duplicate", "duplicate header"},
		{"non-string", "not a string"},
		{"header not", "not a JSON object"},
		{"header trailing", "trailing data"},
		{"header padded", "header encoding"},
	} {
		if strings.HasPrefix(name, r.prefix) {
			return r.want
		}
	}
	panic("no reason for " + name)
}

// TestRotation: a rotated-in key is published at once and signs only
// PublishDelay later; the old key signs until then and stays published for
// MaxTokenLifetime (plus RefreshInterval) after it stops.
func TestRotation(t *testing.T) {
	for _, alg := range []string{RS256, ES256} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg)
			oldKID := activeKey(t, e.kr, alg).meta.KID
			oldTok := mustSign(t, e.kr, alg, TypJWT, testClaims(e.clk.Now()))
			kidOf := func(tok string) any { return decodeSegment(t, strings.Split(tok, ".")[0])["kid"] }

			rotatedAt := e.clk.Now()
			rotated, err := e.kr.Rotate(ctx, alg)
			if err != nil {
				t.Fatal(err)
			}
			if rotated.KID == oldKID || rotated.Alg != alg || len(rotated.SealedKey) != 0 {
				t.Fatalf("Rotate returned %+v", rotated)
			}
			if got := jwksKIDs(t, e.kr); !equalSet(got, []string{rotated.KID, oldKID}) {
				t.Errorf("JWKS kids right after the rotation = %v, want new and old", got)
			}
			switchAt := rotatedAt.Add(testPublishDelay)
			publishedTo := switchAt.Add(24*time.Hour + 5*time.Second)
			// Keys by kid: both were created at one instant, so the
			// list's order between them is the store's choice.
			keys := func() (newKey, oldKey KeyInfo) {
				t.Helper()
				infos, err := e.kr.Keys(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, ki := range infos {
					switch ki.KID {
					case rotated.KID:
						newKey = ki
					case oldKID:
						oldKey = ki
					default:
						t.Errorf("Keys has %s, neither the old nor the new key", ki.KID)
					}
				}
				return newKey, oldKey
			}
			nk, ok := keys()
			if !nk.Active || nk.Signing || !nk.Published || !nk.SignsFrom.Equal(switchAt) || !nk.Retired.IsZero() ||
				ok.Active || !ok.Signing || !ok.Published || !ok.SignsFrom.Equal(rotatedAt) ||
				!ok.Retired.Equal(switchAt) || !ok.PublishedTo.Equal(publishedTo) {
				t.Errorf("Keys right after the rotation: new %+v, old %+v", nk, ok)
			}

			// Published first: the old key signs until PublishDelay has
			// passed, then the new one.
			e.clk.Advance(testPublishDelay - time.Second)
			if kid := kidOf(mustSign(t, e.kr, alg, TypJWT, testClaims(e.clk.Now()))); kid != oldKID {
				t.Errorf("token just before PublishDelay has kid %v, want the old %s", kid, oldKID)
			}
			e.clk.Advance(time.Second)
			newTok := mustSign(t, e.kr, alg, TypJWT, testClaims(e.clk.Now()))
			if kid := kidOf(newTok); kid != rotated.KID {
				t.Errorf("token at PublishDelay has kid %v, want the new %s", kid, rotated.KID)
			}
			for _, tok := range []string{oldTok, newTok} {
				if _, err := e.kr.Verify(ctx, tok, TypJWT); err != nil {
					t.Errorf("Verify after rotation: %v", err)
				}
			}
			if nk, ok := keys(); !nk.Signing || ok.Signing || !ok.Published {
				t.Errorf("Keys after the switch: new %+v, old %+v", nk, ok)
			}

			// Just before PublishedTo: old key still there. After: gone.
			e.clk.Advance(publishedTo.Sub(e.clk.Now()) - time.Second)
			if _, err := e.kr.Verify(ctx, oldTok, ""); err != nil {
				t.Errorf("old token just before PublishedTo: %v", err)
			}
			if n, _ := e.kr.Prune(ctx); n != 0 {
				t.Errorf("Prune deleted %d published keys", n)
			}
			e.clk.Advance(2 * time.Second)
			if got := jwksKIDs(t, e.kr); !equalSet(got, []string{rotated.KID}) {
				t.Errorf("JWKS after PublishedTo = %v, want only the new key", got)
			}
			if _, err := e.kr.Verify(ctx, oldTok, ""); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("old token after PublishedTo: %v, want ErrInvalidToken", err)
			}
			if _, err := e.kr.Verify(ctx, newTok, ""); err != nil {
				t.Errorf("new token: %v", err)
			}
			if _, ok := keys(); ok.Published {
				t.Errorf("Keys says the expired key is published: %+v", ok)
			}
			n, err := e.kr.Prune(ctx)
			if err != nil || n != 1 {
				t.Fatalf("Prune = %d, %v; want 1", n, err)
			}
			if infos, _ := e.kr.Keys(ctx); len(infos) != 1 || infos[0].KID != rotated.KID {
				t.Errorf("Keys after Prune = %+v", infos)
			}
		})
	}
}

// TestRotationsInQuickSuccession: a key rotated in while another rotation
// is still being published signs only once every older key has retired,
// and each key is published for PublishDelay before it signs.
func TestRotationsInQuickSuccession(t *testing.T) {
	e := newEnv(t, ES256)
	k1 := activeKey(t, e.kr, ES256).meta.KID
	t0 := e.clk.Now()
	k2, err := e.kr.Rotate(ctx, ES256)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(testPublishDelay / 2)
	k3, err := e.kr.Rotate(ctx, ES256)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		at   time.Duration // since t0
		want string
	}{
		{testPublishDelay / 2, k1},
		{testPublishDelay - time.Second, k1},
		{testPublishDelay, k2.KID},
		{testPublishDelay*3/2 - time.Second, k2.KID},
		{testPublishDelay * 3 / 2, k3.KID},
	} {
		e.clk.Advance(t0.Add(step.at).Sub(e.clk.Now()))
		if got := activeKey(t, e.kr, ES256).meta.KID; got != step.want {
			t.Errorf("%s after the first rotation: signing with %s, want %s", step.at, got, step.want)
		}
		infos, _ := e.kr.Keys(ctx)
		for _, ki := range infos {
			if ki.Signing != (ki.KID == step.want) {
				t.Errorf("%s: Keys says %s signing=%v", step.at, ki.KID, ki.Signing)
			}
		}
	}
}

func TestRotateOnlyTouchesItsAlg(t *testing.T) {
	e := newEnv(t, RS256, ES256)
	esKID := activeKey(t, e.kr, ES256).meta.KID
	if _, err := e.kr.Rotate(ctx, RS256); err != nil {
		t.Fatal(err)
	}
	if got := activeKey(t, e.kr, ES256).meta.KID; got != esKID {
		t.Errorf("ES256 key changed on RS256 rotation")
	}
	if _, err := e.kr.Rotate(ctx, "HS256"); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("Rotate(HS256) = %v", err)
	}
}

func jwksKIDs(t *testing.T, kr *Keyring) []string {
	t.Helper()
	set, err := kr.PublicJWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func equalSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

// TestRotationOnAnotherInstance: b rotates while a has the old keys
// cached and forged kids use up a's early reloads; at every moment of the
// rotation each instance verifies every token the other signs, both sign
// with the old key until PublishDelay has passed and with the new one from
// then on.
func TestRotationOnAnotherInstance(t *testing.T) {
	e := newEnv(t, ES256)
	a := e.kr
	b := e.keyring(t)
	oldKID := activeKey(t, a, ES256).meta.KID
	_ = mustSign(t, a, ES256, TypAtJWT, jtiOnly()) // warm a's cache
	kidOf := func(tok string) any { return decodeSegment(t, strings.Split(tok, ".")[0])["kid"] }
	forged := b64(`{"alg":"ES256","kid":"forged","typ":"at+jwt"}`) + "." + b64(`{}`) + "." + b64("sig")

	t0 := e.clk.Now()
	rotated, err := b.Rotate(ctx, ES256)
	if err != nil {
		t.Fatal(err)
	}
	for at := time.Duration(0); at <= testPublishDelay+10*time.Second; at += time.Second {
		e.clk.Advance(t0.Add(at).Sub(e.clk.Now()))
		want := oldKID
		if at >= testPublishDelay {
			want = rotated.KID
		}
		for name, kr := range map[string]*Keyring{"a": a, "b": b} {
			_, _ = kr.Verify(ctx, forged, TypAtJWT) // an unknown kid: a reload, if one is due
			tok := mustSign(t, kr, ES256, TypAtJWT, jtiOnly())
			if kidOf(tok) != want {
				t.Fatalf("%s after the rotation %s signs with %v, want %s", at, name, kidOf(tok), want)
			}
			for other, v := range map[string]*Keyring{"a": a, "b": b} {
				if _, err := v.Verify(ctx, tok, TypAtJWT); err != nil {
					t.Fatalf("%s after the rotation %s refuses %s's token: %v", at, other, name, err)
				}
			}
		}
	}
}

func TestCacheAvoidsStoreOnHotPath(t *testing.T) {
	e := newEnv(t, RS256, ES256)
	before := e.st.listCalls()
	for i := range 50 {
		alg := []string{RS256, ES256}[i%2]
		tok := mustSign(t, e.kr, alg, TypJWT, testClaims(e.clk.Now()))
		if _, err := e.kr.Verify(ctx, tok, TypJWT); err != nil {
			t.Fatal(err)
		}
		if _, err := e.kr.PublicJWKS(ctx); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(50 * time.Millisecond)
	}
	if got := e.st.listCalls() - before; got > 1 {
		t.Errorf("%d store reads during 2.5 s of signing, want at most 1", got)
	}
	e.clk.Advance(5 * time.Second)
	mustSign(t, e.kr, RS256, TypJWT, jtiOnly())
	if got := e.st.listCalls() - before; got < 1 {
		t.Errorf("cache not refreshed after RefreshInterval")
	}

	// Unknown kids do not hammer the store.
	before = e.st.listCalls()
	for range 100 {
		e.kr.Verify(ctx, b64(`{"alg":"RS256","kid":"nope"}`)+"."+b64(`{}`)+"."+b64("sig"), "")
	}
	if got := e.st.listCalls() - before; got > 1 {
		t.Errorf("%d store reads for 100 unknown kids at one instant, want at most 1", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, ES256)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				tok, err := e.kr.Sign(ctx, ES256, TypAtJWT, MapClaims{"i": i, "jti": newJTI()})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := e.kr.Verify(ctx, tok, TypAtJWT); err != nil {
					t.Error(err)
					return
				}
				e.clk.Advance(time.Second)
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if _, err := e.kr.Rotate(ctx, ES256); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
}

func TestEnsure(t *testing.T) {
	e := newEnv(t) // default: RS256 only
	infos, _ := e.kr.Keys(ctx)
	if len(infos) != 1 || infos[0].Alg != RS256 || !infos[0].Active {
		t.Fatalf("after Ensure(): %+v", infos)
	}
	if err := e.kr.Ensure(ctx, RS256, ES256); err != nil {
		t.Fatal(err)
	}
	if err := e.keyring(t).Ensure(ctx, RS256, ES256); err != nil {
		t.Fatal(err)
	}
	infos, _ = e.kr.Keys(ctx)
	if len(infos) != 2 {
		t.Fatalf("Ensure created duplicates: %+v", infos)
	}

	// Several instances starting at once on an empty store agree on one key.
	e2 := &env{st: &fakeStore{}, clk: newClock()}
	var wg sync.WaitGroup
	krs := make([]*Keyring, 4)
	for i := range krs {
		krs[i] = e2.keyring(t)
		wg.Go(func() {
			if err := krs[i].Ensure(ctx, ES256); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	want := activeKey(t, krs[0], ES256).meta.KID
	for _, kr := range krs[1:] {
		if got := activeKey(t, kr, ES256).meta.KID; got != want {
			t.Errorf("instances disagree on the active key: %s vs %s", got, want)
		}
	}
}

func TestPrivateKeyStoredSealed(t *testing.T) {
	e := newEnv(t, RS256, ES256, EdDSA)
	e.st.mu.Lock()
	stored := make(map[string][]byte)
	for _, k := range e.st.keys {
		stored[k.Alg] = bytes.Clone(k.SealedKey)
	}
	e.st.mu.Unlock()
	for _, alg := range []string{RS256, ES256, EdDSA} {
		k := activeKey(t, e.kr, alg)
		der, err := x509.MarshalPKCS8PrivateKey(k.signer)
		if err != nil {
			t.Fatal(err)
		}
		sealed := stored[alg]
		if len(sealed) == 0 || bytes.Contains(sealed, der) || bytes.Contains(sealed, der[len(der)/2:len(der)/2+16]) {
			t.Errorf("%s: stored key is not sealed", alg)
		}
		// Scalars alone must not appear either.
		var secret []byte
		switch p := k.signer.(type) {
		case *rsa.PrivateKey:
			secret = p.D.Bytes()
		case *ecdsa.PrivateKey:
			secret, _ = p.Bytes()
		case ed25519.PrivateKey:
			secret = p.Seed()
		}
		if bytes.Contains(sealed, secret[:16]) {
			t.Errorf("%s: private scalar visible in stored bytes", alg)
		}
		if k.meta.SealedKey != nil {
			t.Errorf("%s: cache keeps the sealed bytes", alg)
		}
	}
}

func TestWrongSealKeyFailsLoudly(t *testing.T) {
	e := newEnv(t, ES256)
	other, _ := seal.New(bytes.Repeat([]byte{8}, 32))
	kr := New(e.st, other, Options{Now: e.clk.Now})
	if _, err := kr.Sign(ctx, ES256, TypJWT, jtiOnly()); err == nil || !strings.Contains(err.Error(), "wrong seal key") {
		t.Fatalf("Sign with the wrong seal key = %v", err)
	}
}

func TestSealedKeyBoundToRow(t *testing.T) {
	// Copy the sealed private key of one ES256 key onto another row: the AD
	// (kid, alg) makes it fail to open instead of signing with a key whose
	// public half does not match the kid.
	e := newEnv(t, ES256)
	if _, err := e.kr.Rotate(ctx, ES256); err != nil {
		t.Fatal(err)
	}
	e.st.mu.Lock()
	e.st.keys[1].SealedKey = bytes.Clone(e.st.keys[0].SealedKey)
	e.st.mu.Unlock()
	kr := e.keyring(t)
	if _, err := kr.Sign(ctx, ES256, TypJWT, jtiOnly()); err == nil {
		t.Fatal("a sealed key moved to another row was accepted")
	}
}

func TestPublicJWKS(t *testing.T) {
	e := newEnv(t, RS256, ES256, EdDSA)
	set, err := e.kr.PublicJWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 3 {
		t.Fatalf("JWKS has %d keys", len(set.Keys))
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &parsed); err != nil {
		t.Fatal(err)
	}
	for _, k := range parsed.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS key %v has private member %q", k["kid"], private)
			}
		}
		if k["use"] != "sig" || k["kid"] == "" || (k["alg"] != RS256 && k["alg"] != ES256 && k["alg"] != EdDSA) {
			t.Errorf("JWKS key = %v", k)
		}
		if (k["alg"] == RS256) != (k["kty"] == "RSA") {
			t.Errorf("alg/kty mismatch: %v", k)
		}
		// RFC 8037 §2: an Ed25519 public key is kty OKP, crv Ed25519, x.
		if x, _ := k["x"].(string); (k["alg"] == EdDSA) != (k["kty"] == "OKP" && k["crv"] == "Ed25519" && len(x) == 43 && k["y"] == nil) {
			t.Errorf("EdDSA key not an RFC 8037 OKP key: %v", k)
		}
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			t.Errorf("key %s not a valid public key", k.KeyID)
		}
	}
}

// TestThirdPartyVerification checks our tokens the way a relying party
// does: fetch the JWKS as JSON, parse it with go-jose, pick the key by kid.
func TestThirdPartyVerification(t *testing.T) {
	e := newEnv(t, RS256, ES256, EdDSA)
	set, _ := e.kr.PublicJWKS(ctx)
	raw, _ := json.Marshal(set)
	var rpSet jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &rpSet); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{RS256, ES256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			now := e.clk.Now()
			tok := mustSign(t, e.kr, alg, TypJWT, testClaims(now))
			parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
			if err != nil {
				t.Fatal(err)
			}
			kid := parsed.Headers[0].KeyID
			keys := rpSet.Key(kid)
			if len(keys) != 1 {
				t.Fatalf("JWKS has %d keys for kid %q", len(keys), kid)
			}
			var claims jwt.Claims
			if err := parsed.Claims(keys[0].Key, &claims); err != nil {
				t.Fatalf("go-jose rejects our token: %v", err)
			}
			if err := claims.ValidateWithLeeway(jwt.Expected{
				Issuer: "https://id.example.com/", AnyAudience: jwt.Audience{"client-1"}, Time: now,
			}, 0); err != nil {
				t.Errorf("claims: %v", err)
			}
			if parsed.Headers[0].Algorithm != alg || parsed.Headers[0].ExtraHeaders["typ"] != TypJWT {
				t.Errorf("headers = %+v", parsed.Headers[0])
			}
		})
	}
}

func TestValidateClaims(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const iss, aud = "https://id.example.com/", "client-1"
	claims := func(mod func(m map[string]any)) []byte {
		m := map[string]any{"iss": iss, "aud": []string{"other", aud}, "sub": "u1",
			"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()}
		mod(m)
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		iss     string
		aud     string
		leeway  time.Duration
		ok      bool
	}{
		{"valid", claims(func(map[string]any) {}), iss, aud, 0, true},
		{"aud string", claims(func(m map[string]any) { m["aud"] = aud }), iss, aud, 0, true},
		{"wrong iss", claims(func(m map[string]any) { m["iss"] = "https://id.example.com" }), iss, aud, 0, false},
		{"wrong aud", claims(func(m map[string]any) { m["aud"] = "client-2" }), iss, aud, 0, false},
		{"no aud", claims(func(m map[string]any) { delete(m, "aud") }), iss, aud, 0, false},
		{"expired", claims(func(m map[string]any) { m["exp"] = now.Add(-time.Second).Unix() }), iss, aud, 0, false},
		{"expired within leeway", claims(func(m map[string]any) { m["exp"] = now.Add(-time.Second).Unix() }), iss, aud, time.Minute, true},
		{"no exp", claims(func(m map[string]any) { delete(m, "exp") }), iss, aud, 0, false},
		{"nbf in future", claims(func(m map[string]any) { m["nbf"] = now.Add(time.Minute).Unix() }), iss, aud, 0, false},
		{"iat in future", claims(func(m map[string]any) { m["iat"] = now.Add(time.Minute).Unix() }), iss, aud, 0, false},
		{"exp before iat", claims(func(m map[string]any) {
			m["iat"] = now.Add(-time.Minute).Unix()
			m["exp"] = now.Add(-2 * time.Minute).Unix()
		}), iss, aud, time.Hour, false},
		{"empty expected issuer", claims(func(map[string]any) {}), "", aud, 0, false},
		{"empty expected audience", claims(func(map[string]any) {}), iss, "", 0, false},
		{"not JSON", []byte("nope"), iss, aud, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ValidateClaims(tc.payload, tc.iss, tc.aud, now, tc.leeway)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if c.Subject != "u1" {
					t.Errorf("Subject = %q", c.Subject)
				}
			} else if err == nil {
				t.Fatal("ValidateClaims succeeded")
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	e := newEnv(b, RS256, ES256)
	claims := testClaims(e.clk.Now())
	for _, alg := range []string{RS256, ES256} {
		b.Run(alg, func(b *testing.B) {
			for b.Loop() {
				if _, err := e.kr.Sign(ctx, alg, TypJWT, claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	e := newEnv(b, RS256, ES256)
	claims := testClaims(e.clk.Now())
	for _, alg := range []string{RS256, ES256} {
		tok := mustSign(b, e.kr, alg, TypJWT, claims)
		b.Run(alg, func(b *testing.B) {
			for b.Loop() {
				if _, err := e.kr.Verify(ctx, tok, TypJWT); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
