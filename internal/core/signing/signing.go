// Package signing keeps tolk's JWT signing keys: it creates and rotates
// them in the store (private keys sealed, SECURITY.md T34), signs id_tokens
// and RFC 9068 access tokens, publishes the JWKS, and verifies tokens that
// come back to tolk (exchanged access tokens, id_token_hint).
//
// Verification is strict by design (RFC 8725, SECURITY.md T31): only RS256,
// ES256 and EdDSA (Ed25519, RFC 8037) exist; the key is found by kid and its algorithm is pinned to
// what we generated it for, never taken from the header; headers that point
// at other keys (jku, x5u, jwk, x5c) are refused rather than ignored.
//
// Keys are cached in memory so that signing costs no database round trip.
// The cache is reloaded at most every Options.RefreshInterval.
//
// A rotation publishes the new key before anyone signs with it: the new key
// is in the JWKS at once, and the old key keeps signing for
// Options.PublishDelay. Every instance and every JWKS cache (the verify
// package's, relying parties') has then had the new key for longer than it
// caches, so no verifier meets a token whose key it has not fetched. The
// switch happens at the same instant on every instance, read from the
// store: the old key's RetiredAt.
package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tolk-project/tolk/internal/kit/seal"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// Supported algorithms. Nothing else is ever generated or accepted.
const (
	RS256 = "RS256" // default for id_tokens (every RP library supports it)
	ES256 = "ES256" // exchanged access tokens: small and fast to verify
	// EdDSA is Ed25519 (RFC 8037, JWK kty OKP, crv Ed25519): opt-in for
	// access tokens (exchange_alg, jwt_access_alg). Its signatures are
	// deterministic by construction, it allocates a tenth of what ES256
	// does, and its keys and signatures are small; older JOSE libraries
	// do not know it, hence not the default.
	EdDSA = "EdDSA"
)

// Token types for the typ header.
const (
	TypJWT   = "JWT"    // id_tokens
	TypAtJWT = "at+jwt" // RFC 9068 access tokens
)

const (
	defaultRefreshInterval  = 5 * time.Second
	defaultPublishDelay     = 15 * time.Minute
	defaultMaxTokenLifetime = 14 * 24 * time.Hour
	defaultRSABits          = 2048
	// unknownKIDReloadAfter: a token with a kid we do not know may come
	// from a key another instance just created, so Verify reloads early,
	// but no more often than this, so that random kids cannot turn every
	// request into a database query.
	unknownKIDReloadAfter = time.Second
)

var (
	// ErrUnsupportedAlg: an algorithm other than RS256, ES256 or EdDSA was asked for.
	ErrUnsupportedAlg = errors.New("signing: unsupported algorithm (want RS256, ES256 or EdDSA)")
	// ErrNoKey: there is no active key for the algorithm; call Ensure first.
	ErrNoKey = errors.New("signing: no active signing key for algorithm")
	// ErrInvalidToken is wrapped by every Verify failure.
	ErrInvalidToken = errors.New("signing: invalid token")
)

// Options tune a Keyring. Zero values mean the defaults.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand is the entropy source for key generation; default crypto/rand.
	// Note that since Go 1.26 crypto/rsa and crypto/ecdsa ignore it unless
	// GODEBUG=cryptocustomrand=1, so it cannot make keys deterministic.
	Rand io.Reader
	// RefreshInterval is how stale the in-memory key cache may get, so a
	// rotation on another instance is picked up within it. Default 5s.
	RefreshInterval time.Duration
	// PublishDelay is how long a rotated-in key is published before it
	// signs: longer than any verifier caches a JWKS (the verify package
	// refetches after 10 min at most) and than RefreshInterval. Default
	// 15 min.
	PublishDelay time.Duration
	// MaxTokenLifetime is how long a retired key stays published: the
	// longest lifetime of a token it may have signed plus relying parties'
	// JWKS cache time. Default 14 days (opaque→JWT access tokens live 4 h,
	// id_tokens 1 h; the margin is for RP caches and clock skew).
	MaxTokenLifetime time.Duration
	// RSABits is the RSA modulus size for new RS256 keys; default and
	// minimum 2048.
	RSABits int
}

// Keyring signs and verifies with the keys in the store. It is safe for
// concurrent use.
type Keyring struct {
	st   store.SigningKeys
	seal *seal.Sealer
	opts Options

	cache    atomic.Pointer[snapshot]
	reloadMu sync.Mutex // one reload at a time; others wait and reuse it
}

// snapshot is one load of the store. It is immutable once published.
type snapshot struct {
	loadedAt time.Time
	keys     []*key          // newest first, as listed
	byKID    map[string]*key // every key, published or not
	// signers are, per alg, the keys that sign now or will, in the order
	// they retire: each signs until its RetiredAt, then the next one takes
	// over.
	signers map[string][]*key
}

// signer returns the key that signs alg at now: of those not yet retired,
// the one that retires first. A key thus never signs before every key
// rotated out for it has retired, which Rotate schedules PublishDelay
// after the key was published. (Creation times may tie, so they cannot
// order keys.)
func (s *snapshot) signer(alg string, now time.Time) *key {
	for _, k := range s.signers[alg] {
		if k.unretired(now) {
			return k
		}
	}
	return nil
}

// current reports whether alg has a key that is not scheduled to retire.
func (s *snapshot) current(alg string) bool {
	ks := s.signers[alg]
	return len(ks) > 0 && ks[len(ks)-1].meta.RetiredAt.IsZero()
}

type key struct {
	meta   store.SigningKey // SealedKey cleared: the sealed bytes are not needed after load
	public crypto.PublicKey
	// signer is the decrypted private key, present only for active keys:
	// retired keys never sign again, so they are never decrypted.
	signer crypto.Signer
	// headers are the base64url protected headers of the two typs tolk
	// signs, written once at load (headerFor): a header is the same for
	// every token of a key and typ.
	headers map[string]string
}

// headerFor returns the base64url JWS protected header of k for typ:
// {"alg","kid","typ"} in that order, as go-jose wrote it, without typ
// when typ is empty.
func (k *key) headerFor(typ string) string {
	if h, ok := k.headers[typ]; ok {
		return h
	}
	h := NewJSONObject(make([]byte, 0, 96))
	h.String("alg", k.meta.Alg)
	h.String("kid", k.meta.KID)
	if typ != "" {
		h.String("typ", typ)
	}
	return base64.RawURLEncoding.EncodeToString(h.Close())
}

// sign returns the compact JWS of payload under k: header, payload and
// signature assembled here, the signature made by crypto/* directly.
// go-jose built the same bytes through encoding/json of its header
// structures (docs/performance.md, "Exchange signing"); Verify and the
// tests check what this writes with go-jose.
func (k *key) sign(typ string, payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	hdr := k.headerFor(typ)
	buf := make([]byte, 0, len(hdr)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(k.sigSize()))
	buf = append(buf, hdr...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	var sig []byte
	var err error
	switch priv := k.signer.(type) {
	case ed25519.PrivateKey:
		if k.meta.Alg != EdDSA {
			return "", fmt.Errorf("signing: key %s is not %s", k.meta.KID, EdDSA)
		}
		sig = ed25519.Sign(priv, buf)
	case *ecdsa.PrivateKey:
		if k.meta.Alg != ES256 {
			return "", fmt.Errorf("signing: key %s is not %s", k.meta.KID, ES256)
		}
		sig, err = es256Signer{priv}.SignPayload(buf, jose.ES256)
	case *rsa.PrivateKey:
		if k.meta.Alg != RS256 {
			return "", fmt.Errorf("signing: key %s is not %s", k.meta.KID, RS256)
		}
		h := sha256.Sum256(buf)
		// PKCS #1 v1.5 is deterministic; it takes no randomness.
		sig, err = rsa.SignPKCS1v15(nil, priv, crypto.SHA256, h[:])
	default:
		err = fmt.Errorf("signing: key %s: unsupported private key %T", k.meta.KID, k.signer)
	}
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// sigSize is the length of k's signatures in bytes.
func (k *key) sigSize() int {
	if p, ok := k.public.(*rsa.PublicKey); ok {
		return p.Size()
	}
	return 64 // ES256 r||s (RFC 7518 §3.4) and Ed25519 (RFC 8032)
}

// published reports whether k may still verify tokens at now: not
// retired, or retired with PublishedTo still in the future.
func (k *key) published(now time.Time) bool {
	return k.meta.RetiredAt.IsZero() || k.meta.PublishedTo.After(now)
}

// compareRetirement orders keys by RetiredAt, the active key (zero) last.
func compareRetirement(a, b store.SigningKey) int {
	switch {
	case a.RetiredAt.Equal(b.RetiredAt):
		return 0
	case a.RetiredAt.IsZero():
		return 1
	case b.RetiredAt.IsZero():
		return -1
	}
	return a.RetiredAt.Compare(b.RetiredAt)
}

// unretired reports whether k has not retired by now, so that it signs
// unless a key that retires before it still does.
func (k *key) unretired(now time.Time) bool {
	return k.meta.RetiredAt.IsZero() || now.Before(k.meta.RetiredAt)
}

// New returns a Keyring over st, sealing private keys with s.
func New(st store.SigningKeys, s *seal.Sealer, opts Options) *Keyring {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = defaultRefreshInterval
	}
	if opts.PublishDelay <= 0 {
		opts.PublishDelay = defaultPublishDelay
	}
	if opts.MaxTokenLifetime <= 0 {
		opts.MaxTokenLifetime = defaultMaxTokenLifetime
	}
	if opts.RSABits < defaultRSABits {
		opts.RSABits = defaultRSABits
	}
	return &Keyring{st: st, seal: s, opts: opts}
}

func checkAlg(alg string) error {
	if alg != RS256 && alg != ES256 && alg != EdDSA {
		return fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	return nil
}

// Ensure makes sure an active key exists for each alg (default RS256).
// Several instances may call it at once; the store makes them agree on one
// key per alg.
func (kr *Keyring) Ensure(ctx context.Context, algs ...string) error {
	if len(algs) == 0 {
		algs = []string{RS256}
	}
	for _, alg := range algs {
		if err := checkAlg(alg); err != nil {
			return err
		}
	}
	snap, err := kr.reload(ctx, 0)
	if err != nil {
		return err
	}
	created := false
	for _, alg := range algs {
		// Generating an RSA key takes tens of milliseconds; skip it when
		// the key is already there, which is every start but the first.
		if snap.current(alg) {
			continue
		}
		k, err := kr.generate(alg)
		if err != nil {
			return err
		}
		if _, err := kr.st.EnsureSigningKey(ctx, k); err != nil {
			return fmt.Errorf("signing: ensure %s key: %w", alg, err)
		}
		created = true
	}
	if created {
		// Load what the store settled on, which may be another instance's key.
		if _, err := kr.reload(ctx, 0); err != nil {
			return err
		}
	}
	return nil
}

// generate makes a new key of alg, sealed, ready to store.
func (kr *Keyring) generate(alg string) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(kr.opts.Rand, kr.opts.RSABits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), kr.opts.Rand)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(kr.opts.Rand)
	default:
		return store.SigningKey{}, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: generate %s key: %w", alg, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: %w", err)
	}
	kid, err := thumbprintKID(priv.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: %w", err)
	}
	sealed, err := kr.seal.Seal(der, sealAD(kid, alg))
	clear(der)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: seal key: %w", err)
	}
	return store.SigningKey{
		KID:       kid,
		Alg:       alg,
		SealedKey: sealed,
		PublicKey: pub,
		CreatedAt: kr.opts.Now().UTC(),
	}, nil
}

// sealAD binds a sealed private key to its kid and alg, so a sealed blob
// copied onto another row (e.g. by someone with write access to the
// database) does not open there.
func sealAD(kid, alg string) []byte {
	return []byte("tolk signing key v1\x00" + alg + "\x00" + kid)
}

// thumbprintKID is the base64url SHA-256 JWK thumbprint (RFC 7638) of pub:
// stable, derived from the key alone, and the same on every instance.
func thumbprintKID(pub crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("signing: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// current returns the cached snapshot, reloading it if it is older than
// RefreshInterval or absent.
func (kr *Keyring) current(ctx context.Context) (*snapshot, error) {
	if snap := kr.cache.Load(); snap != nil && kr.fresh(snap, kr.opts.RefreshInterval) {
		return snap, nil
	}
	return kr.reload(ctx, kr.opts.RefreshInterval)
}

func (kr *Keyring) fresh(snap *snapshot, maxAge time.Duration) bool {
	return kr.opts.Now().Sub(snap.loadedAt) < maxAge
}

// reload loads the keys from the store unless the cached snapshot is
// younger than maxAge (0 forces a load). The check is repeated under the
// lock so that goroutines queued behind a reload reuse its result instead
// of each querying the database.
func (kr *Keyring) reload(ctx context.Context, maxAge time.Duration) (*snapshot, error) {
	kr.reloadMu.Lock()
	defer kr.reloadMu.Unlock()
	if cur := kr.cache.Load(); cur != nil && kr.fresh(cur, maxAge) {
		return cur, nil
	}
	list, err := kr.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signing: load keys: %w", err)
	}
	now := kr.opts.Now()
	snap := &snapshot{
		loadedAt: now,
		byKID:    make(map[string]*key, len(list)),
		signers:  make(map[string][]*key, 2),
	}
	for _, sk := range list {
		if checkAlg(sk.Alg) != nil {
			continue // a row from a future version; never use it
		}
		k, err := kr.loadKey(sk, now)
		if err != nil {
			return nil, err
		}
		snap.keys = append(snap.keys, k)
		snap.byKID[sk.KID] = k
		if k.signer != nil {
			snap.signers[sk.Alg] = append(snap.signers[sk.Alg], k)
		}
	}
	for _, ks := range snap.signers {
		slices.SortStableFunc(ks, func(a, b *key) int { return compareRetirement(a.meta, b.meta) })
	}
	kr.cache.Store(snap)
	return snap, nil
}

// loadKey parses the public key and, for a key that has not retired by
// now, opens the private key and checks that the two belong together, so a
// mixed-up row fails at load instead of producing tokens nobody can verify.
func (kr *Keyring) loadKey(sk store.SigningKey, now time.Time) (*key, error) {
	pub, err := x509.ParsePKIXPublicKey(sk.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing: key %s: public key: %w", sk.KID, err)
	}
	if !algMatchesKey(sk.Alg, pub) {
		return nil, fmt.Errorf("signing: key %s: public key type does not match %s", sk.KID, sk.Alg)
	}
	if kid, err := thumbprintKID(pub); err != nil || kid != sk.KID {
		return nil, fmt.Errorf("signing: key %s: kid is not the thumbprint of its public key", sk.KID)
	}
	k := &key{meta: sk, public: pub}
	k.meta.SealedKey = nil
	if !k.unretired(now) {
		return k, nil
	}
	der, err := kr.seal.Open(sk.SealedKey, sealAD(sk.KID, sk.Alg))
	if err != nil {
		return nil, fmt.Errorf("signing: key %s: open private key (wrong seal key?): %w", sk.KID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("signing: key %s: private key: %w", sk.KID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok || !publicEqual(signer.Public(), pub) {
		return nil, fmt.Errorf("signing: key %s: private key does not match public key", sk.KID)
	}
	k.signer = signer
	k.headers = map[string]string{}
	for _, typ := range []string{TypJWT, TypAtJWT} {
		k.headers[typ] = k.headerFor(typ)
	}
	return k, nil
}

func algMatchesKey(alg string, pub crypto.PublicKey) bool {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return alg == RS256 && p.N.BitLen() >= defaultRSABits
	case *ecdsa.PublicKey:
		return alg == ES256 && p.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == EdDSA && len(p) == ed25519.PublicKeySize
	}
	return false
}

func publicEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// invalidate drops the cache so the next call reloads; used after this
// instance changed the keys.
func (kr *Keyring) invalidate() { kr.cache.Store(nil) }

// Claims are what Sign signs: written by their AppendJSON if they are a
// JSONAppender, else marshalled with encoding/json, they must encode as a
// JSON object that carries the jti JWTID names.
type Claims interface {
	// JWTID is the token's jti, made by secret.Generator.JTI for this
	// token alone: 128 fresh random bits in every message, which is what
	// deterministic ES256 signing relies on (es256Signer).
	JWTID() string
}

// MapClaims are claims as a map; JWTID is its "jti" member.
type MapClaims map[string]any

// JWTID implements Claims.
func (m MapClaims) JWTID() string {
	s, _ := m["jti"].(string)
	return s
}

// ErrNoJTI: Sign was given claims without a jti of the StampedHex shape,
// or whose payload does not carry it.
var ErrNoJTI = errors.New("signing: claims without a stamped jti")

// Sign returns a compact JWS of claims with the header alg, kid and typ,
// signed by the active key of alg.
func (kr *Keyring) Sign(ctx context.Context, alg, typ string, claims Claims) (string, error) {
	if err := checkAlg(alg); err != nil {
		return "", err
	}
	if claims == nil {
		return "", ErrNoJTI
	}
	jti := claims.JWTID()
	if !secret.IsJTI(jti) {
		return "", ErrNoJTI
	}
	var payload []byte
	if a, ok := claims.(JSONAppender); ok {
		payload = a.AppendJSON(make([]byte, 0, 512))
	} else {
		var err error
		if payload, err = json.Marshal(claims); err != nil {
			return "", fmt.Errorf("signing: marshal claims: %w", err)
		}
	}
	if len(payload) == 0 || payload[0] != '{' {
		return "", errors.New("signing: claims must be a JSON object")
	}
	// The jti must be in what is signed, not only named (a field tagged
	// json:"-" would be). It is hex, so JSON writes it as is.
	if !bytes.Contains(payload, []byte(`"jti":"`+jti+`"`)) {
		return "", ErrNoJTI
	}
	snap, err := kr.current(ctx)
	if err != nil {
		return "", err
	}
	k := snap.signer(alg, kr.opts.Now())
	if k == nil {
		// Maybe another instance has just created it. Rate-limited like
		// an unknown kid, so a missing key cannot mean a query per call.
		if snap, err = kr.reload(ctx, min(unknownKIDReloadAfter, kr.opts.RefreshInterval)); err != nil {
			return "", err
		}
		if k = snap.signer(alg, kr.opts.Now()); k == nil {
			return "", fmt.Errorf("%w %s", ErrNoKey, alg)
		}
	}
	tok, err := k.sign(typ, payload)
	if err != nil {
		return "", fmt.Errorf("signing: sign: %w", err)
	}
	return tok, nil
}

// PublicJWKS returns every published key (active, or retired with
// PublishedTo after now), newest first, public parts only.
func (kr *Keyring) PublicJWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	snap, err := kr.current(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	now := kr.opts.Now()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range snap.keys {
		if !k.published(now) {
			continue
		}
		// Built from the public key only: a private key can never reach
		// the JWKS, whatever the snapshot holds.
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       k.public,
			KeyID:     k.meta.KID,
			Algorithm: k.meta.Alg,
			Use:       "sig",
		})
	}
	return set, nil
}

// allowedHeaders are the only JOSE header parameters Verify accepts: the
// ones tolk writes. Refusing the rest covers jku/x5u/jwk/x5c (attacker-
// chosen keys, RFC 8725 §3.10), crit and b64 (RFC 7797 unencoded payloads),
// and anything a future go-jose might start to interpret.
var allowedHeaders = map[string]bool{"alg": true, "kid": true, "typ": true}

// verifyAlgs is the global allowlist; per key, only the key's own alg is
// passed to go-jose.
var verifyAlgs = map[string]bool{RS256: true, ES256: true, EdDSA: true}

// Verify checks a compact JWS signed by one of our published keys and
// returns its payload. If wantTyp is not empty the typ header must match
// it (case-insensitively, with an optional "application/" prefix, RFC 9068
// §4). It does not look at the claims; see ValidateClaims.
func (kr *Keyring) Verify(ctx context.Context, token, wantTyp string) ([]byte, error) {
	hdr, err := parseHeader(token)
	if err != nil {
		return nil, err
	}
	if !verifyAlgs[hdr.Alg] {
		return nil, invalid("algorithm %q not allowed", hdr.Alg)
	}
	if hdr.KID == "" {
		return nil, invalid("no kid")
	}
	if wantTyp != "" && !typEqual(hdr.Typ, wantTyp) {
		return nil, invalid("typ %q, want %q", hdr.Typ, wantTyp)
	}

	snap, err := kr.current(ctx)
	if err != nil {
		return nil, err
	}
	k := snap.byKID[hdr.KID]
	if k == nil {
		if snap, err = kr.reload(ctx, min(unknownKIDReloadAfter, kr.opts.RefreshInterval)); err != nil {
			return nil, err
		}
		k = snap.byKID[hdr.KID]
	}
	if k == nil || !k.published(kr.opts.Now()) {
		return nil, invalid("unknown kid")
	}
	// The key decides the algorithm; the header only has to agree.
	if hdr.Alg != k.meta.Alg {
		return nil, invalid("alg %q does not match key %s (%s)", hdr.Alg, k.meta.KID, k.meta.Alg)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.meta.Alg)})
	if err != nil {
		return nil, invalid("%v", err)
	}
	if len(jws.Signatures) != 1 || jws.Signatures[0].Protected.KeyID != k.meta.KID ||
		jws.Signatures[0].Protected.Algorithm != k.meta.Alg {
		return nil, invalid("header mismatch")
	}
	payload, err := jws.Verify(k.public)
	if err != nil {
		return nil, invalid("bad signature")
	}
	return payload, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}

type header struct {
	Alg, KID, Typ string
}

// parseHeader decodes the protected header of a compact JWS and applies
// the header policy before any key is looked up. Duplicate names are
// refused: with them, two JSON parsers may disagree on which value counts.
func parseHeader(token string) (header, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return header{}, invalid("not a compact JWS")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
	if err != nil {
		return header{}, invalid("header encoding")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return header{}, invalid("header is not a JSON object")
	}
	var h header
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return header{}, invalid("header JSON")
		}
		name, _ := tok.(string)
		if seen[name] {
			return header{}, invalid("duplicate header %q", name)
		}
		seen[name] = true
		if !allowedHeaders[name] {
			return header{}, invalid("header %q not allowed", name)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return header{}, invalid("header %q is not a string", name)
		}
		switch name {
		case "alg":
			h.Alg = v
		case "kid":
			h.KID = v
		case "typ":
			h.Typ = v
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return header{}, invalid("header JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return header{}, invalid("trailing data after header")
	}
	return h, nil
}

// typEqual compares media types as RFC 7515 §4.1.9 and RFC 9068 §4 say:
// case-insensitive, "application/" optional.
func typEqual(got, want string) bool {
	norm := func(s string) string {
		s = strings.ToLower(s)
		return strings.TrimPrefix(s, "application/")
	}
	return norm(got) == norm(want)
}

// ValidateClaims checks the registered claims of a verified payload: iss
// equal to expectedIssuer, aud containing expectedAudience, exp present
// and not passed, nbf and iat not in the future, and exp after iat
// (SECURITY.md T30/T31), each with leeway. Both expectations are required:
// an empty one would silently skip the check.
func ValidateClaims(payload []byte, expectedIssuer, expectedAudience string, now time.Time, leeway time.Duration) (jwt.Claims, error) {
	if expectedIssuer == "" || expectedAudience == "" {
		return jwt.Claims{}, errors.New("signing: ValidateClaims needs an issuer and an audience")
	}
	var c jwt.Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return jwt.Claims{}, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	if c.Expiry == nil {
		return jwt.Claims{}, fmt.Errorf("%w: no exp", ErrInvalidToken)
	}
	if c.IssuedAt != nil && !c.Expiry.Time().After(c.IssuedAt.Time()) {
		return jwt.Claims{}, fmt.Errorf("%w: exp not after iat", ErrInvalidToken)
	}
	err := c.ValidateWithLeeway(jwt.Expected{
		Issuer:      expectedIssuer,
		AnyAudience: jwt.Audience{expectedAudience},
		Time:        now,
	}, leeway)
	if err != nil {
		return jwt.Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return c, nil
}

// Rotate creates a new key for alg, published at once, and schedules the
// retirement of the current one PublishDelay from now: until then the old
// key keeps signing, so that every verifier has fetched the new key before
// it meets a token signed with it. The old key stays published for
// MaxTokenLifetime after it retires, plus RefreshInterval for instances
// that sign with it until they reload, so the tokens it signed keep
// verifying. The returned key has no SealedKey.
func (kr *Keyring) Rotate(ctx context.Context, alg string) (store.SigningKey, error) {
	if err := checkAlg(alg); err != nil {
		return store.SigningKey{}, err
	}
	k, err := kr.generate(alg)
	if err != nil {
		return store.SigningKey{}, err
	}
	retire := k.CreatedAt.Add(kr.opts.PublishDelay)
	until := retire.Add(kr.opts.MaxTokenLifetime + kr.opts.RefreshInterval)
	if err := kr.st.RotateSigningKey(ctx, k, retire, until); err != nil {
		return store.SigningKey{}, fmt.Errorf("signing: rotate %s: %w", alg, err)
	}
	kr.invalidate()
	k.SealedKey = nil
	return k, nil
}

// KeyInfo is the public metadata of a key, for `tolk keys list`.
type KeyInfo struct {
	KID     string    `json:"kid"`
	Alg     string    `json:"alg"`
	Created time.Time `json:"created"`
	// SignsFrom is when the key starts (or started) signing: when every
	// key of its alg that retires before it has retired.
	SignsFrom time.Time `json:"signs_from"`
	// Retired is when it stops (or stopped) signing; zero until the next
	// rotation.
	Retired     time.Time `json:"retired,omitzero"`
	PublishedTo time.Time `json:"published_to,omitzero"`
	// Active: the newest key of its alg, the one that signs once
	// SignsFrom has passed.
	Active bool `json:"active"`
	// Signing: the key that signs its alg now.
	Signing   bool `json:"signing"`
	Published bool `json:"published"`
}

// Keys lists every stored key, newest first, read from the store (not the
// cache) so the CLI shows the current state.
func (kr *Keyring) Keys(ctx context.Context) ([]KeyInfo, error) {
	list, err := kr.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signing: list keys: %w", err)
	}
	now := kr.opts.Now()
	// In the order they retire, as signer picks them: each signs from the
	// retirement of the one before it.
	order := make([]int, len(list))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return compareRetirement(list[a], list[b]) })
	out := make([]KeyInfo, len(list))
	lastRetired := map[string]time.Time{} // alg → RetiredAt of the key before
	signing := map[string]bool{}          // alg → its signing key is found
	for _, i := range order {
		sk := list[i]
		active := sk.RetiredAt.IsZero()
		from := sk.CreatedAt
		if r := lastRetired[sk.Alg]; r.After(from) {
			from = r
		}
		lastRetired[sk.Alg] = sk.RetiredAt
		signs := !signing[sk.Alg] && (active || now.Before(sk.RetiredAt))
		signing[sk.Alg] = signing[sk.Alg] || signs
		out[i] = KeyInfo{
			KID:         sk.KID,
			Alg:         sk.Alg,
			Created:     sk.CreatedAt,
			SignsFrom:   from,
			Retired:     sk.RetiredAt,
			PublishedTo: sk.PublishedTo,
			Active:      active,
			Signing:     signs,
			// Only the JWT keys are ever in the JWKS; the access token
			// sealing key (accesstoken) is listed, never published.
			Published: checkAlg(sk.Alg) == nil && (active || sk.PublishedTo.After(now)),
		}
	}
	return out, nil
}

// Prune deletes retired keys that are no longer published and returns how
// many were deleted. The retention sweeper calls it every sweep; the
// cached keys are reloaded only when it deleted one.
func (kr *Keyring) Prune(ctx context.Context) (int, error) {
	n, err := kr.st.DeleteUnpublishedKeys(ctx, kr.opts.Now().UTC())
	if err != nil {
		return 0, fmt.Errorf("signing: prune: %w", err)
	}
	if n > 0 {
		kr.invalidate()
	}
	return n, nil
}
