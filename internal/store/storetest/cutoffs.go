package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tolk-project/tolk/internal/store"
)

// Self-contained access tokens: cutoffs, the revocations that store them,
// and the claims that issue a token without a row.

func runCutoffs(t *testing.T, open Opener) {
	parallel(t, "Keys", open, testCutoffKeys)
	parallel(t, "NeverBack", open, testCutoffNeverBack)
	parallel(t, "WithRevocations", open, testCutsWithRevocations)
	parallel(t, "RedeemSelfContained", open, testRedeemSelfContained)
	parallel(t, "RotateSelfContained", open, testRotateSelfContained)
	parallel(t, "RaceRedeemSelfContained", open, func(t *testing.T, ctx context.Context, s store.Store) {
		raceRedeemSelfContained(t, []store.Store{s})
	})
	parallel(t, "RaceRotateSelfContained", open, func(t *testing.T, ctx context.Context, s store.Store) {
		raceRotateSelfContained(t, []store.Store{s})
	})
}

// longAgo is a grant time before every cutoff of the tests: a cutoff of
// key is there if it cuts a token of longAgo.
func longAgo() time.Time { return at(-100000) }

func cutExists(t *testing.T, s store.Store, key string) bool {
	t.Helper()
	cut, err := s.AccessTokenCut(t.Context(), store.CutoffKeys{Token: key}, longAgo())
	if err != nil {
		t.Fatalf("AccessTokenCut(%q): %v", key, err)
	}
	return cut
}

func mustCut(t *testing.T, s store.Store, cuts ...store.Cutoff) {
	t.Helper()
	if err := s.CutAccessTokens(t.Context(), cuts...); err != nil {
		t.Fatalf("CutAccessTokens: %v", err)
	}
}

// accessRows is how many access token rows the store holds (all of them
// expire within a year of base), deleting them: call it last.
func accessRows(t *testing.T, s store.Store) int {
	t.Helper()
	n, err := deleteExpired(t.Context(), s, at(60*24*365), store.ExpiredAccessTokens)
	if err != nil {
		t.Fatalf("DeleteExpired(access_tokens): %v", err)
	}
	return n
}

// testCutoffKeys: a cutoff cuts a token that carries its key, in whichever
// field of CutoffKeys the key's kind goes, when the token's grant began at
// or before NotBefore; the same id under another kind's prefix, another
// id, a later grant, or an empty field (even against a cutoff stored
// under the empty key) does not.
func testCutoffKeys(t *testing.T, ctx context.Context, s store.Store) {
	nb := at(10)
	kinds := []struct {
		name string
		key  func(id string) string
		set  func(k *store.CutoffKeys, key string)
	}{
		{"Token", store.TokenCutoffKey, func(k *store.CutoffKeys, key string) { k.Token = key }},
		{"Grant", store.GrantCutoffKey, func(k *store.CutoffKeys, key string) { k.Grant = key }},
		{"Client", store.ClientCutoffKey, func(k *store.CutoffKeys, key string) { k.Client = key }},
		{"User", store.UserCutoffKey, func(k *store.CutoffKeys, key string) { k.User = key }},
		{"Authorization", func(id string) string { return store.AuthorizationCutoffKey(id, id) },
			func(k *store.CutoffKeys, key string) { k.Authorization = key }},
	}
	// all is a token with every key of id.
	all := func(id string) store.CutoffKeys {
		var k store.CutoffKeys
		for _, kind := range kinds {
			kind.set(&k, kind.key(id))
		}
		return k
	}
	// A cutoff under the empty key must not cut the keys a token lacks.
	mustCut(t, s, store.Cutoff{Key: "", NotBefore: at(1000), ExpiresAt: at(2000)})
	for _, kind := range kinds {
		id := uuid.NewString()
		mustCut(t, s, store.Cutoff{Key: kind.key(id), NotBefore: nb, ExpiresAt: at(100)})
		// others has every key of id but this kind's, which is another id's.
		others := all(id)
		kind.set(&others, kind.key(uuid.NewString()))
		var only store.CutoffKeys
		kind.set(&only, kind.key(id))
		full := all(id)
		for _, c := range []struct {
			what  string
			keys  store.CutoffKeys
			grant time.Time
			want  bool
		}{
			{"its key alone, grant before the cutoff", only, at(5), true},
			{"its key alone, grant at the cutoff", only, nb, true},
			{"its key alone, grant a microsecond after", only, nb.Add(time.Microsecond), false},
			{"every key of the id, grant before", full, at(5), true},
			{"every key of the id, grant after", full, at(11), false},
			{"the id under every other kind", others, at(5), false},
			{"no key at all", store.CutoffKeys{}, at(5), false},
		} {
			got, err := s.AccessTokenCut(ctx, c.keys, c.grant)
			if err != nil || got != c.want {
				t.Errorf("%s: %s: AccessTokenCut = %v, %v; want %v", kind.name, c.what, got, err, c.want)
			}
		}
	}
	if err := s.CutAccessTokens(ctx); err != nil {
		t.Errorf("CutAccessTokens() with no cuts: %v", err)
	}
	if got, err := s.AccessTokenCut(ctx, all(uuid.NewString()), longAgo()); err != nil || got {
		t.Errorf("AccessTokenCut(uncut keys) = %v, %v; want false", got, err)
	}
}

// testCutoffNeverBack: cutting a key again keeps the later NotBefore and
// the later ExpiresAt, each on its own, so a cutoff never moves back; a
// call may name one key twice. ExpiresAt shows through retention.
func testCutoffNeverBack(t *testing.T, ctx context.Context, s store.Store) {
	key := store.GrantCutoffKey(uuid.NewString())
	cutsAt := func(grant time.Time) bool {
		t.Helper()
		got, err := s.AccessTokenCut(ctx, store.CutoffKeys{Grant: key}, grant)
		if err != nil {
			t.Fatalf("AccessTokenCut: %v", err)
		}
		return got
	}
	// expiredBy deletes the cutoffs expired by before, and reports
	// whether key's went.
	expiredBy := func(before time.Time) bool {
		t.Helper()
		if _, err := deleteExpired(ctx, s, before, store.ExpiredAccessTokenCutoffs); err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		return !cutExists(t, s, key)
	}
	mustCut(t, s, store.Cutoff{Key: key, NotBefore: at(10), ExpiresAt: at(100)})
	if !cutsAt(at(10)) || cutsAt(at(20)) {
		t.Fatalf("first cutoff: cuts at(10) %v, at(20) %v; want true, false", cutsAt(at(10)), cutsAt(at(20)))
	}
	// Later on both.
	mustCut(t, s, store.Cutoff{Key: key, NotBefore: at(20), ExpiresAt: at(200)})
	if !cutsAt(at(20)) || cutsAt(at(21)) {
		t.Errorf("later cutoff: cuts at(20) %v, at(21) %v; want true, false", cutsAt(at(20)), cutsAt(at(21)))
	}
	// Earlier on both: nothing moves back.
	mustCut(t, s, store.Cutoff{Key: key, NotBefore: at(5), ExpiresAt: at(50)})
	if !cutsAt(at(20)) {
		t.Errorf("an earlier cutoff moved NotBefore back")
	}
	// Later NotBefore, earlier ExpiresAt, twice in one call: each time
	// keeps its own later value.
	mustCut(t, s, store.Cutoff{Key: key, NotBefore: at(25), ExpiresAt: at(60)},
		store.Cutoff{Key: key, NotBefore: at(30), ExpiresAt: at(70)})
	if !cutsAt(at(30)) || cutsAt(at(31)) {
		t.Errorf("later NotBefore in one call: cuts at(30) %v, at(31) %v; want true, false", cutsAt(at(30)), cutsAt(at(31)))
	}
	if expiredBy(at(150)) {
		t.Fatalf("the cutoff went at(150): its ExpiresAt moved back from at(200)")
	}
	if !expiredBy(at(200).Add(time.Microsecond)) {
		t.Errorf("the cutoff stayed past its ExpiresAt at(200)")
	}
}

// testCutsWithRevocations: RevokeGrant, RevokeAuthorization, DeleteClient
// and SetUserActive(false) store their cuts with what they delete, and
// store none when they fail; SetUserActive(true) ignores them.
func testCutsWithRevocations(t *testing.T, ctx context.Context, s store.Store) {
	p := mustParty(t, s)
	cut := func(kind func(string) string) store.Cutoff {
		return store.Cutoff{Key: kind(uuid.NewString()), NotBefore: at(5), ExpiresAt: at(100)}
	}
	check := func(what string, err, wantErr error, cuts []store.Cutoff, want bool) {
		t.Helper()
		if wantErr == nil && err != nil || wantErr != nil && !errors.Is(err, wantErr) {
			t.Errorf("%s = %v, want %v", what, err, wantErr)
		}
		for _, c := range cuts {
			if got := cutExists(t, s, c.Key); got != want {
				t.Errorf("%s: cutoff %q stored %v, want %v", what, c.Key, got, want)
			}
		}
	}

	// RevokeGrant: the grant's tokens go, its cuts come; an unknown grant
	// is not an error and its cuts are stored all the same.
	grant := uuid.NewString()
	r := mustRefresh(t, s, p, p.refresh(grant))
	cuts := []store.Cutoff{cut(store.GrantCutoffKey), cut(store.TokenCutoffKey)}
	check("RevokeGrant", s.RevokeGrant(ctx, grant, cuts...), nil, cuts, true)
	_, err := s.GetRefreshToken(ctx, r.Hash)
	checkExists(t, "refresh token of the revoked grant", err, false)
	cuts = []store.Cutoff{cut(store.GrantCutoffKey)}
	check("RevokeGrant(unknown)", s.RevokeGrant(ctx, uuid.NewString(), cuts...), nil, cuts, true)

	// RevokeAuthorization: with rows, and with none (ErrNotFound), which
	// still stores the cuts: the authorization's self-contained tokens
	// have no rows.
	grant = uuid.NewString()
	r = mustRefresh(t, s, p, p.refresh(grant))
	cuts = []store.Cutoff{cut(store.GrantCutoffKey)}
	check("RevokeAuthorization", s.RevokeAuthorization(ctx, p.user.UID, p.client.ID, cuts...), nil, cuts, true)
	_, err = s.GetRefreshToken(ctx, r.Hash)
	checkExists(t, "refresh token of the revoked authorization", err, false)
	cuts = []store.Cutoff{cut(store.GrantCutoffKey)}
	check("RevokeAuthorization(nothing left)", s.RevokeAuthorization(ctx, p.user.UID, p.client.ID, cuts...),
		store.ErrNotFound, cuts, true)

	// DeleteClient: an unknown client stores nothing.
	cuts = []store.Cutoff{cut(store.ClientCutoffKey)}
	check("DeleteClient(unknown)", s.DeleteClient(ctx, "no-such-client-"+shortID(), cuts...), store.ErrNotFound, cuts, false)
	gone := mustClient(t, s, newClient(p.org))
	cuts = []store.Cutoff{cut(store.ClientCutoffKey), cut(store.GrantCutoffKey)}
	check("DeleteClient", s.DeleteClient(ctx, gone.ID, cuts...), nil, cuts, true)
	_, err = s.GetClient(ctx, gone.ID)
	checkExists(t, "deleted client", err, false)

	// SetUserActive: an unknown user stores nothing, activation ignores
	// the cuts, deactivation stores them.
	cuts = []store.Cutoff{cut(store.UserCutoffKey)}
	check("SetUserActive(unknown, false)", s.SetUserActive(ctx, "no-such-uid-"+shortID(), false, at(1), cuts...),
		store.ErrNotFound, cuts, false)
	cuts = []store.Cutoff{cut(store.UserCutoffKey)}
	check("SetUserActive(true)", s.SetUserActive(ctx, p.user.UID, true, at(1), cuts...), nil, cuts, false)
	cuts = []store.Cutoff{cut(store.UserCutoffKey), cut(store.TokenCutoffKey)}
	check("SetUserActive(false)", s.SetUserActive(ctx, p.user.UID, false, at(2), cuts...), nil, cuts, true)
	if u, err := s.GetUser(ctx, p.user.UID); err != nil || u.Active {
		t.Errorf("user after SetUserActive(false): active %v, %v", u.Active, err)
	}
	// Again, already inactive: still stored.
	cuts = []store.Cutoff{cut(store.UserCutoffKey)}
	check("SetUserActive(false) again", s.SetUserActive(ctx, p.user.UID, false, at(3), cuts...), nil, cuts, true)
}

// testRedeemSelfContained: RedeemAuthCode with a nil access token claims
// the code and stores the refresh token, and no access token row; a replay
// is ErrAlreadyUsed, an unknown code ErrNotFound, as with a row.
func testRedeemSelfContained(t *testing.T, ctx context.Context, s store.Store) {
	p := mustParty(t, s)
	for _, withRefresh := range []bool{true, false} {
		grant := uuid.NewString()
		c := mustCode(t, s, p.code(grant))
		var ref *store.RefreshToken
		if withRefresh {
			ref = new(p.refresh(grant))
		}
		if err := s.RedeemAuthCode(ctx, c.Hash, at(2), nil, ref); err != nil {
			t.Fatalf("RedeemAuthCode(nil access, refresh %v): %v", withRefresh, err)
		}
		if got, err := s.GetAuthCode(ctx, c.Hash); err != nil {
			t.Errorf("GetAuthCode: %v", err)
		} else {
			checkTime(t, "AuthCode.UsedAt", got.UsedAt, at(2))
		}
		if ref != nil {
			got, err := s.GetRefreshToken(ctx, ref.Hash)
			if err != nil {
				t.Fatalf("GetRefreshToken: %v", err)
			}
			checkRefresh(t, got, *ref)
		}
		checkErrIs(t, "RedeemAuthCode(nil access) again", s.RedeemAuthCode(ctx, c.Hash, at(3), nil, new(p.refresh(grant))),
			store.ErrAlreadyUsed)
	}
	checkErrIs(t, "RedeemAuthCode(unknown, nil access)", s.RedeemAuthCode(ctx, hash(), at(2), nil, nil), store.ErrNotFound)
	if n := accessRows(t, s); n != 0 {
		t.Errorf("%d access token rows stored, want none", n)
	}
}

// testRotateSelfContained: RotateRefreshToken with a nil access token
// rotates as with one, grace included, and stores no access token row.
func testRotateSelfContained(t *testing.T, ctx context.Context, s store.Store) {
	p := mustParty(t, s)
	grant := uuid.NewString()
	c := mustCode(t, s, p.code(grant))
	old := p.refresh(grant)
	if err := s.RedeemAuthCode(ctx, c.Hash, at(1), nil, &old); err != nil {
		t.Fatalf("RedeemAuthCode: %v", err)
	}
	next := p.refresh(grant)
	if err := s.RotateRefreshToken(ctx, old.Hash, at(2), 0, nil, next); err != nil {
		t.Fatalf("RotateRefreshToken(nil access): %v", err)
	}
	got, err := s.GetRefreshToken(ctx, next.Hash)
	if err != nil {
		t.Fatalf("GetRefreshToken(new): %v", err)
	}
	checkRefresh(t, got, next)
	if got, err := s.GetRefreshToken(ctx, old.Hash); err != nil {
		t.Errorf("GetRefreshToken(old): %v", err)
	} else {
		checkTime(t, "old UsedAt", got.UsedAt, at(2))
	}
	checkErrIs(t, "RotateRefreshToken(nil access) again", s.RotateRefreshToken(ctx, old.Hash, at(3), 0, nil, p.refresh(grant)),
		store.ErrAlreadyUsed)
	// Within grace a second rotation wins too, keeping the first use.
	if err := s.RotateRefreshToken(ctx, old.Hash, at(3), 2*time.Minute, nil, p.refresh(grant)); err != nil {
		t.Errorf("RotateRefreshToken(nil access) within grace: %v", err)
	}
	if got, err := s.GetRefreshToken(ctx, old.Hash); err == nil {
		checkTime(t, "old UsedAt after a rotation within grace", got.UsedAt, at(2))
	}
	checkErrIs(t, "RotateRefreshToken(unknown, nil access)", s.RotateRefreshToken(ctx, hash(), at(2), 0, nil, p.refresh(grant)),
		store.ErrNotFound)
	if n := accessRows(t, s); n != 0 {
		t.Errorf("%d access token rows stored, want none", n)
	}
}

// raceRedeemSelfContained is raceRedeem with self-contained access tokens:
// exactly one redemption wins and only its refresh token exists.
func raceRedeemSelfContained(t *testing.T, stores []store.Store) {
	t.Helper()
	ctx := t.Context()
	p := mustParty(t, stores[0])
	grant := uuid.NewString()
	code := mustCode(t, stores[0], p.code(grant))
	var (
		errs [workers]error
		refs [workers]store.RefreshToken
	)
	for i := range workers {
		refs[i] = p.refresh(grant)
	}
	race(func(i int) {
		errs[i] = stores[i%len(stores)].RedeemAuthCode(ctx, code.Hash, at(1), nil, &refs[i])
	})
	checkOneWinner(t, "RedeemAuthCode", errs[:])
	checkOneStored(t, stores[0], "RedeemAuthCode", refs[:])
}

// raceRotateSelfContained is raceRotate with self-contained access tokens.
func raceRotateSelfContained(t *testing.T, stores []store.Store) { raceRotateWith(t, stores, false) }

// checkOneWinner: of a race's errs exactly one is nil, the others
// ErrAlreadyUsed.
func checkOneWinner(t *testing.T, what string, errs []error) {
	t.Helper()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrAlreadyUsed):
			t.Errorf("%s #%d: error = %v, want nil or ErrAlreadyUsed", what, i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%s: %d callers succeeded, want exactly 1", what, ok)
	}
}

// checkOneStored: exactly one of refs was stored.
func checkOneStored(t *testing.T, s store.Store, what string, refs []store.RefreshToken) {
	t.Helper()
	stored := 0
	for _, r := range refs {
		_, err := s.GetRefreshToken(t.Context(), r.Hash)
		if err == nil {
			stored++
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRefreshToken: %v", err)
		}
	}
	if stored != 1 {
		t.Errorf("%s stored %d refresh tokens, want 1", what, stored)
	}
}
