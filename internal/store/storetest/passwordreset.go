package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

func newPasswordReset(userUID string, expires time.Time) store.PasswordReset {
	return store.PasswordReset{Hash: hash(), UserUID: userUID, Purpose: "reset", CreatedAt: base(), ExpiresAt: expires}
}

func mustPasswordReset(t *testing.T, s store.Store, r store.PasswordReset) store.PasswordReset {
	t.Helper()
	if err := s.CreatePasswordReset(t.Context(), r); err != nil {
		t.Fatalf("CreatePasswordReset: %v", err)
	}
	return r
}

// runPasswordResets: links round-trip, work once, only before they
// expire and only for their user; redeeming one sets the password and
// ends the user's sessions, pending sign-ins, ApiTokens and other links,
// and nobody else's; of concurrent redeemers exactly one wins.
func runPasswordResets(t *testing.T, open Opener) {
	parallel(t, "RoundTrip", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "rita"))
		r := mustPasswordReset(t, s, newPasswordReset(u.UID, at(60)))
		r.Purpose = "invitation"
		r.Hash = hash()
		mustPasswordReset(t, s, r)
		got, err := s.GetPasswordReset(ctx, r.Hash)
		if err != nil || got != r {
			t.Fatalf("GetPasswordReset = %+v, %v; want %+v", got, err, r)
		}
		_, err = s.GetPasswordReset(ctx, hash())
		checkErrIs(t, "GetPasswordReset(unknown)", err, store.ErrNotFound)
		if err := s.CreatePasswordReset(ctx, r); err == nil {
			t.Error("CreatePasswordReset with a taken hash succeeded")
		}
	})
	parallel(t, "Redeem", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u, other := mustUser(t, s, newUser(o, "rita")), mustUser(t, s, newUser(o, "otto"))
		r := mustPasswordReset(t, s, newPasswordReset(u.UID, at(60)))
		second := mustPasswordReset(t, s, newPasswordReset(u.UID, at(60)))
		otherReset := mustPasswordReset(t, s, newPasswordReset(other.UID, at(60)))
		tok, ws := mustToken(t, s, newToken(u.UID, at(60))), mustSession(t, s, newSession(u.UID))
		pl := store.PendingLogin{Hash: hash(), UserUID: u.UID, CreatedAt: base(), ExpiresAt: at(5)}
		if err := s.CreatePendingLogin(ctx, pl); err != nil {
			t.Fatal(err)
		}
		otherTok, otherWS := mustToken(t, s, newToken(other.UID, at(60))), mustSession(t, s, newSession(other.UID))

		// Another user's link, an unknown one and an expired instant
		// change nothing.
		checkErrIs(t, "redeem for another user", s.RedeemPasswordReset(ctx, r.Hash, other.UID, "$new", at(1)), store.ErrNotFound)
		checkErrIs(t, "redeem unknown", s.RedeemPasswordReset(ctx, hash(), u.UID, "$new", at(1)), store.ErrNotFound)
		checkErrIs(t, "redeem at expiry", s.RedeemPasswordReset(ctx, r.Hash, u.UID, "$new", at(60)), store.ErrNotFound)
		if g, _ := s.GetUser(ctx, other.UID); g.PasswordHash != other.PasswordHash {
			t.Fatal("a refused redemption changed a password")
		}

		if err := s.RedeemPasswordReset(ctx, r.Hash, u.UID, "$new", at(2)); err != nil {
			t.Fatalf("RedeemPasswordReset: %v", err)
		}
		got, err := s.GetUser(ctx, u.UID)
		if err != nil || got.PasswordHash != "$new" || !got.UpdatedAt.Equal(at(2)) || !got.LastInvalidateAll.Equal(at(2)) {
			t.Fatalf("user after redeem = %+v, %v", got, err)
		}
		checkErrIs(t, "redeem again", s.RedeemPasswordReset(ctx, r.Hash, u.UID, "$again", at(3)), store.ErrNotFound)
		_, err = s.GetPasswordReset(ctx, second.Hash)
		checkErrIs(t, "the user's other link", err, store.ErrNotFound)
		_, err = s.GetAPIToken(ctx, tok.Hash)
		checkErrIs(t, "ApiToken", err, store.ErrNotFound)
		_, err = s.GetWebSession(ctx, ws.Hash)
		checkErrIs(t, "web session", err, store.ErrNotFound)
		_, err = s.GetPendingLogin(ctx, pl.Hash)
		checkErrIs(t, "pending sign-in", err, store.ErrNotFound)
		if _, err := s.GetPasswordReset(ctx, otherReset.Hash); err != nil {
			t.Errorf("another user's link: %v", err)
		}
		if _, err := s.GetAPIToken(ctx, otherTok.Hash); err != nil {
			t.Errorf("another user's ApiToken: %v", err)
		}
		if _, err := s.GetWebSession(ctx, otherWS.Hash); err != nil {
			t.Errorf("another user's session: %v", err)
		}
	})
	parallel(t, "DeleteAll", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u, other := mustUser(t, s, newUser(o, "rita")), mustUser(t, s, newUser(o, "otto"))
		a, b := mustPasswordReset(t, s, newPasswordReset(u.UID, at(60))), mustPasswordReset(t, s, newPasswordReset(u.UID, at(60)))
		c := mustPasswordReset(t, s, newPasswordReset(other.UID, at(60)))
		if err := s.DeletePasswordResets(ctx, u.UID); err != nil {
			t.Fatal(err)
		}
		for _, r := range []store.PasswordReset{a, b} {
			_, err := s.GetPasswordReset(ctx, r.Hash)
			checkErrIs(t, "deleted link", err, store.ErrNotFound)
		}
		if _, err := s.GetPasswordReset(ctx, c.Hash); err != nil {
			t.Errorf("another user's link: %v", err)
		}
	})
	parallel(t, "Deactivation", open, testDeactivationEndsLinks)
	parallel(t, "RedeemRace", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "rita"))
		r := mustPasswordReset(t, s, newPasswordReset(u.UID, at(60)))
		var wins atomic.Int32
		var errs [workers]error
		race(func(i int) {
			err := s.RedeemPasswordReset(ctx, r.Hash, u.UID, "$w"+string(rune('a'+i)), at(1))
			if err == nil {
				wins.Add(1)
			} else if !isNotFound(err) {
				errs[i] = err
			}
		})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("RedeemPasswordReset: %v", err)
			}
		}
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d of %d concurrent redemptions won, want exactly 1", n, workers)
		}
	})
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// racePasswordReset: of redemptions of one link spread over several
// Stores on one database, exactly one wins, round after round.
func racePasswordReset(t *testing.T, stores []store.Store) {
	s0 := stores[0]
	o := mustOrg(t, s0)
	for round := range 3 {
		u := mustUser(t, s0, newUser(o, "racer"+string(rune('a'+round))))
		r := mustPasswordReset(t, s0, newPasswordReset(u.UID, at(60)))
		var wins atomic.Int32
		race(func(i int) {
			err := stores[i%len(stores)].RedeemPasswordReset(t.Context(), r.Hash, u.UID, "$w", at(1))
			switch {
			case err == nil:
				wins.Add(1)
			case !isNotFound(err):
				t.Errorf("RedeemPasswordReset #%d: %v", i, err)
			}
		})
		if n := wins.Load(); n != 1 {
			t.Errorf("round %d: %d redemptions of one link won, want 1", round, n)
		}
	}
}

// testDeactivationEndsLinks: deactivating a user deletes their links, so
// that reactivation brings none back; other users' stay.
func testDeactivationEndsLinks(t *testing.T, ctx context.Context, s store.Store) {
	o := mustOrg(t, s)
	u, other := mustUser(t, s, newUser(o, "rita")), mustUser(t, s, newUser(o, "otto"))
	r, keep := mustPasswordReset(t, s, newPasswordReset(u.UID, at(60))), mustPasswordReset(t, s, newPasswordReset(other.UID, at(60)))
	if err := s.SetUserActive(ctx, u.UID, false, at(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserActive(ctx, u.UID, true, at(2)); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetPasswordReset(ctx, r.Hash)
	checkErrIs(t, "a deactivated user's link", err, store.ErrNotFound)
	if _, err := s.GetPasswordReset(ctx, keep.Hash); err != nil {
		t.Errorf("another user's link: %v", err)
	}
}
