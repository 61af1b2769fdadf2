// Package secret makes and checks opaque credentials: random values from a
// CSPRNG in the format each dialect's clients expect, stored only as their
// SHA-256, compared in constant time.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
)

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Generator makes secrets from a random source. The zero value uses
// crypto/rand; tests may inject another reader.
type Generator struct {
	Rand io.Reader
}

func (g Generator) reader() io.Reader {
	if g.Rand != nil {
		return g.Rand
	}
	return rand.Reader
}

// Alphanumeric returns n characters of [A-Za-z0-9], chosen without modulo
// bias by rejection sampling. 64 characters carry ~381 bits.
func (g Generator) Alphanumeric(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	// 248 is the largest multiple of 62 below 256: bytes >= 248 are
	// rejected so every character is equally likely.
	const limit = 256 - 256%len(alphanumerics)
	for len(out) < n {
		if _, err := io.ReadFull(g.reader(), buf); err != nil {
			return "", fmt.Errorf("secret: reading randomness: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, alphanumerics[int(b)%len(alphanumerics)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}

// Hex returns nbytes random bytes in lowercase hex.
func (g Generator) Hex(nbytes int) (string, error) {
	b := make([]byte, nbytes)
	if _, err := io.ReadFull(g.reader(), b); err != nil {
		return "", fmt.Errorf("secret: reading randomness: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// APIToken returns a new TMS ApiToken: 64 characters [A-Za-z0-9] (TMS
// clients check that shape).
func (g Generator) APIToken() (string, error) { return g.Alphanumeric(64) }

// Hash returns the hex SHA-256 of a secret: the only form in which secrets
// are stored. A fast hash is right here because the secrets carry >= 256
// bits of entropy; a slow KDF would only slow the hot path down.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Equal compares two secrets in constant time (for their length).
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Fill fills b with random bytes.
func (g Generator) Fill(b []byte) error {
	if _, err := io.ReadFull(g.reader(), b); err != nil {
		return fmt.Errorf("secret: reading randomness: %w", err)
	}
	return nil
}
