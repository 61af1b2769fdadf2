package twofactor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tolk-project/tolk/internal/kit/seal"
	"github.com/tolk-project/tolk/internal/store"
)

// memStore is just enough of store.TwoFactors for the unit tests; the
// real backends are proven by storetest.
type memStore struct {
	store.TwoFactors
	tf map[string]store.TwoFactor
}

func (m *memStore) GetTwoFactor(_ context.Context, uid string) (store.TwoFactor, error) {
	t, ok := m.tf[uid]
	if !ok {
		return t, store.ErrNotFound
	}
	return t, nil
}

func (m *memStore) BeginTwoFactor(_ context.Context, t store.TwoFactor) error {
	m.tf[t.UserUID] = t
	return nil
}

func newService(t *testing.T, now time.Time) (*Service, *memStore) {
	t.Helper()
	sl, err := seal.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	m := &memStore{tf: map[string]store.TwoFactor{}}
	return &Service{Store: m, Sealer: sl, Now: func() time.Time { return now }}, m
}

// TestSealedSecretBoundToUser: a sealed secret copied to another user's
// row does not open there (the associated data names the user).
func TestSealedSecretBoundToUser(t *testing.T) {
	s, m := newService(t, time.Unix(1_800_000_000, 0))
	ctx := context.Background()
	a := store.User{UID: "uid-a", UserName: "a"}
	if _, err := s.BeginEnrolment(ctx, a); err != nil {
		t.Fatal(err)
	}
	row := m.tf["uid-a"]
	row.UserUID = "uid-b"
	m.tf["uid-b"] = row
	if _, err := s.BeginEnrolment(ctx, store.User{UID: "uid-b", UserName: "b"}); err == nil || !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("opening a's secret as b: err = %v, want seal.ErrOpen", err)
	}
}

// TestMatchStep pins the window and the 160-bit secret length against
// pquerna/otp's own generator.
func TestMatchStep(t *testing.T) {
	now := time.Unix(1_800_000_015, 0)
	s, _ := newService(t, now)
	e, err := s.BeginEnrolment(context.Background(), store.User{UID: "u", UserName: "u"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b32.DecodeString(e.Secret)
	if err != nil || len(raw) != SecretBytes {
		t.Fatalf("secret %q: %d bytes, %v", e.Secret, len(raw), err)
	}
	for _, c := range []struct {
		offset int
		ok     bool
	}{{-3, false}, {-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}} {
		code, _ := totp.GenerateCodeCustom(e.Secret, now.Add(time.Duration(c.offset)*30*time.Second),
			totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		st, ok := matchStep(raw, code, now)
		if ok != c.ok || ok && st != Step(now)+int64(c.offset) {
			t.Errorf("offset %+d: step %d, %v; want %v", c.offset, st, ok, c.ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef", "12 34 5"} {
		if _, ok := matchStep(raw, normalizeTOTP(bad), now); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRecoveryCodeNormalization(t *testing.T) {
	s, _ := newService(t, time.Now())
	c, err := s.newRecoveryCode()
	if err != nil {
		t.Fatal(err)
	}
	for _, typed := range []string{c, " " + c + " ", strings.ToUpper(c), strings.ReplaceAll(c, "-", " ")} {
		if recoveryHash("u", typed) != recoveryHash("u", c) {
			t.Errorf("%q and %q hash differently", typed, c)
		}
	}
	other, _ := s.newRecoveryCode()
	if recoveryHash("u", other) == recoveryHash("u", c) {
		t.Error("two recovery codes hash alike")
	}
	if recoveryHash("u1", c) == recoveryHash("u2", c) {
		t.Error("recovery code hash does not depend on the user")
	}
	if _, ok := normalizeRecovery("not-a-code"); ok {
		t.Error("garbage accepted as a recovery code")
	}
}
