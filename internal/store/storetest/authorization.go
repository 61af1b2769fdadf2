package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- RevokeAuthorization (Settings → Authorized apps → Revoke, T29) ----

func testRevokeAuthorization(t *testing.T, open Opener) {
	parallel(t, "EndsTheGrant", open, func(t *testing.T, ctx context.Context, s store.Store) {
		p := mustParty(t, s)
		other := party{org: p.org, user: p.user, client: mustClient(t, s, newClient(p.org))}
		stranger := party{org: p.org, user: mustUser(t, s, newUser(p.org, "user-"+shortID())), client: p.client}

		// grant makes a family of pt: a code redeemed, its refresh token
		// rotated once; it returns the code and every token.
		type family struct {
			code     store.AuthCode
			accesses []store.AccessToken
			refresh  []store.RefreshToken
		}
		grant := func(pt party) family {
			g := uuid.NewString()
			f := family{code: mustCode(t, s, pt.code(g))}
			a, r := pt.access(g), pt.refresh(g)
			if err := s.RedeemAuthCode(ctx, f.code.Hash, at(1), &a, &r); err != nil {
				t.Fatalf("RedeemAuthCode: %v", err)
			}
			a2, r2 := pt.access(g), pt.refresh(g)
			r2.ExpiresAt = time.Time{} // never expires, as by default
			if err := s.RotateRefreshToken(ctx, r.Hash, at(2), 0, &a2, r2); err != nil {
				t.Fatalf("RotateRefreshToken: %v", err)
			}
			f.accesses, f.refresh = []store.AccessToken{a, a2}, []store.RefreshToken{r, r2}
			return f
		}
		consent := func(pt party) {
			if err := s.SaveConsent(ctx, store.Consent{UserUID: pt.user.UID, ClientID: pt.client.ID, Scopes: []string{"openid"}, GrantedAt: at(0)}); err != nil {
				t.Fatalf("SaveConsent: %v", err)
			}
		}
		consent(p)
		consent(other)
		consent(stranger)
		gone := []family{grant(p), grant(p)}
		implicit := mustAccess(t, s, p.access(uuid.NewString())) // no refresh token, no code
		pending := mustCode(t, s, p.code(uuid.NewString()))      // not redeemed yet
		appOwn := p.access(uuid.NewString())                     // client_credentials: the app's, not the user's
		appOwn.UserUID = ""
		mustAccess(t, s, appOwn)
		stay := []family{grant(other), grant(stranger)}
		otherPending := mustCode(t, s, other.code(uuid.NewString()))

		// Payloads and unknown pairs match nothing and change nothing.
		for _, c := range [][2]string{
			{p.user.UID, "no-such-client"}, {uuid.NewString(), p.client.ID},
			{"' OR 1=1--", p.client.ID}, {p.user.UID, "' OR '1'='1"},
		} {
			checkErrIs(t, "RevokeAuthorization("+c[0]+", "+c[1]+")", s.RevokeAuthorization(ctx, c[0], c[1]), store.ErrNotFound)
		}
		if err := s.RevokeAuthorization(ctx, p.user.UID, p.client.ID); err != nil {
			t.Fatalf("RevokeAuthorization: %v", err)
		}

		_, err := s.GetConsent(ctx, p.user.UID, p.client.ID)
		checkErrIs(t, "GetConsent(revoked)", err, store.ErrNotFound)
		for _, pt := range []party{other, stranger} {
			if _, err := s.GetConsent(ctx, pt.user.UID, pt.client.ID); err != nil {
				t.Errorf("GetConsent of another pair: %v", err)
			}
		}
		for _, c := range []struct {
			fs     []family
			exists bool
		}{{gone, false}, {stay, true}} {
			for _, f := range c.fs {
				for _, a := range f.accesses {
					_, err := s.GetAccessToken(ctx, a.Hash)
					checkExists(t, "GetAccessToken", err, c.exists)
				}
				for _, r := range f.refresh {
					_, err := s.GetRefreshToken(ctx, r.Hash)
					checkExists(t, "GetRefreshToken", err, c.exists)
				}
				// A used code stays, so that a replay is still recognized.
				checkErrIs(t, "RedeemAuthCode(used code)",
					s.RedeemAuthCode(ctx, f.code.Hash, at(3), new(p.access(f.code.GrantID)), nil), store.ErrAlreadyUsed)
			}
		}
		_, err = s.GetAccessToken(ctx, implicit.Hash)
		checkExists(t, "GetAccessToken(implicit)", err, false)
		_, err = s.GetAccessToken(ctx, appOwn.Hash)
		checkExists(t, "GetAccessToken(client_credentials)", err, true)
		_, err = s.GetAuthCode(ctx, otherPending.Hash)
		checkExists(t, "GetAuthCode(another app's pending code)", err, true)
		// Nothing can be minted from the grant any more.
		newRefresh := p.refresh(pending.GrantID)
		checkErrIs(t, "RedeemAuthCode(pending code)",
			s.RedeemAuthCode(ctx, pending.Hash, at(3), new(p.access(pending.GrantID)), &newRefresh), store.ErrNotFound)
		last := gone[0].refresh[1]
		checkErrIs(t, "RotateRefreshToken(revoked)",
			s.RotateRefreshToken(ctx, last.Hash, at(3), time.Hour, new(p.access(last.GrantID)), p.refresh(last.GrantID)), store.ErrNotFound)

		checkErrIs(t, "RevokeAuthorization again", s.RevokeAuthorization(ctx, p.user.UID, p.client.ID), store.ErrNotFound)
		// Tokens without a consent (granted, then the consent replaced
		// by none) are revoked all the same.
		f := grant(p)
		if err := s.RevokeAuthorization(ctx, p.user.UID, p.client.ID); err != nil {
			t.Errorf("RevokeAuthorization(tokens without consent): %v", err)
		}
		for _, r := range f.refresh {
			_, err := s.GetRefreshToken(ctx, r.Hash)
			checkExists(t, "GetRefreshToken(no consent)", err, false)
		}
	})

	parallel(t, "RacesRotationsAndRedemptions", open, func(t *testing.T, ctx context.Context, s store.Store) {
		raceRevokeAuthorization(t, []store.Store{s})
	})
}

// raceRevokeAuthorization: one worker revokes a user's authorization of an
// app while the others, worker i through stores[i%len(stores)], redeem
// codes of it and rotate its refresh tokens as fast as they can. Every
// rotation that starts after RevokeAuthorization returned fails, and
// afterwards no token of the grant exists: not one a rotation or
// redemption committed during the revocation either.
func raceRevokeAuthorization(t *testing.T, stores []store.Store) {
	t.Helper()
	ctx := t.Context()
	p := mustParty(t, stores[0])
	if err := stores[0].SaveConsent(ctx, store.Consent{UserUID: p.user.UID, ClientID: p.client.ID, GrantedAt: at(0)}); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}
	var (
		revoked atomic.Bool // RevokeAuthorization has returned
		mu      sync.Mutex
		minted  []string // hashes of every access and refresh token stored
	)
	// Every worker has a code; the even ones redeem theirs before the
	// race and start from its refresh token.
	codes := make([]store.AuthCode, workers)
	starts := make([]store.RefreshToken, workers)
	for i := 1; i < workers; i++ {
		codes[i] = mustCode(t, stores[0], p.code(uuid.NewString()))
		if i%2 == 0 {
			a, r := p.access(codes[i].GrantID), p.refresh(codes[i].GrantID)
			if err := stores[0].RedeemAuthCode(ctx, codes[i].Hash, at(1), &a, &r); err != nil {
				t.Fatalf("RedeemAuthCode: %v", err)
			}
			starts[i] = r
			minted = append(minted, a.Hash, r.Hash)
		}
	}
	keep := func(a store.AccessToken, r store.RefreshToken) {
		mu.Lock()
		minted = append(minted, a.Hash, r.Hash)
		mu.Unlock()
	}
	race(func(i int) {
		s := stores[i%len(stores)]
		if i == 0 {
			if err := s.RevokeAuthorization(ctx, p.user.UID, p.client.ID); err != nil {
				t.Errorf("RevokeAuthorization: %v", err)
			}
			revoked.Store(true)
			return
		}
		// step runs one redemption or rotation and reports whether the
		// worker goes on.
		step := func(what string, do func() error, a store.AccessToken, r store.RefreshToken) bool {
			after := revoked.Load()
			err := do()
			switch {
			case err == nil && after:
				t.Errorf("worker %d: %s succeeded after RevokeAuthorization returned", i, what)
				return false
			case err == nil:
				keep(a, r)
				return true
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("worker %d: %s: %v, want nil or ErrNotFound", i, what, err)
			}
			return false
		}
		cur := starts[i]
		if i%2 == 1 {
			c := codes[i]
			a, r := p.access(c.GrantID), p.refresh(c.GrantID)
			if !step("RedeemAuthCode", func() error { return s.RedeemAuthCode(ctx, c.Hash, at(1), &a, &r) }, a, r) {
				return
			}
			cur = r
		}
		for {
			a, r := p.access(cur.GrantID), p.refresh(cur.GrantID)
			if !step("RotateRefreshToken", func() error { return s.RotateRefreshToken(ctx, cur.Hash, at(2), 0, &a, r) }, a, r) {
				return
			}
			cur = r
		}
	})
	for i, h := range minted {
		s := stores[i%len(stores)]
		if _, err := s.GetAccessToken(ctx, h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token %d of the revoked grant: GetAccessToken = %v, want ErrNotFound", i, err)
		}
		if _, err := s.GetRefreshToken(ctx, h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token %d of the revoked grant: GetRefreshToken = %v, want ErrNotFound", i, err)
		}
	}
	if _, err := stores[0].GetConsent(ctx, p.user.UID, p.client.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent after RevokeAuthorization: %v, want ErrNotFound", err)
	}
}
