package signing

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestES256SignerRFC6979 checks the signer against the P-256/SHA-256
// vectors of RFC 6979 A.2.5: it signs deterministically, per the RFC, and
// in JWS form (r||s, 32 bytes each).
func TestES256SignerRFC6979(t *testing.T) {
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), unhex(t, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if want := "04" + "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6" +
		"7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"; !strings.EqualFold(hex.EncodeToString(pub), want) {
		t.Fatalf("public key %x, want RFC 6979's", pub)
	}
	s := es256Signer{priv}
	if pk := s.Public(); !pk.IsPublic() || !priv.PublicKey.Equal(pk.Key) {
		t.Fatalf("Public() = %#v, want the public key alone", pk)
	}
	for _, tc := range []struct{ msg, r, s string }{
		{"sample", "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716", "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"},
		{"test", "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367", "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083"},
	} {
		sig, err := s.SignPayload([]byte(tc.msg), jose.ES256)
		if err != nil {
			t.Fatal(err)
		}
		if want := unhex(t, tc.r+tc.s); !bytes.Equal(sig, want) {
			t.Errorf("%q: signature %X, want %X", tc.msg, sig, want)
		}
		h := sha256.Sum256([]byte(tc.msg))
		if !ecdsa.VerifyASN1(&priv.PublicKey, h[:], mustDER(t, sig)) {
			t.Errorf("%q: signature does not verify", tc.msg)
		}
	}
	if _, err := s.SignPayload([]byte("sample"), jose.ES384); err == nil {
		t.Error("ES384 signed by the ES256 signer")
	}
}

// mustDER re-encodes a JWS r||s signature as ASN.1 for crypto/ecdsa.
func mustDER(t *testing.T, sig []byte) []byte {
	t.Helper()
	n := len(sig) / 2
	minimal := func(v []byte) []byte {
		v = bytes.TrimLeft(v, "\x00")
		if len(v) == 0 || v[0]&0x80 != 0 {
			v = append([]byte{0}, v...)
		}
		return v
	}
	return derSequence(derInteger(minimal(sig[:n])), derInteger(minimal(sig[n:])))
}

// derSequence and derInteger encode short DER values as given, so that
// tests can build malformed ones too.
func derSequence(parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append([]byte{0x30, byte(len(body))}, body...)
}

func derInteger(v []byte) []byte { return append([]byte{0x02, byte(len(v))}, v...) }

// TestRawSignature: the ASN.1 to r||s conversion pads short integers,
// drops DER's sign byte, and refuses anything that is not two integers
// that fit.
func TestRawSignature(t *testing.T) {
	full := bytes.Repeat([]byte{0x7f}, 32)
	high := bytes.Repeat([]byte{0x80}, 32)
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte // nil: refused
	}{
		{"full size", derSequence(derInteger(full), derInteger(full)), append(full[:32:32], full...)},
		{"sign byte dropped", derSequence(derInteger(append([]byte{0}, high...)), derInteger(full)), append(high[:32:32], full...)},
		{"short integers padded", derSequence(derInteger([]byte{1}), derInteger([]byte{2, 3})),
			append(append(make([]byte, 31), 1), append(make([]byte, 30), 2, 3)...)},
		{"too large", derSequence(derInteger(append([]byte{1}, full...)), derInteger(full)), nil},
		{"negative", derSequence(derInteger(high), derInteger(full)), nil},
		{"one integer", derSequence(derInteger(full)), nil},
		{"three integers", derSequence(derInteger(full), derInteger(full), derInteger(full)), nil},
		{"trailing bytes", append(derSequence(derInteger(full), derInteger(full)), 0), nil},
		{"not a sequence", derInteger(full), nil},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rawSignature(tc.in, 32)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted: %X", got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %X, %v; want %X", got, err, tc.want)
			}
		})
	}
}

// TestES256Deterministic: the keyring signs ES256 through es256Signer, so
// the same claims give the same token (real claims never repeat: Sign
// wants a fresh jti in each); the header still names the key, and the
// token verifies.
func TestES256Deterministic(t *testing.T) {
	e := newEnv(t, ES256)
	claims := testClaims(e.clk.Now())
	a := mustSign(t, e.kr, ES256, TypAtJWT, claims)
	b := mustSign(t, e.kr, ES256, TypAtJWT, claims)
	if a != b {
		t.Fatal("two signatures of the same claims differ: not RFC 6979")
	}
	keys, err := e.kr.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hdr := decodeSegment(t, strings.Split(a, ".")[0])
	if hdr["alg"] != ES256 || hdr["kid"] != keys[0].KID || hdr["typ"] != TypAtJWT || len(hdr) != 3 {
		t.Fatalf("header %v, want alg, kid %s and typ only", hdr, keys[0].KID)
	}
	if _, err := e.kr.Verify(ctx, a, TypAtJWT); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
