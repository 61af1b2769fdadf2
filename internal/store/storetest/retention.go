package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tolk-project/tolk/internal/store"
)

// deleteExpired deletes every row of kinds past before, batch by batch,
// and returns how many it deleted.
func deleteExpired(ctx context.Context, s store.Store, before time.Time, kinds ...store.Expired) (int, error) {
	const limit = 1000
	total := 0
	for _, k := range kinds {
		for {
			n, err := s.DeleteExpired(ctx, k, before, limit)
			total += n
			if err != nil {
				return total, err
			}
			if n < limit {
				break
			}
		}
	}
	return total, nil
}

func runRetention(t *testing.T, open Opener) {
	t.Run("Batches", func(t *testing.T) { t.Parallel(); testExpiredBatches(t, open) })
	parallel(t, "RefreshFamilies", open, testExpiredRefreshFamilies)
	parallel(t, "Refusals", open, testDeleteExpiredRefusals)
	parallel(t, "Lease", open, testLease)
	parallel(t, "LeaseRace", open, func(t *testing.T, ctx context.Context, s store.Store) { raceLease(t, []store.Store{s}) })
}

// expiring seeds one row of a kind that is past `before` or not, and
// reports whether a seeded row is still there.
type expiring struct {
	kind store.Expired
	seed func(t *testing.T, s store.Store, p party, before time.Time, past bool) (exists func() bool)
}

// boundary is the last instant past before, or before itself, which is
// not past it: the test pins < against <=.
func boundary(before time.Time, past bool) time.Time {
	if past {
		return before.Add(-time.Microsecond)
	}
	return before
}

func found(t *testing.T, err error) bool {
	t.Helper()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

var expirings = []expiring{
	{store.ExpiredAuthCodes, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		c := p.code(uuid.NewString())
		c.ExpiresAt = boundary(before, past)
		mustCode(t, s, c)
		return func() bool { _, err := s.GetAuthCode(t.Context(), c.Hash); return found(t, err) }
	}},
	{store.ExpiredAccessTokens, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		a := p.access(uuid.NewString())
		a.ExpiresAt = boundary(before, past)
		if past && len(a.Hash)%2 == 0 {
			a.UserUID, a.GrantID = "", "" // client_credentials tokens go too
		}
		mustAccess(t, s, a)
		return func() bool { _, err := s.GetAccessToken(t.Context(), a.Hash); return found(t, err) }
	}},
	{store.ExpiredRefreshTokens, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		grant := uuid.NewString()
		c := p.code(grant)
		mustCode(t, s, c)
		r := p.refresh(grant)
		r.ExpiresAt = boundary(before, past)
		if err := s.RedeemAuthCode(t.Context(), c.Hash, at(0), new(p.access(grant)), &r); err != nil {
			t.Fatalf("RedeemAuthCode: %v", err)
		}
		return func() bool { _, err := s.GetRefreshToken(t.Context(), r.Hash); return found(t, err) }
	}},
	{store.ExpiredAPITokens, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		tok := mustToken(t, s, newToken(p.user.UID, boundary(before, past)))
		return func() bool { _, err := s.GetAPIToken(t.Context(), tok.Hash); return found(t, err) }
	}},
	{store.ExpiredWebSessions, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		ws := newSession(p.user.UID)
		ws.ExpiresAt = boundary(before, past)
		mustSession(t, s, ws)
		return func() bool { _, err := s.GetWebSession(t.Context(), ws.Hash); return found(t, err) }
	}},
	{store.ExpiredPendingLogins, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		pl := store.PendingLogin{Hash: hash(), UserUID: p.user.UID, CreatedAt: base(), ExpiresAt: boundary(before, past)}
		if err := s.CreatePendingLogin(t.Context(), pl); err != nil {
			t.Fatalf("CreatePendingLogin: %v", err)
		}
		return func() bool { _, err := s.GetPendingLogin(t.Context(), pl.Hash); return found(t, err) }
	}},
	{store.ExpiredPlatformTokens, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		tok := mustPlatformToken(t, s, newPlatformToken(p.user.UID, boundary(before, past)))
		return func() bool { _, err := s.GetPlatformToken(t.Context(), tok.ID); return found(t, err) }
	}},
	{store.ExpiredRateLimits, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		// A bucket is full from its instant on: one full at before goes,
		// one full a microsecond later stays.
		full := before
		if !past {
			full = before.Add(time.Microsecond)
		}
		key := "limit:" + hash()
		if ok, _, err := s.TakeRateLimit(t.Context(), key, time.Minute, time.Hour, full.Add(-time.Minute)); err != nil || !ok {
			t.Fatalf("TakeRateLimit = %v, %v", ok, err)
		}
		return func() bool {
			tat, err := s.GetRateLimit(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			return !tat.IsZero()
		}
	}},
	{store.ExpiredPasswordResets, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		r := newPasswordReset(p.user.UID, boundary(before, past))
		if err := s.CreatePasswordReset(t.Context(), r); err != nil {
			t.Fatalf("CreatePasswordReset: %v", err)
		}
		return func() bool { _, err := s.GetPasswordReset(t.Context(), r.Hash); return found(t, err) }
	}},
	{store.ExpiredAccessTokenCutoffs, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		c := store.Cutoff{Key: store.GrantCutoffKey(uuid.NewString()), NotBefore: at(0), ExpiresAt: boundary(before, past)}
		mustCut(t, s, c)
		return func() bool { return cutExists(t, s, c.Key) }
	}},
	{store.ExpiredAuditEvents, func(t *testing.T, s store.Store, p party, before time.Time, past bool) func() bool {
		e := mustAudit(t, s, newAuditEvent("login", boundary(before, past)))
		return func() bool {
			for _, got := range listAudit(t, s, store.AuditFilter{Limit: 1000}) {
				if got.ID == e.ID {
					return true
				}
			}
			return false
		}
	}},
}

// testExpiredBatches: for every kind, DeleteExpired deletes what is past
// before and nothing else, at most limit rows per call, and reports how
// many; a call that finds fewer than limit has left none.
func testExpiredBatches(t *testing.T, open Opener) {
	if len(expirings) != len(store.ExpiredKinds()) {
		t.Fatalf("the suite covers %d kinds, the store names %d", len(expirings), len(store.ExpiredKinds()))
	}
	const past, live, limit = 7, 3, 3
	for _, e := range expirings {
		parallel(t, string(e.kind), open, func(t *testing.T, ctx context.Context, s store.Store) {
			p := mustParty(t, s)
			before := at(100)
			var gone, kept []func() bool
			for range past {
				gone = append(gone, e.seed(t, s, p, before, true))
			}
			for range live {
				kept = append(kept, e.seed(t, s, p, before, false))
			}
			for i, want := range []int{3, 3, 1, 0} {
				n, err := s.DeleteExpired(ctx, e.kind, before, limit)
				if err != nil || n != want {
					t.Fatalf("DeleteExpired #%d = %d, %v; want %d (limit %d)", i+1, n, err, want, limit)
				}
			}
			for i, exists := range gone {
				if exists() {
					t.Errorf("row %d past before is still there", i)
				}
			}
			for i, exists := range kept {
				if !exists() {
					t.Errorf("live row %d was deleted", i)
				}
			}
		})
	}
}

// testExpiredRefreshFamilies: an expired refresh token stays while a token
// of its family is live (reuse detection needs it) and goes with a dead
// family; never-expiring tokens stay.
func testExpiredRefreshFamilies(t *testing.T, ctx context.Context, s store.Store) {
	p := mustParty(t, s)
	before := at(100)
	// start redeems a code for a family whose first token expires at exp.
	start := func(exp time.Time) store.RefreshToken {
		grant := uuid.NewString()
		c := mustCode(t, s, p.code(grant))
		r := p.refresh(grant)
		r.ExpiresAt = exp
		if err := s.RedeemAuthCode(ctx, c.Hash, at(0), new(p.access(grant)), &r); err != nil {
			t.Fatalf("RedeemAuthCode: %v", err)
		}
		return r
	}
	rotate := func(old store.RefreshToken, when, exp time.Time) store.RefreshToken {
		r := p.refresh(old.GrantID)
		r.ExpiresAt = exp
		if err := s.RotateRefreshToken(ctx, old.Hash, when, 0, new(p.access(old.GrantID)), r); err != nil {
			t.Fatalf("RotateRefreshToken: %v", err)
		}
		return r
	}
	// A living family: its rotated token expired, its successor did not.
	livingOld := start(at(50))
	livingNew := rotate(livingOld, at(10), at(200))
	// A dead family: its rotated token and its successor both expired.
	deadOld := start(at(50))
	deadNew := rotate(deadOld, at(10), at(60))
	// A longer dead family: three tokens, all expired.
	chainFirst := start(at(20))
	chainSecond := rotate(chainFirst, at(10), at(30))
	chainLast := rotate(chainSecond, at(11), at(40))
	// A family that never expires, rotated once.
	foreverOld := start(time.Time{})
	foreverNew := rotate(foreverOld, at(10), time.Time{})

	n, err := deleteExpired(ctx, s, before, store.ExpiredRefreshTokens)
	if err != nil || n != 5 {
		t.Errorf("DeleteExpired = %d, %v; want 5 (the dead families' tokens)", n, err)
	}
	for _, c := range []struct {
		what string
		tok  store.RefreshToken
		want bool
	}{
		{"rotated token of a living family", livingOld, true},
		{"live token", livingNew, true},
		{"rotated token of a dead family", deadOld, false},
		{"expired token of a dead family", deadNew, false},
		{"first token of a longer dead family", chainFirst, false},
		{"second token of a longer dead family", chainSecond, false},
		{"last token of a longer dead family", chainLast, false},
		{"rotated never-expiring token", foreverOld, true},
		{"never-expiring token", foreverNew, true},
	} {
		_, err := s.GetRefreshToken(ctx, c.tok.Hash)
		checkExists(t, c.what, err, c.want)
	}
}

func testDeleteExpiredRefusals(t *testing.T, ctx context.Context, s store.Store) {
	if _, err := s.DeleteExpired(ctx, store.Expired("users"), at(0), 10); err == nil {
		t.Error("DeleteExpired(users) succeeded; want an error for a kind that never expires")
	}
	if _, err := s.DeleteExpired(ctx, store.ExpiredAccessTokens, at(0), 0); err == nil {
		t.Error("DeleteExpired with limit 0 succeeded; want an error")
	}
}

// testLease: a lease goes to the first taker, is renewed by its holder,
// refused to others until it runs out, and freed by its holder alone.
func testLease(t *testing.T, ctx context.Context, s store.Store) {
	take := func(name, holder string, now time.Time, want bool) {
		t.Helper()
		got, err := s.TakeLease(ctx, name, holder, now, now.Add(10*time.Minute))
		if err != nil || got != want {
			t.Fatalf("TakeLease(%s, %s, %v) = %v, %v; want %v", name, holder, now.Sub(base()), got, err, want)
		}
	}
	take("sweep", "a", at(0), true)
	take("sweep", "b", at(1), false)
	take("other", "b", at(1), true) // leases are independent
	take("sweep", "a", at(5), true) // renewed until at(15)
	take("sweep", "b", at(14), false)
	take("sweep", "b", at(15), true) // ran out
	take("sweep", "a", at(16), false)
	if err := s.ReleaseLease(ctx, "sweep", "a"); err != nil {
		t.Fatal(err)
	}
	take("sweep", "a", at(17), false) // a released nothing: b holds it
	if err := s.ReleaseLease(ctx, "sweep", "b"); err != nil {
		t.Fatal(err)
	}
	take("sweep", "a", at(18), true)
}

// raceLease: of holders that take a free lease at once, through one or
// several stores on one database, exactly one gets it.
func raceLease(t *testing.T, stores []store.Store) {
	const rounds = 5
	for round := range rounds {
		name := fmt.Sprint("race-", round)
		var mu sync.Mutex
		won := 0
		race(func(i int) {
			s := stores[i%len(stores)]
			ok, err := s.TakeLease(t.Context(), name, fmt.Sprint("holder-", i), at(0), at(10))
			if err != nil {
				t.Errorf("TakeLease #%d: %v", i, err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
		if won != 1 {
			t.Errorf("round %d: %d holders took the lease, want 1", round, won)
		}
	}
}
