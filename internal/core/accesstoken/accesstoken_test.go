package accesstoken

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/signing"
	"github.com/tolk-project/tolk/internal/kit/seal"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/storeopen"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// openStore opens a real SQLite store, migrated.
func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := storeopen.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "tolk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

func newSealer(t *testing.T, st store.SigningKeys, clk *clock, secretKey string) *Sealer {
	t.Helper()
	sl, err := seal.New([]byte(strings.Repeat(secretKey, 32)[:32]))
	if err != nil {
		t.Fatal(err)
	}
	return New(st, sl, Options{Now: clk.Now, RefreshInterval: 5 * time.Second, MaxTokenLifetime: time.Hour})
}

func sampleClaims(now time.Time) *Claims {
	var g secret.Generator
	grant, _ := g.StampedHex(now.Add(-time.Minute), 12)
	c := &Claims{
		ClientID: "app_7Yx", UserUID: "0b6a1c52-6f0e-4d3c-9a1e-2f7c8d9e0a1b", OrgUID: "7f3e2d1c-0b9a-4877-a665-544332211000",
		GrantID: grant, Scopes: []string{"openid", "read", ""}, Audiences: []string{"tms"},
		AuthTime: now.Add(-time.Hour).Truncate(time.Millisecond), IssuedAt: now.Truncate(time.Millisecond),
		ExpiresAt: now.Add(time.Hour).Truncate(time.Millisecond),
	}
	_ = g.Fill(c.ID[:])
	return c
}

func TestSealOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	s := newSealer(t, st, clk, "k")
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Claims{
		sampleClaims(clk.Now()),
		{ClientID: "cc-bot", OrgUID: "not-a-uuid", GrantID: "0192a3b4c5d6e7f8", IssuedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Minute)},
	} {
		tok, err := s.Seal(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, secret.PrefixAccessToken) || !Looks(tok) {
			t.Fatalf("token %q lacks the prefix or checksum", tok)
		}
		if strings.Contains(tok, c.ClientID) || strings.Contains(tok, "openid") {
			t.Fatalf("token %q shows its claims", tok)
		}
		got, err := s.Open(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		want := *c
		want.IssuedAt, want.ExpiresAt = c.IssuedAt.Truncate(time.Millisecond), c.ExpiresAt.Truncate(time.Millisecond)
		if !reflect.DeepEqual(normal(got), normal(want)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
		// Two tokens of the same claims differ (random nonce).
		tok2, _ := s.Seal(ctx, c)
		if tok2 == tok {
			t.Fatal("two seals of the same claims are equal")
		}
	}
}

// normal makes times comparable with DeepEqual.
func normal(c Claims) Claims {
	for _, p := range []*time.Time{&c.AuthTime, &c.IssuedAt, &c.ExpiresAt} {
		if !p.IsZero() {
			*p = time.UnixMilli(p.UnixMilli())
		}
	}
	return c
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	s := newSealer(t, st, clk, "k")
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Seal(ctx, sampleClaims(clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := secret.CheckChecksum(secret.PrefixAccessToken, tok)
	raw, _ := b64.DecodeString(body)
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return secret.WithChecksum(secret.PrefixAccessToken, b64.EncodeToString(b))
	}
	// Another deployment (another secret key, so other sealing keys).
	other := newSealer(t, openStore(t), clk, "z")
	if err := other.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Seal(ctx, sampleClaims(clk.Now()))
	var g secret.Generator
	old, _ := g.StampedPrefixed(secret.PrefixAccessToken, clk.Now())
	for name, bad := range map[string]string{
		"empty":                 "",
		"bad checksum":          tok[:len(tok)-1] + map[bool]string{true: "B", false: "A"}[tok[len(tok)-1] == 'A'],
		"version flipped":       flip(0),
		"key id flipped":        flip(1),
		"nonce flipped":         flip(1 + kidLen),
		"ciphertext flipped":    flip(headerLen + 3),
		"tag flipped":           flip(len(raw) - 1),
		"truncated":             secret.WithChecksum(secret.PrefixAccessToken, b64.EncodeToString(raw[:len(raw)-1])),
		"another deployment":    foreign,
		"refresh token prefix":  secret.WithChecksum(secret.PrefixRefreshToken, body),
		"not base64":            secret.WithChecksum(secret.PrefixAccessToken, body[:10]+"*"+body[11:]),
		"random stamped secret": old,
		"line break":            secret.WithChecksum(secret.PrefixAccessToken, body[:20]+"\n"+body[20:]),
	} {
		if _, err := s.Open(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Open = %v, want ErrInvalid", name, err)
		}
	}
}

// TestRotation: after a rotation the old key seals until it retires and
// opens its tokens until their lifetime has passed; another instance sees
// the new key when it meets a token sealed with it, before its cache would
// have reloaded.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	a := newSealer(t, st, clk, "k")
	b := newSealer(t, st, clk, "k")
	if err := a.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := a.Seal(ctx, sampleClaims(clk.Now()))
	if _, err := b.Open(ctx, before); err != nil {
		t.Fatalf("b opens a's token: %v", err)
	}
	kid := func(tok string) string {
		body, _ := secret.CheckChecksum(secret.PrefixAccessToken, tok)
		raw, _ := b64.DecodeString(body)
		return string(raw[1 : 1+kidLen])
	}
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	during, _ := a.Seal(ctx, sampleClaims(clk.Now()))
	if kid(during) != kid(before) {
		t.Fatal("the new key sealed before every instance could have loaded it")
	}
	clk.Advance(5 * time.Second)
	after, _ := a.Seal(ctx, sampleClaims(clk.Now()))
	if kid(after) == kid(before) {
		t.Fatal("the old key still seals after it retired")
	}
	clk.Advance(time.Second) // b's cache is 6 s old: it reloads anyway
	for _, tok := range []string{before, after} {
		if _, err := b.Open(ctx, tok); err != nil {
			t.Fatalf("b opens after rotation: %v", err)
		}
	}
	clk.Advance(time.Hour + 10*time.Second) // past the old key's last token
	if _, err := a.Open(ctx, before); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a token of a key past its lifetime opens: %v", err)
	}
	if _, err := a.Open(ctx, after); err != nil {
		t.Fatalf("the active key's token: %v", err)
	}
	// The sealing keys are sealed at rest and never look like JWKs.
	list, _ := st.ListSigningKeys(ctx)
	for _, k := range list {
		if k.Alg == Alg && (len(k.PublicKey) != 0 || len(k.SealedKey) < 32) {
			t.Fatalf("key row %+v", k)
		}
	}
}

func TestSealMakesItsFirstKey(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := newSealer(t, openStore(t), clk, "k")
	tok, err := s.Seal(context.Background(), sampleClaims(clk.Now()))
	if err != nil {
		t.Fatalf("Seal without Ensure: %v", err)
	}
	if _, err := s.Open(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

func TestKeysAndGrantTime(t *testing.T) {
	now := time.UnixMilli(1_796_000_000_123)
	c := sampleClaims(now)
	if got := c.GrantTime(); !got.Equal(now.Add(-time.Minute)) {
		t.Fatalf("GrantTime = %v", got)
	}
	k := c.Keys()
	if k.Token != store.TokenCutoffKey(c.IDString()) || k.Grant != store.GrantCutoffKey(c.GrantID) ||
		k.Client != store.ClientCutoffKey(c.ClientID) || k.User != store.UserCutoffKey(c.UserUID) ||
		k.Authorization != store.AuthorizationCutoffKey(c.UserUID, c.ClientID) {
		t.Fatalf("Keys = %+v", k)
	}
	c.UserUID = ""
	if k := c.Keys(); k.User != "" || k.Authorization != "" {
		t.Fatalf("a token without a user has user keys: %+v", k)
	}
	c.GrantID = "legacy"
	if !c.GrantTime().IsZero() {
		t.Fatal("an unstamped grant has a time")
	}
}

func FuzzParseClaims(f *testing.F) {
	c := sampleClaims(time.UnixMilli(1_796_000_000_123))
	b, _ := appendClaims(nil, c)
	f.Add(b)
	f.Add([]byte{formatV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseClaims(b)
		if err != nil {
			return
		}
		// What parses writes back to the same bytes: one encoding per
		// claim set, so nothing hides in slack.
		again, err := appendClaims(nil, &c)
		if err != nil {
			t.Fatalf("parsed claims do not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
		}
	})
}

// TestSealingKeysNeverPublished: the sealing keys live in the signing
// keys' table, but the JWT keyring neither publishes nor uses them.
func TestSealingKeysNeverPublished(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	s := newSealer(t, st, clk, "k")
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	sl, _ := seal.New([]byte(strings.Repeat("k", 32)))
	kr := signing.New(st, sl, signing.Options{Now: clk.Now})
	if err := kr.Ensure(ctx, signing.ES256); err != nil {
		t.Fatal(err)
	}
	set, err := kr.PublicJWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0].Algorithm != signing.ES256 {
		t.Fatalf("JWKS: %+v", set.Keys)
	}
	list, _ := st.ListSigningKeys(ctx)
	for _, k := range list {
		for _, jwk := range set.Keys {
			if k.Alg == Alg && jwk.KeyID == k.KID {
				t.Fatalf("the sealing key %s is published", k.KID)
			}
		}
	}
}

// TestOneSpellingPerToken: a token whose base64 length leaves unused
// bits in its last character does not open with other bits there, so a
// token has one spelling (caches are keyed by the string).
func TestOneSpellingPerToken(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	s := newSealer(t, openStore(t), clk, "k")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	tried := 0
	for n := range 3 {
		c := sampleClaims(clk.Now())
		c.ClientID += strings.Repeat("x", n) // three lengths: two leave unused bits
		tok, err := s.Seal(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := secret.CheckChecksum(secret.PrefixAccessToken, tok)
		if len(body)%4 == 0 {
			continue
		}
		tried++
		last := strings.IndexByte(alphabet, body[len(body)-1])
		respelled := secret.WithChecksum(secret.PrefixAccessToken, body[:len(body)-1]+string(alphabet[last^1]))
		if _, err := s.Open(ctx, respelled); !errors.Is(err, ErrInvalid) {
			t.Errorf("the token with other unused bits opens: %v", err)
		}
	}
	if tried == 0 {
		t.Fatal("no token length left unused bits: the test checked nothing")
	}
}

// TestUnknownKeyReloadedOnceForAll: requests that meet a key this
// instance has not loaded yet, together, all open their tokens after one
// reload, instead of one reloading and the others refused.
func TestUnknownKeyReloadedOnceForAll(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	sl, _ := seal.New([]byte(strings.Repeat("k", 32)))
	a := New(st, sl, Options{Now: clk.Now, RefreshInterval: time.Millisecond, MaxTokenLifetime: time.Hour})
	counted := &countingKeys{SigningKeys: st}
	b := New(counted, sl, Options{Now: clk.Now, RefreshInterval: time.Hour, MaxTokenLifetime: time.Hour})
	if err := a.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := a.Seal(ctx, sampleClaims(clk.Now()))
	if _, err := b.Open(ctx, first); err != nil { // b's cache: the first key only, for an hour
		t.Fatal(err)
	}
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Millisecond)
	tok, err := a.Seal(ctx, sampleClaims(clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() { _, errs[i] = b.Open(ctx, tok) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if n := counted.lists.Load(); n != 2 {
		t.Errorf("%d loads of the keys, want 2 (the first, and one for the new key)", n)
	}
	// Made-up key ids right after: no reload within the second.
	body, _ := secret.CheckChecksum(secret.PrefixAccessToken, tok)
	raw, _ := b64.DecodeString(body)
	raw[1] ^= 0xff
	forged := secret.WithChecksum(secret.PrefixAccessToken, b64.EncodeToString(raw))
	for range 5 {
		if _, err := b.Open(ctx, forged); !errors.Is(err, ErrInvalid) {
			t.Fatalf("forged key id: %v", err)
		}
	}
	if n := counted.lists.Load(); n != 2 {
		t.Errorf("made-up key ids caused %d more loads within a second of the last", n-2)
	}
}

// countingKeys counts the loads of the keys.
type countingKeys struct {
	store.SigningKeys
	lists atomic.Int64
}

func (c *countingKeys) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	c.lists.Add(1)
	return c.SigningKeys.ListSigningKeys(ctx)
}

func TestSealRefusesClaimsTooLargeToOpen(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := newSealer(t, openStore(t), clk, "k")
	c := sampleClaims(clk.Now())
	for range 60 {
		c.Audiences = append(c.Audiences, strings.Repeat("a", 300))
	}
	if tok, err := s.Seal(context.Background(), c); err == nil {
		t.Fatalf("sealed %d characters that Open refuses", len(tok))
	}
}
