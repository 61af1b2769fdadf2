package postgres_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/postgres"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// TestTokenBatch: a batch of access tokens is one multi-row INSERT when
// every row is good; when one is bad (a taken hash, an unknown client) the
// batch goes row by row, so that the bad rows fail alone, each with its
// own error, and every good row is stored.
func TestTokenBatch(t *testing.T) {
	ctx := t.Context()
	s, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	org := store.Organization{UID: "00000000-0000-4000-8000-0000000000b7", Name: "batch", CreatedAt: now}
	if err := s.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, store.Client{ID: "batch-client", OrgUID: org.UID, Name: "b", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	tok := func(i int) store.AccessToken {
		return store.AccessToken{Hash: fmt.Sprintf("batch-%s-%03d", t.Name(), i), ClientID: "batch-client", OrgUID: org.UID,
			Scopes: []string{"read"}, Audiences: []string{"tms"}, GrantID: fmt.Sprint("g", i), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	stored := func(a store.AccessToken) bool {
		_, err := s.GetAccessToken(ctx, a.Hash)
		return err == nil
	}

	good := []store.AccessToken{tok(1), tok(2), tok(3), tok(4)}
	for i, err := range s.InsertTokenBatch(ctx, good) {
		if err != nil || !stored(good[i]) {
			t.Fatalf("good batch, row %d: %v (stored %v)", i, err, stored(good[i]))
		}
	}

	bad := []store.AccessToken{tok(5), tok(2) /* taken */, tok(6), tok(7), tok(8)}
	bad[3].ClientID = "no-such-client"
	errs := s.InsertTokenBatch(ctx, bad)
	for i, err := range errs {
		switch i {
		case 1:
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("taken hash: %v, want ErrConflict", err)
			}
		case 3:
			if err == nil || stored(bad[i]) {
				t.Errorf("unknown client: %v (stored %v), want an error and no row", err, stored(bad[i]))
			}
		default:
			if err != nil || !stored(bad[i]) {
				t.Errorf("good row %d of a bad batch: %v (stored %v)", i, err, stored(bad[i]))
			}
		}
	}
}
