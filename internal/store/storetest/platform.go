package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// testPlatformTokens covers store.PlatformTokens: round trips by hash and
// by id, ownership on revocation, a revoked token gone for GetPlatformToken
// (what refuses its exchanged JWTs), last-used throttling, expiry clean-up
// and the single-use races.
func testPlatformTokens(t *testing.T, open Opener) {
	parallel(t, "CreateGetList", open, func(t *testing.T, ctx context.Context, s store.Store) {
		org := mustOrg(t, s)
		u := mustUser(t, s, newUser(org, "pia"))
		other := mustUser(t, s, newUser(org, "quinn"))
		a := mustPlatformToken(t, s, newPlatformToken(u.UID, time.Time{}))
		b := newPlatformToken(u.UID, at(60))
		b.CreatedAt, b.LastUsedAt = at(1), at(2)
		mustPlatformToken(t, s, b)
		mustPlatformToken(t, s, newPlatformToken(other.UID, time.Time{}))

		got, err := s.GetPlatformTokenByHash(ctx, b.Hash)
		if err != nil {
			t.Fatalf("GetPlatformTokenByHash: %v", err)
		}
		checkPlatformToken(t, got, b)
		// With its user, in one read.
		gotTok, gotUser, err := s.GetPlatformTokenAndUser(ctx, b.Hash)
		if err != nil {
			t.Fatalf("GetPlatformTokenAndUser: %v", err)
		}
		checkPlatformToken(t, gotTok, b)
		if want, _ := s.GetUser(ctx, u.UID); !reflect.DeepEqual(gotUser, want) {
			t.Errorf("GetPlatformTokenAndUser user = %+v, want %+v", gotUser, want)
		}
		for _, want := range []store.PlatformToken{a, b} {
			got, err := s.GetPlatformToken(ctx, want.ID)
			if err != nil {
				t.Fatalf("GetPlatformToken: %v", err)
			}
			checkPlatformToken(t, got, want)
			// By id with its user, in one read.
			gotTok, gotUser, err := s.GetPlatformTokenByIDAndUser(ctx, want.ID)
			if err != nil {
				t.Fatalf("GetPlatformTokenByIDAndUser: %v", err)
			}
			checkPlatformToken(t, gotTok, want)
			if wantU, _ := s.GetUser(ctx, u.UID); !reflect.DeepEqual(gotUser, wantU) {
				t.Errorf("GetPlatformTokenByIDAndUser user = %+v, want %+v", gotUser, wantU)
			}
		}
		list, err := s.ListPlatformTokens(ctx, u.UID)
		if err != nil {
			t.Fatalf("ListPlatformTokens: %v", err)
		}
		if len(list) != 2 {
			t.Fatalf("ListPlatformTokens = %d tokens, want 2 (only the user's)", len(list))
		}
		checkPlatformToken(t, list[0], a)
		checkPlatformToken(t, list[1], b)
		if list, err := s.ListPlatformTokens(ctx, newUser(org, "nobody").UID); err != nil || len(list) != 0 {
			t.Errorf("ListPlatformTokens(unknown user) = %v, %v; want none", list, err)
		}
	})
	parallel(t, "Errors", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "rita"))
		tok := mustPlatformToken(t, s, newPlatformToken(u.UID, time.Time{}))
		sameID := newPlatformToken(u.UID, time.Time{})
		sameID.ID = tok.ID
		sameHash := newPlatformToken(u.UID, time.Time{})
		sameHash.Hash = tok.Hash
		checkErrIs(t, "CreatePlatformToken(duplicate id)", s.CreatePlatformToken(ctx, sameID), store.ErrConflict)
		checkErrIs(t, "CreatePlatformToken(duplicate hash)", s.CreatePlatformToken(ctx, sameHash), store.ErrConflict)
		if err := s.CreatePlatformToken(ctx, newPlatformToken(newUser(mustOrg(t, s), "ghost").UID, time.Time{})); err == nil {
			t.Errorf("CreatePlatformToken for unknown user succeeded")
		}
		_, err := s.GetPlatformTokenByHash(ctx, hash())
		checkErrIs(t, "GetPlatformTokenByHash(unknown)", err, store.ErrNotFound)
		_, _, err = s.GetPlatformTokenAndUser(ctx, hash())
		checkErrIs(t, "GetPlatformTokenAndUser(unknown)", err, store.ErrNotFound)
		_, err = s.GetPlatformToken(ctx, hash()[:32])
		checkErrIs(t, "GetPlatformToken(unknown)", err, store.ErrNotFound)
		_, _, err = s.GetPlatformTokenByIDAndUser(ctx, hash()[:32])
		checkErrIs(t, "GetPlatformTokenByIDAndUser(unknown)", err, store.ErrNotFound)
		// The id is the key, not the hash (nor the other way round).
		_, err = s.GetPlatformToken(ctx, tok.Hash)
		checkErrIs(t, "GetPlatformToken(the token's hash)", err, store.ErrNotFound)
		_, err = s.GetPlatformTokenByHash(ctx, tok.ID)
		checkErrIs(t, "GetPlatformTokenByHash(the token's id)", err, store.ErrNotFound)
		if ok, err := s.TouchPlatformToken(ctx, hash()[:32], at(0), time.Minute); err != nil || ok {
			t.Errorf("TouchPlatformToken(unknown) = %v, %v; want false, nil", ok, err)
		}
	})
	parallel(t, "Revoke", open, func(t *testing.T, ctx context.Context, s store.Store) {
		org := mustOrg(t, s)
		u := mustUser(t, s, newUser(org, "sam"))
		mallory := mustUser(t, s, newUser(org, "mallory"))
		tok := mustPlatformToken(t, s, newPlatformToken(u.UID, time.Time{}))
		keep := mustPlatformToken(t, s, newPlatformToken(u.UID, time.Time{}))

		tests := []struct {
			name      string
			user, id  string
			wantErr   error
			wantAlive bool
		}{
			{"another user's token", mallory.UID, tok.ID, store.ErrNotFound, true},
			{"unknown id", u.UID, hash()[:32], store.ErrNotFound, true},
			{"own token", u.UID, tok.ID, nil, false},
			{"again", u.UID, tok.ID, store.ErrNotFound, false},
		}
		for _, tt := range tests {
			err := s.DeletePlatformToken(ctx, tt.user, tt.id)
			if tt.wantErr == nil && err != nil {
				t.Errorf("%s: DeletePlatformToken: %v", tt.name, err)
			}
			if tt.wantErr != nil {
				checkErrIs(t, tt.name+": DeletePlatformToken", err, tt.wantErr)
			}
			_, err = s.GetPlatformTokenByHash(ctx, tok.Hash)
			if alive := err == nil; alive != tt.wantAlive {
				t.Errorf("%s: token alive by hash = %v (err %v), want %v", tt.name, alive, err, tt.wantAlive)
			}
			// By id is how verification finds an exchanged JWT's token:
			// gone at once after the revocation.
			_, err = s.GetPlatformToken(ctx, tok.ID)
			if alive := err == nil; alive != tt.wantAlive {
				t.Errorf("%s: token alive by id = %v (err %v), want %v", tt.name, alive, err, tt.wantAlive)
			}
			if !tt.wantAlive {
				checkErrIs(t, tt.name+": GetPlatformToken", err, store.ErrNotFound)
			}
		}
		for _, get := range []func() (store.PlatformToken, error){
			func() (store.PlatformToken, error) { return s.GetPlatformTokenByHash(ctx, keep.Hash) },
			func() (store.PlatformToken, error) { return s.GetPlatformToken(ctx, keep.ID) },
		} {
			if got, err := get(); err != nil {
				t.Errorf("other token after the revocation: %v", err)
			} else {
				checkPlatformToken(t, got, keep)
			}
		}
	})
	parallel(t, "Touch", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "tara"))
		tok := mustPlatformToken(t, s, newPlatformToken(u.UID, time.Time{}))
		tests := []struct {
			name     string
			at       time.Time
			wrote    bool
			lastUsed time.Time
		}{
			{"first use", at(10), true, at(10)},
			{"30 s later", at(10).Add(30 * time.Second), false, at(10)},
			{"exactly a minute later", at(11), true, at(11)},
			{"earlier than the last", at(5), false, at(11)},
			{"much later", at(100), true, at(100)},
		}
		for _, tt := range tests {
			wrote, err := s.TouchPlatformToken(ctx, tok.ID, tt.at, time.Minute)
			if err != nil || wrote != tt.wrote {
				t.Errorf("%s: TouchPlatformToken = %v, %v; want %v", tt.name, wrote, err, tt.wrote)
			}
			got, err := s.GetPlatformTokenByHash(ctx, tok.Hash)
			if err != nil {
				t.Fatal(err)
			}
			checkTime(t, tt.name+": LastUsedAt", got.LastUsedAt, tt.lastUsed)
		}
	})
	parallel(t, "DeleteExpired", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "uma"))
		now := at(0)
		expired := mustPlatformToken(t, s, newPlatformToken(u.UID, now.Add(-time.Microsecond)))
		atNow := mustPlatformToken(t, s, newPlatformToken(u.UID, now))
		never := mustPlatformToken(t, s, newPlatformToken(u.UID, time.Time{}))

		n, err := deleteExpired(ctx, s, now, store.ExpiredPlatformTokens)
		if err != nil || n != 1 {
			t.Errorf("DeleteExpired = %d, %v; want 1", n, err)
		}
		for _, tc := range []struct {
			name string
			tok  store.PlatformToken
			gone bool
		}{{"expired", expired, true}, {"expiring now", atNow, false}, {"never expiring", never, false}} {
			_, err := s.GetPlatformTokenByHash(ctx, tc.tok.Hash)
			if gone := errors.Is(err, store.ErrNotFound); gone != tc.gone {
				t.Errorf("%s token: gone = %v (err %v), want %v", tc.name, gone, err, tc.gone)
			}
			_, err = s.GetPlatformToken(ctx, tc.tok.ID)
			if gone := errors.Is(err, store.ErrNotFound); gone != tc.gone {
				t.Errorf("%s token by id: gone = %v (err %v), want %v", tc.name, gone, err, tc.gone)
			}
		}
		if n, err := deleteExpired(ctx, s, now, store.ExpiredPlatformTokens); err != nil || n != 0 {
			t.Errorf("DeleteExpired again = %d, %v; want 0, nil", n, err)
		}
	})
	parallel(t, "ConcurrentRevoke", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "vera"))
		tok := mustPlatformToken(t, s, newPlatformToken(u.UID, time.Time{}))
		var errs [workers]error
		race(func(i int) { errs[i] = s.DeletePlatformToken(ctx, u.UID, tok.ID) })
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("DeletePlatformToken #%d: %v", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d concurrent revocations succeeded, want exactly 1", wins)
		}
	})
	parallel(t, "RevokeRacesReads", open, func(t *testing.T, ctx context.Context, s store.Store) {
		// Verifications racing a revocation: each read sees the token or
		// ErrNotFound, nothing else, and once DeletePlatformToken has
		// returned every read is ErrNotFound.
		u := mustUser(t, s, newUser(mustOrg(t, s), "wendy"))
		tok := mustPlatformToken(t, s, newPlatformToken(u.UID, time.Time{}))
		var errs [workers]error
		race(func(i int) {
			if i == 0 {
				errs[i] = s.DeletePlatformToken(ctx, u.UID, tok.ID)
				return
			}
			got, err := s.GetPlatformToken(ctx, tok.ID)
			if err == nil && got.ID != tok.ID {
				err = errors.New("another token: " + got.ID)
			}
			errs[i] = err
		})
		if errs[0] != nil {
			t.Fatalf("DeletePlatformToken: %v", errs[0])
		}
		for i := 1; i < workers; i++ {
			if errs[i] != nil && !errors.Is(errs[i], store.ErrNotFound) {
				t.Errorf("GetPlatformToken #%d: %v", i, errs[i])
			}
		}
		_, err := s.GetPlatformToken(ctx, tok.ID)
		checkErrIs(t, "GetPlatformToken after the revocation", err, store.ErrNotFound)
	})
}

func newPlatformToken(userUID string, expires time.Time) store.PlatformToken {
	h := hash()
	return store.PlatformToken{ID: hash()[:32], UserUID: userUID, Name: "CI pipeline", Hash: h, LastEight: h[len(h)-8:],
		CreatedAt: base(), ExpiresAt: expires}
}

func mustPlatformToken(t *testing.T, s store.Store, tok store.PlatformToken) store.PlatformToken {
	t.Helper()
	if err := s.CreatePlatformToken(t.Context(), tok); err != nil {
		t.Fatalf("CreatePlatformToken: %v", err)
	}
	return tok
}

func checkPlatformToken(t *testing.T, got, want store.PlatformToken) {
	t.Helper()
	if got.ID != want.ID || got.UserUID != want.UserUID || got.Name != want.Name || got.Hash != want.Hash || got.LastEight != want.LastEight {
		t.Errorf("platform token = %+v, want %+v", got, want)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	checkTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}
