package storetest

import (
	"context"
	"testing"

	"github.com/tolk-project/tolk/internal/store"
)

// runAccounts holds a backend to store.Accounts: a password change ends
// every other session, pending sign-in and ApiToken of that user only; a
// profile change keeps emails unique; recovery codes are replaced whole
// and only while the second factor is on.
func runAccounts(t *testing.T, open Opener) {
	parallel(t, "ChangePassword", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u := mustUser(t, s, newUser(o, "pw-"+shortID()))
		other := mustUser(t, s, newUser(o, "pw-"+shortID()))
		keep := mustSession(t, s, newSession(u.UID))
		gone := mustSession(t, s, newSession(u.UID))
		tok := mustToken(t, s, newToken(u.UID, at(60)))
		otherSess := mustSession(t, s, newSession(other.UID))
		otherTok := mustToken(t, s, newToken(other.UID, at(60)))
		if err := s.CreatePendingLogin(ctx, store.PendingLogin{Hash: hash(), UserUID: u.UID, CreatedAt: base(), ExpiresAt: at(5)}); err != nil {
			t.Fatalf("CreatePendingLogin: %v", err)
		}

		link := newPasswordReset(u.UID, at(60))
		if err := s.CreatePasswordReset(ctx, link); err != nil {
			t.Fatalf("CreatePasswordReset: %v", err)
		}
		otherLink := newPasswordReset(other.UID, at(60))
		if err := s.CreatePasswordReset(ctx, otherLink); err != nil {
			t.Fatalf("CreatePasswordReset: %v", err)
		}
		if err := s.ChangePassword(ctx, u.UID, "$argon2id$new", keep.Hash, at(9)); err != nil {
			t.Fatalf("ChangePassword: %v", err)
		}
		if _, err := s.GetWebSession(ctx, keep.Hash); err != nil {
			t.Errorf("the kept session: %v", err)
		}
		_, err := s.GetWebSession(ctx, gone.Hash)
		checkErrIs(t, "another session", err, store.ErrNotFound)
		_, err = s.GetAPIToken(ctx, tok.Hash)
		checkErrIs(t, "an ApiToken", err, store.ErrNotFound)
		_, err = s.GetPasswordReset(ctx, link.Hash)
		checkErrIs(t, "a reset link", err, store.ErrNotFound)
		if _, err := s.GetPasswordReset(ctx, otherLink.Hash); err != nil {
			t.Errorf("another user's reset link: %v", err)
		}
		if _, err := s.GetWebSession(ctx, otherSess.Hash); err != nil {
			t.Errorf("another user's session: %v", err)
		}
		if _, err := s.GetAPIToken(ctx, otherTok.Hash); err != nil {
			t.Errorf("another user's ApiToken: %v", err)
		}
		got, err := s.GetUser(ctx, u.UID)
		if err != nil {
			t.Fatal(err)
		}
		want := u
		want.PasswordHash, want.LastInvalidateAll, want.UpdatedAt = "$argon2id$new", at(9), at(9)
		checkUser(t, got, want)

		// "" keeps no session.
		if err := s.ChangePassword(ctx, u.UID, "$argon2id$newer", "", at(10)); err != nil {
			t.Fatalf("ChangePassword without a session to keep: %v", err)
		}
		_, err = s.GetWebSession(ctx, keep.Hash)
		checkErrIs(t, "the session after a change keeping none", err, store.ErrNotFound)

		checkErrIs(t, "ChangePassword of nobody", s.ChangePassword(ctx, "00000000-0000-4000-8000-000000000000", "x", "", at(11)), store.ErrNotFound)
	})
	parallel(t, "UpdateProfile", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u := mustUser(t, s, newUser(o, "pf-"+shortID()))
		other := mustUser(t, s, newUser(o, "pf-"+shortID()))
		p := store.Profile{FirstName: "Zoë", LastName: "Ångström", Email: "Zoe." + shortID() + "@example.org", Language: "de"}
		if err := s.UpdateProfile(ctx, u.UID, p, at(3)); err != nil {
			t.Fatalf("UpdateProfile: %v", err)
		}
		got, err := s.GetUser(ctx, u.UID)
		if err != nil {
			t.Fatal(err)
		}
		want := u
		want.FirstName, want.LastName, want.Email, want.Language, want.UpdatedAt = p.FirstName, p.LastName, p.Email, p.Language, at(3)
		checkUser(t, got, want)
		if byMail, err := s.GetUserByEmail(ctx, p.Email); err != nil || byMail.UID != u.UID {
			t.Errorf("GetUserByEmail(new email) = %v, %v", byMail.UID, err)
		}
		p2 := p
		p2.Email = other.Email
		checkErrIs(t, "UpdateProfile to a taken email", s.UpdateProfile(ctx, u.UID, p2, at(4)), store.ErrConflict)
		checkErrIs(t, "UpdateProfile of nobody", s.UpdateProfile(ctx, "00000000-0000-4000-8000-000000000000", p, at(4)), store.ErrNotFound)
	})
	parallel(t, "ReplaceRecoveryCodes", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := enabledUser(t, s, 5, "old1", "old2", "old3")
		if err := s.ReplaceRecoveryCodes(ctx, u.UID, []string{"new1", "new2"}, at(2)); err != nil {
			t.Fatalf("ReplaceRecoveryCodes: %v", err)
		}
		if n, err := s.CountRecoveryCodes(ctx, u.UID); err != nil || n != 2 {
			t.Errorf("CountRecoveryCodes = %d, %v; want 2", n, err)
		}
		if ok, err := s.UseRecoveryCode(ctx, u.UID, "old1"); err != nil || ok {
			t.Errorf("UseRecoveryCode(old) = %v, %v; want false", ok, err)
		}
		if ok, err := s.UseRecoveryCode(ctx, u.UID, "new1"); err != nil || !ok {
			t.Errorf("UseRecoveryCode(new) = %v, %v; want true", ok, err)
		}
		// Without an enabled second factor nothing is replaced.
		v := mustUser(t, s, newUser(mustOrg(t, s), "rc-"+shortID()))
		checkErrIs(t, "ReplaceRecoveryCodes without two-factor", s.ReplaceRecoveryCodes(ctx, v.UID, []string{"x"}, at(2)), store.ErrNotFound)
		if err := s.BeginTwoFactor(ctx, newTwoFactor(v.UID, "pending")); err != nil {
			t.Fatal(err)
		}
		checkErrIs(t, "ReplaceRecoveryCodes while enrolling", s.ReplaceRecoveryCodes(ctx, v.UID, []string{"x"}, at(2)), store.ErrNotFound)
		if n, _ := s.CountRecoveryCodes(ctx, v.UID); n != 0 {
			t.Errorf("codes of a user without two-factor = %d", n)
		}
	})
}
