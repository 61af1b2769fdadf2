package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	s, _, org, now := clientsDB(t, "batch-client")
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

// TestTokenBatchCallerMayLeave: while both batches in flight are stuck (on
// a lock of their client's row), a queued caller whose context ends
// leaves at once with its context's error, and its token is not stored;
// the stuck ones finish when the lock goes.
func TestTokenBatchCallerMayLeave(t *testing.T) {
	ctx := t.Context()
	s, dsn, org, now := clientsDB(t, "locked", "free")
	tok := func(client string, i int) store.AccessToken {
		return store.AccessToken{Hash: fmt.Sprintf("leave-%s-%d", client, i), ClientID: client, OrgUID: org.UID,
			GrantID: fmt.Sprint("g", i), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}

	// Hold the client row the way a deletion would: inserts of its tokens
	// wait for the foreign key's lock.
	lock, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(context.Background())
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM clients WHERE id = 'locked' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	// Watched from another connection: pg_stat_activity is read once per
	// transaction, and lock's stays open.
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	waiting := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var n int
			if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO access_tokens%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d inserts waiting on the lock, want %d", n, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// One at a time, so that each leads its own batch: both lanes stuck.
	stuck := make(chan error, 2)
	for i := range 2 {
		go func() { stuck <- s.CreateAccessToken(ctx, tok("locked", i)) }()
		waiting(i + 1)
	}

	// Both lanes are stuck: this one queues, and its context ends.
	short, cancel := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() { left <- s.CreateAccessToken(short, tok("free", 9)) }()
	time.Sleep(50 * time.Millisecond) // let it queue (it leaves the same way if it has not yet)
	cancel()
	select {
	case err := <-left:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("queued caller whose context ended: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a queued caller whose context ended still waits for the stuck batches")
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-stuck; err != nil {
			t.Fatalf("stuck insert after the lock went: %v", err)
		}
	}
	if _, err := s.GetAccessToken(ctx, tok("free", 9).Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token of the caller that left: %v, want ErrNotFound", err)
	}
}

// clientsDB opens a migrated store on a fresh database with one
// organization and the clients named, and returns it, its DSN, the
// organization and the time it used.
func clientsDB(t *testing.T, clients ...string) (*postgres.Store, string, store.Organization, time.Time) {
	t.Helper()
	ctx := t.Context()
	dsn := pgtest.NewMigrated(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	org := store.Organization{UID: "00000000-0000-4000-8000-0000000000b7", Name: "org", CreatedAt: now}
	if err := s.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	for _, id := range clients {
		if err := s.CreateClient(ctx, store.Client{ID: id, OrgUID: org.UID, Name: id, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	return s, dsn, org, now
}

// createUser stores an active linguist of org named name.
func createUser(t *testing.T, s *postgres.Store, org store.Organization, now time.Time, uid, name string) store.User {
	t.Helper()
	u := store.User{UID: uid, ID: name, OrgUID: org.UID, UserName: name, Email: name + "@example.com",
		Role: store.RoleLinguist, PasswordHash: "x", Active: true, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return u
}
