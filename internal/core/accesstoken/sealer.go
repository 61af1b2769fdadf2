package accesstoken

import (
	"cmp"
	"context"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/tolk-project/tolk/internal/kit/seal"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// Alg names the sealing keys among the signing keys they are stored with
// (store.SigningKeys): XChaCha20-Poly1305, whose 192-bit random nonces
// need no counter shared between instances, whatever the number of
// tokens a key seals. The JWT keyring ignores rows of an algorithm it does
// not sign with, so these are never published in the JWKS.
const Alg = "XC20P"

// kidLen is the length of a key id in a token; the store holds it in hex.
const kidLen = 8

const (
	headerLen = 1 + kidLen + chacha20poly1305.NonceSizeX
	sealV1    = 1
)

// ErrInvalid is every failure to open a token: wrong shape, unknown key,
// tampering. It says no more, so a forger learns nothing from it.
var ErrInvalid = errors.New("accesstoken: invalid token")

// Options tune a Sealer. Zero values mean the defaults.
type Options struct {
	Now func() time.Time // default time.Now
	Gen secret.Generator
	// RefreshInterval bounds how stale the cached keys may get, so that a
	// rotation on another instance is seen within it. Default 5 s.
	RefreshInterval time.Duration
	// MaxTokenLifetime is how long a retired key still opens tokens: the
	// longest access token lifetime. Default 24 h.
	MaxTokenLifetime time.Duration
}

// Sealer seals and opens access tokens with the keys in the store, each
// sealed at rest under the server's secret key like the signing keys. It
// is safe for concurrent use.
type Sealer struct {
	st   store.SigningKeys
	seal *seal.Sealer
	opts Options

	cache    atomic.Pointer[keys]
	reloadMu sync.Mutex
	// lastUnknown is when an unknown key id last forced a reload (under
	// reloadMu): random key ids must not turn every request into a query.
	lastUnknown time.Time
}

// keys is one load of the store; immutable once published.
type keys struct {
	loadedAt time.Time
	byKID    map[[kidLen]byte]cipher.AEAD
	sealers  []sealingKey // unretired, in the order they retire
}

// sealer is the key that seals at now: the first not yet retired.
func (ks *keys) sealer(now time.Time) *sealingKey {
	for i := range ks.sealers {
		if sk := &ks.sealers[i]; sk.retiredAt.IsZero() || now.Before(sk.retiredAt) {
			return sk
		}
	}
	return nil
}

type sealingKey struct {
	kid       [kidLen]byte
	aead      cipher.AEAD
	retiredAt time.Time // zero: active
}

// New returns a Sealer over the keys in st, opened with s.
func New(st store.SigningKeys, s *seal.Sealer, opts Options) *Sealer {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 5 * time.Second
	}
	if opts.MaxTokenLifetime <= 0 {
		opts.MaxTokenLifetime = 24 * time.Hour
	}
	return &Sealer{st: st, seal: s, opts: opts}
}

func sealAD(kid string) []byte { return []byte("tolk access token key\x00" + kid) }

// generate makes a new key row; its secret is sealed at rest.
func (s *Sealer) generate() (store.SigningKey, error) {
	var kid [kidLen]byte
	k := make([]byte, chacha20poly1305.KeySize)
	if err := s.opts.Gen.Fill(kid[:]); err != nil {
		return store.SigningKey{}, err
	}
	if err := s.opts.Gen.Fill(k); err != nil {
		return store.SigningKey{}, err
	}
	id := hex.EncodeToString(kid[:])
	sealed, err := s.seal.Seal(k, sealAD(id))
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.SigningKey{KID: id, Alg: Alg, SealedKey: sealed, PublicKey: []byte{}, CreatedAt: s.opts.Now().UTC()}, nil
}

// Ensure makes sure there is an active sealing key (several instances
// starting at once agree on one).
func (s *Sealer) Ensure(ctx context.Context) error {
	k, err := s.generate()
	if err != nil {
		return err
	}
	if _, err := s.st.EnsureSigningKey(ctx, k); err != nil {
		return fmt.Errorf("accesstoken: ensure key: %w", err)
	}
	s.cache.Store(nil)
	return nil
}

// Rotate makes a new sealing key. The old one keeps sealing for one
// RefreshInterval, so every instance has loaded the new key before it
// meets a token sealed with it, and opens tokens for MaxTokenLifetime
// after that. It returns the new key's id.
func (s *Sealer) Rotate(ctx context.Context) (string, error) {
	k, err := s.generate()
	if err != nil {
		return "", err
	}
	retire := k.CreatedAt.Add(s.opts.RefreshInterval)
	until := retire.Add(s.opts.MaxTokenLifetime + s.opts.RefreshInterval)
	if err := s.st.RotateSigningKey(ctx, k, retire, until); err != nil {
		return "", fmt.Errorf("accesstoken: rotate key: %w", err)
	}
	s.cache.Store(nil)
	return k.KID, nil
}

func (s *Sealer) current(ctx context.Context) (*keys, error) {
	if ks := s.cache.Load(); ks != nil && s.opts.Now().Sub(ks.loadedAt) < s.opts.RefreshInterval {
		return ks, nil
	}
	return s.reload(ctx, s.opts.RefreshInterval)
}

// reload loads the keys unless the cached ones are younger than maxAge (0
// forces a load); goroutines queued behind a reload reuse its result.
func (s *Sealer) reload(ctx context.Context, maxAge time.Duration) (*keys, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloadLocked(ctx, maxAge)
}

// reloadLocked is reload with reloadMu held.
func (s *Sealer) reloadLocked(ctx context.Context, maxAge time.Duration) (*keys, error) {
	now := s.opts.Now()
	if ks := s.cache.Load(); ks != nil && now.Sub(ks.loadedAt) < maxAge {
		return ks, nil
	}
	list, err := s.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("accesstoken: load keys: %w", err)
	}
	ks := &keys{loadedAt: now, byKID: map[[kidLen]byte]cipher.AEAD{}}
	for _, sk := range list {
		if sk.Alg != Alg {
			continue
		}
		if !sk.PublishedTo.IsZero() && !now.Before(sk.PublishedTo) {
			continue // past its last token's expiry
		}
		var kid [kidLen]byte
		if n, err := hex.Decode(kid[:], []byte(sk.KID)); err != nil || n != kidLen {
			return nil, fmt.Errorf("accesstoken: key %q: malformed id", sk.KID)
		}
		raw, err := s.seal.Open(sk.SealedKey, sealAD(sk.KID))
		if err != nil {
			return nil, fmt.Errorf("accesstoken: key %s: open (wrong secret key?): %w", sk.KID, err)
		}
		aead, err := chacha20poly1305.NewX(raw)
		if err != nil {
			return nil, fmt.Errorf("accesstoken: key %s: %w", sk.KID, err)
		}
		ks.byKID[kid] = aead
		if sk.RetiredAt.IsZero() || now.Before(sk.RetiredAt) {
			ks.sealers = append(ks.sealers, sealingKey{kid: kid, aead: aead, retiredAt: sk.RetiredAt})
		}
	}
	// The key that retires first seals until it does; the active one
	// (no retirement) comes last.
	slices.SortStableFunc(ks.sealers, func(a, b sealingKey) int {
		switch {
		case a.retiredAt.IsZero() && b.retiredAt.IsZero():
			return 0
		case a.retiredAt.IsZero():
			return 1
		case b.retiredAt.IsZero():
			return -1
		}
		return a.retiredAt.Compare(b.retiredAt)
	})
	s.cache.Store(ks)
	return ks, nil
}

// unknownKey looks for a key id the cache does not hold: a key another
// instance just made. Requests that meet it together wait for one reload
// and all use it; a reload for an unknown id happens at most once a
// second, so that made-up key ids cannot turn requests into queries.
func (s *Sealer) unknownKey(ctx context.Context, kid [kidLen]byte) (cipher.AEAD, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if ks := s.cache.Load(); ks != nil {
		if aead, ok := ks.byKID[kid]; ok { // loaded while we waited
			return aead, nil
		}
	}
	now := s.opts.Now()
	if last := s.lastUnknown; !last.IsZero() && now.Sub(last) < time.Second && now.Sub(last) >= 0 {
		return nil, nil
	}
	s.lastUnknown = now
	ks, err := s.reloadLocked(ctx, 0)
	if err != nil {
		return nil, err
	}
	return ks.byKID[kid], nil
}

// b64 is the token body's alphabet: URL-safe, so a token needs no escaping
// in a header, a query or a form. Strict, and without line breaks (which
// even a strict decoder skips; Open refuses them), so that one token has
// one spelling: caches keyed by the string cannot be filled with copies.
var b64 = base64.RawURLEncoding.Strict()

// Seal returns the token that carries c.
func (s *Sealer) Seal(ctx context.Context, c *Claims) (string, error) {
	ks, err := s.current(ctx)
	if err != nil {
		return "", err
	}
	k := ks.sealer(s.opts.Now())
	if k == nil {
		// No key yet (a store that Ensure never saw, or every key
		// retired): make one, as every instance agrees on it.
		if err := s.Ensure(ctx); err != nil {
			return "", err
		}
		if ks, err = s.reload(ctx, 0); err != nil {
			return "", err
		}
		if k = ks.sealer(s.opts.Now()); k == nil {
			return "", errors.New("accesstoken: no sealing key")
		}
	}
	var buf [512]byte
	msg := append(buf[:0], sealV1)
	msg = append(msg, k.kid[:]...)
	msg = msg[:headerLen]
	if err := s.opts.Gen.Fill(msg[1+kidLen : headerLen]); err != nil {
		return "", err
	}
	plain, err := appendClaims(msg[headerLen:headerLen], c)
	if err != nil {
		return "", err
	}
	if len(plain) > maxClaimLen {
		return "", errors.New("accesstoken: claims too large to open again")
	}
	// The header is the associated data: the key id and version cannot be
	// swapped without the tag failing.
	sealed := k.aead.Seal(msg[:headerLen], msg[1+kidLen:headerLen], plain, msg[:headerLen])
	return secret.WithChecksum(secret.PrefixAccessToken, b64.EncodeToString(sealed)), nil
}

// Looks reports whether tok has the shape of a sealed token (prefix and
// checksum), without opening it.
func Looks(tok string) bool {
	body, ok := secret.CheckChecksum(secret.PrefixAccessToken, tok)
	return ok && len(body) >= b64.EncodedLen(headerLen+chacha20poly1305.Overhead+1+IDLen)
}

// Open returns the claims tok carries, whatever its expiry (callers check
// it), or ErrInvalid.
func (s *Sealer) Open(ctx context.Context, tok string) (Claims, error) {
	body, ok := secret.CheckChecksum(secret.PrefixAccessToken, tok)
	if !ok || len(body) > b64.EncodedLen(headerLen+maxClaimLen+chacha20poly1305.Overhead) || strings.ContainsAny(body, "\r\n") {
		return Claims{}, ErrInvalid
	}
	var buf [512]byte
	raw, err := b64.AppendDecode(buf[:0], []byte(body))
	if err != nil || len(raw) < headerLen+chacha20poly1305.Overhead || raw[0] != sealV1 {
		return Claims{}, ErrInvalid
	}
	var kid [kidLen]byte
	copy(kid[:], raw[1:1+kidLen])
	ks, err := s.current(ctx)
	if err != nil {
		return Claims{}, err
	}
	aead, ok := ks.byKID[kid]
	if !ok {
		if aead, err = s.unknownKey(ctx, kid); err != nil || aead == nil {
			return Claims{}, cmp.Or(err, ErrInvalid)
		}
	}
	plain, err := aead.Open(raw[headerLen:headerLen], raw[1+kidLen:headerLen], raw[headerLen:], raw[:headerLen])
	if err != nil {
		return Claims{}, ErrInvalid
	}
	c, err := parseClaims(plain)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	return c, nil
}
