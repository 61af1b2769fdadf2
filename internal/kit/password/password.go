// Package password hashes and verifies passwords with argon2id, encoded as
// PHC strings. Hashing is memory-hard on purpose, so it runs on a bounded
// pool of workers: a flood of logins queues instead of exhausting memory.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// OWASP is the OWASP Password Storage Cheat Sheet's argon2id
// recommendation: m=19 MiB, t=2, p=1.
var OWASP = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrMismatch is returned when a password does not match its hash.
var ErrMismatch = errors.New("password: mismatch")

// ErrMalformed is returned for a hash that is not an argon2id PHC string.
var ErrMalformed = errors.New("password: malformed hash")

// Hasher hashes and verifies passwords with at most Workers computations at
// a time.
type Hasher struct {
	params Params
	rand   io.Reader
	slots  chan struct{}
	dummy  string
	runs   atomic.Int64
}

// NewHasher returns a Hasher. workers <= 0 means GOMAXPROCS. rnd nil means
// crypto/rand.
func NewHasher(p Params, workers int, rnd io.Reader) *Hasher {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	h := &Hasher{params: p, rand: rnd, slots: make(chan struct{}, workers)}
	// A hash of nothing in particular, verified when the user is unknown so
	// that an unknown user costs the same time as a wrong password.
	h.dummy = h.encode(make([]byte, p.SaltLen), argon2.IDKey([]byte("tolk-dummy"), make([]byte, p.SaltLen), p.Time, p.Memory, p.Threads, p.KeyLen), p)
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of pw under the current parameters.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	h.runs.Add(1)
	key := argon2.IDKey([]byte(pw), salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	return h.encode(salt, key, h.params), nil
}

func (h *Hasher) encode(salt, key []byte, p Params) string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// Verify checks pw against a PHC hash. It returns nil on a match, and
// reports whether the hash should be recomputed under the current
// parameters (needsRehash).
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (needsRehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	h.runs.Add(1)
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, ErrMismatch
	}
	cur := h.params
	return p.Memory != cur.Memory || p.Time != cur.Time || p.Threads != cur.Threads ||
		uint32(len(salt)) != cur.SaltLen || uint32(len(key)) != cur.KeyLen, nil
}

// Runs counts argon2id computations (hashes and verifications) so far.
func (h *Hasher) Runs() int64 { return h.runs.Load() }

// VerifyDummy spends the time of one Verify and always fails; call it when
// the user does not exist.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	_, err := h.Verify(ctx, pw, h.dummy)
	if err == nil {
		return ErrMismatch
	}
	if errors.Is(err, ErrMismatch) {
		return ErrMismatch
	}
	return err
}

// decode parses $argon2id$v=19$m=..,t=..,p=..$salt$key.
func decode(s string) (Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Params{}, nil, nil, ErrMalformed
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Params{}, nil, nil, ErrMalformed
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return Params{}, nil, nil, ErrMalformed
			}
			p.Threads = uint8(n)
		default:
			return Params{}, nil, nil, ErrMalformed
		}
	}
	// Bounds keep a tampered hash from making us allocate without limit.
	if p.Memory == 0 || p.Memory > 1<<21 || p.Time == 0 || p.Time > 64 || p.Threads == 0 {
		return Params{}, nil, nil, ErrMalformed
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformed
	}
	key, err := enc.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
