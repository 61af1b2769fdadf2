package signing

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// fakeStore is an in-memory store.SigningKeys with the semantics the
// interface documents, plus a count of list calls so tests can see when the
// Keyring goes to the database.
type fakeStore struct {
	mu    sync.Mutex
	keys  []store.SigningKey // oldest first
	lists int
}

var _ store.SigningKeys = (*fakeStore)(nil)

func cloneKey(k store.SigningKey) store.SigningKey {
	k.SealedKey = bytes.Clone(k.SealedKey)
	k.PublicKey = bytes.Clone(k.PublicKey)
	return k
}

func (f *fakeStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	out := make([]store.SigningKey, 0, len(f.keys))
	for _, k := range slices.Backward(f.keys) {
		out = append(out, cloneKey(k))
	}
	// As the SQL backends order: newest first, ties (keys created at one
	// instant) by kid, so insertion order cannot be relied on.
	slices.SortStableFunc(out, func(a, b store.SigningKey) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.KID, b.KID)
	})
	return out, nil
}

func (f *fakeStore) listCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

func (f *fakeStore) EnsureSigningKey(ctx context.Context, k store.SigningKey) (store.SigningKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, have := range slices.Backward(f.keys) {
		if have.Alg == k.Alg && have.RetiredAt.IsZero() {
			return cloneKey(have), nil
		}
	}
	f.keys = append(f.keys, cloneKey(k))
	return cloneKey(k), nil
}

func (f *fakeStore) RotateSigningKey(ctx context.Context, k store.SigningKey, at, publishUntil time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.keys {
		if f.keys[i].Alg == k.Alg && f.keys[i].RetiredAt.IsZero() {
			f.keys[i].RetiredAt = at
			f.keys[i].PublishedTo = publishUntil
		}
	}
	f.keys = append(f.keys, cloneKey(k))
	return nil
}

func (f *fakeStore) DeleteUnpublishedKeys(ctx context.Context, t time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.keys)
	f.keys = slices.DeleteFunc(f.keys, func(k store.SigningKey) bool {
		return !k.RetiredAt.IsZero() && k.PublishedTo.Before(t)
	})
	return n - len(f.keys), nil
}

// fakeClock is a settable clock shared by several Keyrings.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
