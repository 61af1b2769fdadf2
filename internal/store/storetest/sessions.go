package storetest

import (
	"context"
	"testing"

	"github.com/tolk-project/tolk/internal/store"
)

// runSessions checks store.Sessions: the sessions page's lists, the
// forward-only touches and deleting one's own session or ApiToken only.
func runSessions(t *testing.T, open Opener) {
	parallel(t, "WebSessions", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u := mustUser(t, s, newUser(o, "sofia"))
		other := mustUser(t, s, newUser(o, "otto"))
		old := newSession(u.UID)
		old.UserAgent, old.Address = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", "192.0.2.7"
		mustSession(t, s, old)
		recent := newSession(u.UID)
		recent.CreatedAt = at(5)
		mustSession(t, s, recent)
		expired := newSession(u.UID)
		expired.ExpiresAt = at(1)
		mustSession(t, s, expired)
		theirs := mustSession(t, s, newSession(other.UID))

		list, total, err := s.ListWebSessions(ctx, u.UID, at(2), 10)
		if err != nil || total != 2 || len(list) != 2 || list[0].Hash != recent.Hash || list[1].Hash != old.Hash {
			t.Fatalf("ListWebSessions = %d of %d (%v), want recent then old of 2", len(list), total, err)
		}
		checkSession(t, list[1], old)
		if list[1].UserAgent != old.UserAgent || list[1].Address != old.Address || !list[1].LastSeenAt.IsZero() {
			t.Errorf("listed device = %q %q %v, want as created, never seen", list[1].UserAgent, list[1].Address, list[1].LastSeenAt)
		}
		if list, total, err := s.ListWebSessions(ctx, u.UID, at(2), 1); err != nil || total != 2 || len(list) != 1 {
			t.Errorf("ListWebSessions(limit 1) = %d of %d (%v), want 1 of 2", len(list), total, err)
		}

		if err := s.TouchWebSession(ctx, old.Hash, at(10), "198.51.100.1", "curl/8"); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchWebSession(ctx, old.Hash, at(9), "203.0.113.9", "late"); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchWebSession(ctx, hash(), at(9), "203.0.113.9", "unknown"); err != nil {
			t.Errorf("TouchWebSession(unknown) = %v, want nil", err)
		}
		got, err := s.GetWebSession(ctx, old.Hash)
		if err != nil {
			t.Fatal(err)
		}
		checkTime(t, "LastSeenAt", got.LastSeenAt, at(10))
		if got.Address != "198.51.100.1" || got.UserAgent != "curl/8" {
			t.Errorf("after touches: %q %q, want the later touch's, never moved back", got.Address, got.UserAgent)
		}

		if ok, err := s.DeleteUserWebSession(ctx, u.UID, theirs.Hash); err != nil || ok {
			t.Errorf("DeleteUserWebSession(another user's) = %v, %v; want false, nil", ok, err)
		}
		if _, err := s.GetWebSession(ctx, theirs.Hash); err != nil {
			t.Errorf("another user's session after a foreign delete: %v", err)
		}
		if ok, err := s.DeleteUserWebSession(ctx, u.UID, old.Hash); err != nil || !ok {
			t.Errorf("DeleteUserWebSession = %v, %v; want true, nil", ok, err)
		}
		if ok, err := s.DeleteUserWebSession(ctx, u.UID, old.Hash); err != nil || ok {
			t.Errorf("DeleteUserWebSession again = %v, %v; want false, nil", ok, err)
		}
	})
	parallel(t, "APITokens", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u := mustUser(t, s, newUser(o, "tara"))
		other := mustUser(t, s, newUser(o, "uwe"))
		first := newToken(u.UID, at(60))
		second := newToken(u.UID, at(60))
		second.CreatedAt = at(1)
		gone := newToken(u.UID, at(1))
		theirs := newToken(other.UID, at(60))
		for _, tok := range []store.APIToken{first, second, gone, theirs} {
			if err := s.CreateAPIToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		list, total, err := s.ListAPITokens(ctx, u.UID, at(2), 10)
		if err != nil || total != 2 || len(list) != 2 || list[0].Hash != second.Hash || list[1].Hash != first.Hash {
			t.Fatalf("ListAPITokens = %d of %d (%v), want second then first of 2", len(list), total, err)
		}
		if !list[0].LastUsedAt.IsZero() {
			t.Errorf("new token LastUsedAt = %v, want zero", list[0].LastUsedAt)
		}
		if err := s.TouchAPIToken(ctx, first.Hash, at(7)); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchAPIToken(ctx, first.Hash, at(3)); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAPIToken(ctx, first.Hash)
		if err != nil {
			t.Fatal(err)
		}
		checkTime(t, "LastUsedAt", got.LastUsedAt, at(7))

		if ok, err := s.DeleteUserAPIToken(ctx, u.UID, theirs.Hash); err != nil || ok {
			t.Errorf("DeleteUserAPIToken(another user's) = %v, %v; want false, nil", ok, err)
		}
		if _, err := s.GetAPIToken(ctx, theirs.Hash); err != nil {
			t.Errorf("another user's token after a foreign delete: %v", err)
		}
		if ok, err := s.DeleteUserAPIToken(ctx, u.UID, first.Hash); err != nil || !ok {
			t.Errorf("DeleteUserAPIToken = %v, %v; want true, nil", ok, err)
		}
		_, err = s.GetAPIToken(ctx, first.Hash)
		checkErrIs(t, "GetAPIToken(deleted)", err, store.ErrNotFound)
	})
}
