package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// runTwoFactor runs the suite's part for TwoFactors.
func runTwoFactor(t *testing.T, open Opener) {
	t.Run("TwoFactorEnrolment", func(t *testing.T) { t.Parallel(); testTwoFactorEnrolment(t, open) })
	t.Run("TOTPSteps", func(t *testing.T) { t.Parallel(); testTOTPSteps(t, open) })
	t.Run("RecoveryCodes", func(t *testing.T) { t.Parallel(); testRecoveryCodes(t, open) })
	t.Run("PendingLogins", func(t *testing.T) { t.Parallel(); testPendingLogins(t, open) })
	t.Run("TwoFactorConcurrency", func(t *testing.T) { t.Parallel(); testTwoFactorConcurrency(t, open) })
}

func newTwoFactor(userUID string, sealed string) store.TwoFactor {
	return store.TwoFactor{UserUID: userUID, SealedSecret: []byte(sealed), LastStep: 0, CreatedAt: base()}
}

// enabledUser makes a user with an enabled second factor whose last step
// is step and who has the given recovery code hashes.
func enabledUser(t *testing.T, s store.Store, step int64, codes ...string) store.User {
	t.Helper()
	u := mustUser(t, s, newUser(mustOrg(t, s), "tf-"+shortID()))
	if err := s.BeginTwoFactor(t.Context(), newTwoFactor(u.UID, "sealed")); err != nil {
		t.Fatalf("BeginTwoFactor: %v", err)
	}
	if err := s.EnableTwoFactor(t.Context(), u.UID, []byte("sealed"), step, at(1), codes); err != nil {
		t.Fatalf("EnableTwoFactor: %v", err)
	}
	return u
}

func testTwoFactorEnrolment(t *testing.T, open Opener) {
	parallel(t, "Lifecycle", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "tf-"+shortID()))
		if _, err := s.GetTwoFactor(ctx, u.UID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetTwoFactor before enrolment: err = %v, want ErrNotFound", err)
		}
		if err := s.BeginTwoFactor(ctx, newTwoFactor(u.UID, "first")); err != nil {
			t.Fatalf("BeginTwoFactor: %v", err)
		}
		// A second pending enrolment replaces the first.
		second := newTwoFactor(u.UID, "second\x00binary\xff")
		second.CreatedAt = at(2)
		second.EnabledAt = at(3) // ignored
		if err := s.BeginTwoFactor(ctx, second); err != nil {
			t.Fatalf("BeginTwoFactor again: %v", err)
		}
		got, err := s.GetTwoFactor(ctx, u.UID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.SealedSecret, second.SealedSecret) || got.Enabled() || !got.CreatedAt.Equal(at(2)) || got.CreatedAt.Location() != time.UTC {
			t.Fatalf("pending enrolment = %+v, want the second, not enabled, UTC", got)
		}
		cases := []struct {
			name   string
			sealed string
			want   error
		}{
			{"replaced secret", "first", store.ErrNotFound},
			{"current secret", "second\x00binary\xff", nil},
			{"already enabled", "second\x00binary\xff", store.ErrConflict},
		}
		for _, c := range cases {
			err := s.EnableTwoFactor(ctx, u.UID, []byte(c.sealed), 1234, at(5), []string{"h1", "h2"})
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("EnableTwoFactor(%s): err = %v, want %v", c.name, err, c.want)
			}
		}
		got, err = s.GetTwoFactor(ctx, u.UID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Enabled() || !got.EnabledAt.Equal(at(5)) || got.LastStep != 1234 {
			t.Fatalf("enabled = %+v, want EnabledAt %v, LastStep 1234", got, at(5))
		}
		if n, err := s.CountRecoveryCodes(ctx, u.UID); err != nil || n != 2 {
			t.Fatalf("CountRecoveryCodes = %d, %v; want 2", n, err)
		}
		if err := s.BeginTwoFactor(ctx, newTwoFactor(u.UID, "third")); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("BeginTwoFactor while enabled: err = %v, want ErrConflict", err)
		}
		if got2, _ := s.GetTwoFactor(ctx, u.UID); !bytes.Equal(got2.SealedSecret, second.SealedSecret) || !got2.Enabled() {
			t.Fatalf("a refused BeginTwoFactor changed the enrolment: %+v", got2)
		}
		if err := s.DisableTwoFactor(ctx, u.UID); err != nil {
			t.Fatalf("DisableTwoFactor: %v", err)
		}
		if _, err := s.GetTwoFactor(ctx, u.UID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetTwoFactor after disable: err = %v", err)
		}
		if n, _ := s.CountRecoveryCodes(ctx, u.UID); n != 0 {
			t.Fatalf("recovery codes after disable = %d, want 0", n)
		}
		if err := s.DisableTwoFactor(ctx, u.UID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DisableTwoFactor again: err = %v, want ErrNotFound", err)
		}
	})
	parallel(t, "EnableWithoutEnrolment", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "tf-"+shortID()))
		if err := s.EnableTwoFactor(ctx, u.UID, []byte("x"), 1, at(1), []string{"h"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("EnableTwoFactor: err = %v, want ErrNotFound", err)
		}
		if n, _ := s.CountRecoveryCodes(ctx, u.UID); n != 0 {
			t.Fatalf("a refused EnableTwoFactor stored %d recovery codes", n)
		}
	})
	parallel(t, "ReEnableReplacesRecoveryCodes", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := enabledUser(t, s, 10, "old1", "old2", "old3")
		if err := s.DisableTwoFactor(ctx, u.UID); err != nil {
			t.Fatal(err)
		}
		if err := s.BeginTwoFactor(ctx, newTwoFactor(u.UID, "again")); err != nil {
			t.Fatal(err)
		}
		if err := s.EnableTwoFactor(ctx, u.UID, []byte("again"), 20, at(9), []string{"new1"}); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.UseRecoveryCode(ctx, u.UID, "old1"); ok {
			t.Fatal("an old recovery code survived disable and re-enable")
		}
		if ok, _ := s.UseRecoveryCode(ctx, u.UID, "new1"); !ok {
			t.Fatal("the new recovery code is missing")
		}
	})
	parallel(t, "NoEnrolment", open, func(t *testing.T, ctx context.Context, s store.Store) {
		// A user without an enrolment has no step to use.
		u := mustUser(t, s, newUser(mustOrg(t, s), "tf-"+shortID()))
		if ok, err := s.UseTOTPStep(ctx, u.UID, 5); ok || err != nil {
			t.Fatalf("UseTOTPStep without enrolment = %v, %v; want false, nil", ok, err)
		}
	})
}

func testTOTPSteps(t *testing.T, open Opener) {
	parallel(t, "Sequence", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := enabledUser(t, s, 100)
		cases := []struct {
			step int64
			want bool
		}{
			{100, false}, // the confirming step is used
			{99, false},  // earlier steps never come back
			{101, true},
			{101, false}, // replay
			{103, true},  // a later step (clock skew) is fine
			{102, false}, // ...and closes the ones before it
			{104, true},
		}
		for _, c := range cases {
			ok, err := s.UseTOTPStep(ctx, u.UID, c.step)
			if err != nil || ok != c.want {
				t.Fatalf("UseTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.want)
			}
		}
		if got, _ := s.GetTwoFactor(ctx, u.UID); got.LastStep != 104 {
			t.Fatalf("LastStep = %d, want 104", got.LastStep)
		}
	})
	parallel(t, "PendingEnrolmentAcceptsNothing", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "tf-"+shortID()))
		if err := s.BeginTwoFactor(ctx, newTwoFactor(u.UID, "p")); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.UseTOTPStep(ctx, u.UID, 1<<40); ok || err != nil {
			t.Fatalf("UseTOTPStep on a pending enrolment = %v, %v; want false", ok, err)
		}
	})
	parallel(t, "PerUser", open, func(t *testing.T, ctx context.Context, s store.Store) {
		a, b := enabledUser(t, s, 1), enabledUser(t, s, 1)
		for _, u := range []store.User{a, b} {
			if ok, err := s.UseTOTPStep(ctx, u.UID, 2); !ok || err != nil {
				t.Fatalf("UseTOTPStep(%s, 2) = %v, %v; want true: steps are per user", u.UserName, ok, err)
			}
		}
	})
}

func testRecoveryCodes(t *testing.T, open Opener) {
	parallel(t, "SingleUse", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := enabledUser(t, s, 1, "c1", "c2")
		other := enabledUser(t, s, 1, "c3")
		cases := []struct {
			user, hash string
			want       bool
		}{
			{u.UID, "c1", true},
			{u.UID, "c1", false}, // used up
			{u.UID, "c3", false}, // another user's
			{other.UID, "c2", false},
			{u.UID, "nope", false},
			{u.UID, "c2", true},
		}
		for _, c := range cases {
			ok, err := s.UseRecoveryCode(ctx, c.user, c.hash)
			if err != nil || ok != c.want {
				t.Fatalf("UseRecoveryCode(%s) = %v, %v; want %v", c.hash, ok, err, c.want)
			}
		}
		if n, _ := s.CountRecoveryCodes(ctx, u.UID); n != 0 {
			t.Fatalf("CountRecoveryCodes = %d, want 0", n)
		}
		if n, _ := s.CountRecoveryCodes(ctx, other.UID); n != 1 {
			t.Fatalf("other user's CountRecoveryCodes = %d, want 1", n)
		}
	})
}

func testPendingLogins(t *testing.T, open Opener) {
	parallel(t, "Lifecycle", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "tf-"+shortID()))
		p := store.PendingLogin{Hash: hash(), UserUID: u.UID, CreatedAt: at(0), ExpiresAt: at(5)}
		if err := s.CreatePendingLogin(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := s.CreatePendingLogin(ctx, p); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CreatePendingLogin twice: err = %v, want ErrConflict", err)
		}
		got, err := s.GetPendingLogin(ctx, p.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if got != p || got.ExpiresAt.Location() != time.UTC {
			t.Fatalf("GetPendingLogin = %+v, want %+v in UTC", got, p)
		}
		if _, err := s.GetPendingLogin(ctx, hash()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown pending login: err = %v, want ErrNotFound", err)
		}
		for i, want := range []bool{true, false} {
			ok, err := s.DeletePendingLogin(ctx, p.Hash)
			if err != nil || ok != want {
				t.Fatalf("DeletePendingLogin #%d = %v, %v; want %v", i+1, ok, err, want)
			}
		}
	})
	parallel(t, "DeleteExpired", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "tf-"+shortID()))
		old := store.PendingLogin{Hash: hash(), UserUID: u.UID, CreatedAt: at(0), ExpiresAt: at(5)}
		live := store.PendingLogin{Hash: hash(), UserUID: u.UID, CreatedAt: at(0), ExpiresAt: at(10)}
		for _, p := range []store.PendingLogin{old, live} {
			if err := s.CreatePendingLogin(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		n, err := deleteExpired(ctx, s, at(7), store.ExpiredPendingLogins)
		if err != nil || n != 1 {
			t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
		}
		if _, err := s.GetPendingLogin(ctx, old.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired pending login survived: %v", err)
		}
		if _, err := s.GetPendingLogin(ctx, live.Hash); err != nil {
			t.Fatalf("live pending login deleted: %v", err)
		}
	})
}

// testTwoFactorConcurrency races the single-use operations: each of
// workers goroutines, released together, presents the same step, the same
// recovery code, the same pending sign-in; exactly one may win.
func testTwoFactorConcurrency(t *testing.T, open Opener) {
	parallel(t, "UseTOTPStep", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := enabledUser(t, s, 1)
		var wins atomic.Int32
		race(func(int) {
			ok, err := s.UseTOTPStep(ctx, u.UID, 2)
			if err != nil {
				t.Errorf("UseTOTPStep: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
		if wins.Load() != 1 {
			t.Fatalf("%d of %d concurrent UseTOTPStep calls with one step succeeded, want 1", wins.Load(), workers)
		}
	})
	parallel(t, "UseRecoveryCode", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := enabledUser(t, s, 1, "only")
		var wins atomic.Int32
		race(func(int) {
			ok, err := s.UseRecoveryCode(ctx, u.UID, "only")
			if err != nil {
				t.Errorf("UseRecoveryCode: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent uses of one recovery code succeeded, want 1", wins.Load())
		}
	})
	parallel(t, "DeletePendingLogin", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "tf-"+shortID()))
		p := store.PendingLogin{Hash: hash(), UserUID: u.UID, CreatedAt: at(0), ExpiresAt: at(5)}
		if err := s.CreatePendingLogin(ctx, p); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		race(func(int) {
			ok, err := s.DeletePendingLogin(ctx, p.Hash)
			if err != nil {
				t.Errorf("DeletePendingLogin: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent deletes of one pending login succeeded, want 1", wins.Load())
		}
	})
	parallel(t, "EnableTwoFactor", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "tf-"+shortID()))
		if err := s.BeginTwoFactor(ctx, newTwoFactor(u.UID, "sealed")); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		race(func(i int) {
			err := s.EnableTwoFactor(ctx, u.UID, []byte("sealed"), int64(i), at(1), []string{"code-of-" + string(rune('a'+i))})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("EnableTwoFactor: %v", err)
			}
		})
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent EnableTwoFactor calls succeeded, want 1", wins.Load())
		}
		if n, _ := s.CountRecoveryCodes(ctx, u.UID); n != 1 {
			t.Fatalf("recovery codes = %d, want only the winner's 1", n)
		}
	})
}
