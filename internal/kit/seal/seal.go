// Package seal encrypts small secrets at rest: signing private keys, and
// later TOTP seeds (SECURITY.md T34). A stolen database dump or backup then
// holds only ciphertext; the key lives outside the database, in a file only
// the server can read (see LoadOrCreateKeyFile) or in the environment.
//
// Format of a sealed value:
//
//	version (1 byte, 0x01) || nonce (12 bytes) || AES-256-GCM ciphertext+tag
//
// The version byte lets a later release change the algorithm or key
// derivation without guessing what an old value is.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

const (
	version1 = 0x01
	// hkdfInfo separates this use of the secret from any other key that
	// might one day be derived from the same secret.
	hkdfInfo = "tolk seal v1"
	// MinSecretLen is the shortest secret New accepts: 256 bits, so the
	// derived AES-256 key is not weaker than its name.
	MinSecretLen = 32
	nonceLen     = 12
)

// ErrOpen is returned by Open for anything that is not a value sealed by
// this key with this associated data. It deliberately does not say which
// check failed: wrong key, wrong AD and tampering look the same.
var ErrOpen = errors.New("seal: cannot open sealed value (wrong key, wrong associated data, or corrupted)")

// Sealer seals and opens values with one key. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// New derives the AES-256-GCM key from secret with HKDF-SHA-256. The
// secret must be at least MinSecretLen bytes of high-entropy material
// (a random key, not a passphrase: HKDF does no stretching).
func New(secret []byte) (*Sealer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("seal: secret is %d bytes; need at least %d", len(secret), MinSecretLen)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("seal: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext. associatedData is authenticated but not stored:
// Open needs the same bytes. Callers bind a sealed value to where it lives
// (e.g. the key id of a signing key) so a value copied to another row does
// not open there.
//
// Random 96-bit nonces are safe for far more values than tolk will ever
// seal under one key (the GCM bound is about 2^32 messages).
func (s *Sealer) Seal(plaintext, associatedData []byte) ([]byte, error) {
	out := make([]byte, 1+nonceLen, 1+nonceLen+len(plaintext)+s.aead.Overhead())
	out[0] = version1
	if _, err := rand.Read(out[1 : 1+nonceLen]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:1+nonceLen], plaintext, associatedData), nil
}

// Open decrypts a value made by Seal with the same key and associated data.
func (s *Sealer) Open(sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) < 1+nonceLen+s.aead.Overhead() {
		return nil, ErrOpen
	}
	if sealed[0] != version1 {
		return nil, fmt.Errorf("seal: unknown format version %d", sealed[0])
	}
	pt, err := s.aead.Open(nil, sealed[1:1+nonceLen], sealed[1+nonceLen:], associatedData)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
