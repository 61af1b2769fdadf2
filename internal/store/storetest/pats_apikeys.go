package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tolk-project/tolk/internal/store"
)

// runPATsAPIKeys runs the suite's part for PersonalAccessTokens and APIKeys.
func runPATsAPIKeys(t *testing.T, open Opener) {
	t.Run("PersonalAccessTokens", func(t *testing.T) { t.Parallel(); testPATs(t, open) })
	t.Run("APIKeys", func(t *testing.T) { t.Parallel(); testAPIKeys(t, open) })
}

var zeroTime time.Time

func hexID() string { return strings.ReplaceAll(uuid.NewString(), "-", "") }

func newPAT(userUID string) store.PersonalAccessToken {
	h := hash()
	return store.PersonalAccessToken{
		ID: hexID(), UserUID: userUID, Note: "My Deploy Script", Scopes: []string{"read", "write"},
		Hash: h, LastEight: h[len(h)-8:], ExpiresAt: at(60), CreatedAt: base(), UpdatedAt: base(),
	}
}

func checkPAT(t *testing.T, got, want store.PersonalAccessToken) {
	t.Helper()
	if got.ID != want.ID || got.UserUID != want.UserUID || got.Note != want.Note ||
		got.Hash != want.Hash || got.LastEight != want.LastEight {
		t.Errorf("PAT = %+v, want %+v", got, want)
	}
	checkStrings(t, "Scopes", got.Scopes, want.Scopes)
	checkOptTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkOptTime(t, "LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func mustPAT(t *testing.T, s store.Store, p store.PersonalAccessToken) store.PersonalAccessToken {
	t.Helper()
	if err := s.CreatePAT(t.Context(), p); err != nil {
		t.Fatalf("CreatePAT: %v", err)
	}
	return p
}

func testPATs(t *testing.T, open Opener) {
	parallel(t, "RoundTrip", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u := mustUser(t, s, newUser(o, "pat-"+shortID()))
		never := newPAT(u.UID)
		never.ExpiresAt, never.Scopes = zeroTime, nil
		for _, p := range []store.PersonalAccessToken{newPAT(u.UID), never} {
			mustPAT(t, s, p)
			got, err := s.GetPAT(ctx, p.ID)
			if err != nil {
				t.Fatalf("GetPAT: %v", err)
			}
			checkPAT(t, got, p)
			got, err = s.GetPATByHash(ctx, p.Hash)
			if err != nil {
				t.Fatalf("GetPATByHash: %v", err)
			}
			checkPAT(t, got, p)
		}
		_, err := s.GetPAT(ctx, hexID())
		checkExists(t, "GetPAT(unknown)", err, false)
		_, err = s.GetPATByHash(ctx, hash())
		checkExists(t, "GetPATByHash(unknown)", err, false)
	})

	parallel(t, "Conflicts", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "pat-"+shortID()))
		p := mustPAT(t, s, newPAT(u.UID))
		sameID, sameHash := newPAT(u.UID), newPAT(u.UID)
		sameID.ID, sameHash.Hash = p.ID, p.Hash
		for name, q := range map[string]store.PersonalAccessToken{"id": sameID, "hash": sameHash} {
			if err := s.CreatePAT(ctx, q); !errors.Is(err, store.ErrConflict) {
				t.Errorf("CreatePAT(same %s) = %v, want ErrConflict", name, err)
			}
		}
	})

	parallel(t, "ListPagination", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u := mustUser(t, s, newUser(o, "pat-"+shortID()))
		other := mustUser(t, s, newUser(o, "pat-"+shortID()))
		mustPAT(t, s, newPAT(other.UID))
		var want []string
		for i := range 7 {
			p := newPAT(u.UID)
			p.CreatedAt = at(i)
			mustPAT(t, s, p)
			want = append(want, p.ID)
		}
		tests := []struct {
			offset, limit int
			want          []string
		}{
			{0, 3, want[0:3]},
			{3, 3, want[3:6]},
			{6, 3, want[6:7]},
			{7, 3, nil},
			{0, 100, want},
		}
		for _, tt := range tests {
			got, total, err := s.ListPATs(ctx, u.UID, tt.offset, tt.limit)
			if err != nil {
				t.Fatalf("ListPATs(%d,%d): %v", tt.offset, tt.limit, err)
			}
			if total != 7 {
				t.Errorf("ListPATs(%d,%d) total = %d, want 7", tt.offset, tt.limit, total)
			}
			var ids []string
			for _, p := range got {
				ids = append(ids, p.ID)
			}
			checkStrings(t, fmt.Sprintf("ListPATs(%d,%d)", tt.offset, tt.limit), ids, tt.want)
		}
		if got, total, err := s.ListPATs(ctx, uuid.NewString(), 0, 10); err != nil || total != 0 || len(got) != 0 {
			t.Errorf("ListPATs(unknown user) = %v, %d, %v; want none", got, total, err)
		}
	})

	parallel(t, "UpdateDelete", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u := mustUser(t, s, newUser(o, "pat-"+shortID()))
		other := mustUser(t, s, newUser(o, "pat-"+shortID()))
		p := mustPAT(t, s, newPAT(u.UID))

		upd := p
		upd.Note, upd.Scopes, upd.ExpiresAt, upd.UpdatedAt = "renamed", []string{"read"}, zeroTime, at(5)
		// Neither a stranger's update nor the hash/last-eight may change.
		upd.Hash, upd.LastEight = hash(), "zzzzzzzz"
		stolen := upd
		stolen.UserUID = other.UID
		if err := s.UpdatePAT(ctx, stolen); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdatePAT(other user) = %v, want ErrNotFound", err)
		}
		if err := s.UpdatePAT(ctx, upd); err != nil {
			t.Fatalf("UpdatePAT: %v", err)
		}
		got, err := s.GetPAT(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := upd
		want.Hash, want.LastEight = p.Hash, p.LastEight
		checkPAT(t, got, want)
		missing := newPAT(u.UID)
		if err := s.UpdatePAT(ctx, missing); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdatePAT(unknown) = %v, want ErrNotFound", err)
		}

		if err := s.DeletePAT(ctx, other.UID, p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeletePAT(other user) = %v, want ErrNotFound", err)
		}
		if err := s.DeletePAT(ctx, u.UID, p.ID); err != nil {
			t.Fatalf("DeletePAT: %v", err)
		}
		_, err = s.GetPATByHash(ctx, p.Hash)
		checkExists(t, "GetPATByHash(deleted)", err, false)
		if err := s.DeletePAT(ctx, u.UID, p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeletePAT(again) = %v, want ErrNotFound", err)
		}
	})

	parallel(t, "Touch", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "pat-"+shortID()))
		p := mustPAT(t, s, newPAT(u.UID))
		steps := []struct {
			touch, want int
		}{{10, 10}, {5, 10}, {20, 20}}
		for _, st := range steps {
			if err := s.TouchPAT(ctx, p.Hash, at(st.touch)); err != nil {
				t.Fatalf("TouchPAT: %v", err)
			}
			got, err := s.GetPAT(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkTime(t, fmt.Sprintf("LastUsedAt after touch at %d", st.touch), got.LastUsedAt, at(st.want))
		}
		if err := s.TouchPAT(ctx, hash(), at(1)); err != nil {
			t.Errorf("TouchPAT(unknown) = %v, want nil", err)
		}
	})

	parallel(t, "SQLPayloads", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "pat-"+shortID()))
		for _, payload := range sqlPayloads {
			p := newPAT(u.UID)
			p.Note, p.Scopes = payload, []string{payload}
			mustPAT(t, s, p)
			got, err := s.GetPAT(ctx, p.ID)
			if err != nil {
				t.Fatalf("GetPAT: %v", err)
			}
			checkPAT(t, got, p)
		}
		if _, total, err := s.ListPATs(ctx, u.UID, 0, 100); err != nil || total != len(sqlPayloads) {
			t.Errorf("ListPATs = %d, %v; want %d", total, err, len(sqlPayloads))
		}
	})

	parallel(t, "DeleteRace", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "pat-"+shortID()))
		p := mustPAT(t, s, newPAT(u.UID))
		var errs [workers]error
		race(func(i int) { errs[i] = s.DeletePAT(ctx, u.UID, p.ID) })
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("DeletePAT #%d: %v", i, err)
			}
		}
		if ok != 1 {
			t.Errorf("DeletePAT: %d callers deleted, want exactly 1", ok)
		}
	})
}

func newAPIKey(userUID string) store.APIKey {
	return store.APIKey{ID: hexID(), UserUID: userUID, Note: "CAT tool", Hash: hash(), CreatedAt: base()}
}

func checkAPIKey(t *testing.T, got, want store.APIKey) {
	t.Helper()
	if got.ID != want.ID || got.UserUID != want.UserUID || got.Note != want.Note || got.Hash != want.Hash {
		t.Errorf("APIKey = %+v, want %+v", got, want)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkOptTime(t, "RevokedAt", got.RevokedAt, want.RevokedAt)
}

func mustAPIKey(t *testing.T, s store.Store, k store.APIKey) store.APIKey {
	t.Helper()
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	return k
}

func testAPIKeys(t *testing.T, open Opener) {
	parallel(t, "RoundTrip", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "key-"+shortID()))
		k := newAPIKey(u.UID)
		k.Note = sqlPayloads[0]
		mustAPIKey(t, s, k)
		for name, get := range map[string]func() (store.APIKey, error){
			"GetAPIKey":       func() (store.APIKey, error) { return s.GetAPIKey(ctx, k.ID) },
			"GetAPIKeyByHash": func() (store.APIKey, error) { return s.GetAPIKeyByHash(ctx, k.Hash) },
		} {
			got, err := get()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			checkAPIKey(t, got, k)
		}
		_, err := s.GetAPIKey(ctx, hexID())
		checkExists(t, "GetAPIKey(unknown)", err, false)
		_, err = s.GetAPIKeyByHash(ctx, hash())
		checkExists(t, "GetAPIKeyByHash(unknown)", err, false)
		dup := newAPIKey(u.UID)
		dup.Hash = k.Hash
		if err := s.CreateAPIKey(ctx, dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateAPIKey(same hash) = %v, want ErrConflict", err)
		}
	})

	parallel(t, "ListByOrganization", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o1, o2 := mustOrg(t, s), mustOrg(t, s)
		u1 := mustUser(t, s, newUser(o1, "key-"+shortID()))
		u2 := mustUser(t, s, newUser(o2, "key-"+shortID()))
		a := newAPIKey(u1.UID)
		a.CreatedAt = at(2)
		b := newAPIKey(u2.UID)
		b.CreatedAt = at(1)
		c := newAPIKey(u1.UID)
		c.CreatedAt = at(3)
		for _, k := range []store.APIKey{a, b, c} {
			mustAPIKey(t, s, k)
		}
		ids := func(ks []store.APIKey) []string {
			var out []string
			for _, k := range ks {
				out = append(out, k.ID)
			}
			return out
		}
		tests := []struct {
			org  string
			want []string
		}{
			{o1.UID, []string{a.ID, c.ID}},
			{o2.UID, []string{b.ID}},
			{"", []string{b.ID, a.ID, c.ID}},
			{uuid.NewString(), nil},
		}
		for _, tt := range tests {
			got, err := s.ListAPIKeys(ctx, tt.org)
			if err != nil {
				t.Fatalf("ListAPIKeys: %v", err)
			}
			checkStrings(t, "ListAPIKeys("+tt.org+")", ids(got), tt.want)
		}
	})

	parallel(t, "Revoke", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "key-"+shortID()))
		k := mustAPIKey(t, s, newAPIKey(u.UID))
		if ok, err := s.RevokeAPIKey(ctx, k.ID, at(5)); err != nil || !ok {
			t.Fatalf("RevokeAPIKey = %v, %v; want true", ok, err)
		}
		if ok, err := s.RevokeAPIKey(ctx, k.ID, at(9)); err != nil || ok {
			t.Errorf("RevokeAPIKey(again) = %v, %v; want false, nil", ok, err)
		}
		got, err := s.GetAPIKeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		k.RevokedAt = at(5)
		checkAPIKey(t, got, k)
		if _, err := s.RevokeAPIKey(ctx, hexID(), at(5)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeAPIKey(unknown) = %v, want ErrNotFound", err)
		}
	})

	parallel(t, "RevokeRace", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "key-"+shortID()))
		k := mustAPIKey(t, s, newAPIKey(u.UID))
		var revoked [workers]bool
		race(func(i int) {
			var err error
			if revoked[i], err = s.RevokeAPIKey(ctx, k.ID, at(i)); err != nil {
				t.Errorf("RevokeAPIKey #%d: %v", i, err)
			}
		})
		if n := countTrue(revoked[:]); n != 1 {
			t.Errorf("RevokeAPIKey: %d callers revoked, want exactly 1", n)
		}
	})
}
