package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// es256Signer signs ES256 with RFC 6979 deterministic nonces: the nonce
// is derived from the private key and the message alone. Go's default,
// hedged signing derives it from those plus fresh randomness, which adds
// a defence against fault and some side-channel attacks that observe one
// message signed more than once; its SHA-512 DRBG costs a fifth of a
// signature (docs/performance.md). That defence is not needed when no message is
// ever signed twice, and that is what Keyring.Sign enforces: every
// payload carries its own jti of 128 random bits from crypto/rand
// (Claims, ErrNoJTI): resistance to those attacks rests on that.
type es256Signer struct{ priv *ecdsa.PrivateKey }

var _ jose.OpaqueSigner = es256Signer{}

// Public returns the public key alone: go-jose takes the kid and alg of
// the header from the JSONWebKey that wraps the signer (joseSigner) and
// only the key from here; a nil key would drop the kid.
func (s es256Signer) Public() *jose.JSONWebKey { return &jose.JSONWebKey{Key: s.priv.Public()} }

func (s es256Signer) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.ES256} }

// SignPayload returns the JWS signature of payload: r and s, 32 bytes
// each, big-endian (RFC 7518 §3.4).
func (s es256Signer) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.ES256 {
		return nil, jose.ErrUnsupportedAlgorithm
	}
	h := sha256.Sum256(payload)
	// A nil rand makes crypto/ecdsa sign per RFC 6979 with SHA-256.
	der, err := s.priv.Sign(nil, h[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return rawSignature(der, 32)
}

// rawSignature converts an ASN.1 ECDSA signature to the fixed-size r||s
// form of JWS.
func rawSignature(der []byte, size int) ([]byte, error) {
	var r, sv []byte
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&sv) || !seq.Empty() {
		return nil, errors.New("signing: malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	if !fill(out[:size], r) || !fill(out[size:], sv) {
		return nil, errors.New("signing: ECDSA signature out of range")
	}
	return out, nil
}

// fill writes the unsigned big-endian integer v right-aligned into dst.
func fill(dst, v []byte) bool {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) > len(dst) {
		return false
	}
	copy(dst[len(dst)-len(v):], v)
	return true
}
