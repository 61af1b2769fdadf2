package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tolk-project/tolk/internal/store"
)

// TestClaimAndIssueRetriesADeadlock: the one statement that rotates a
// refresh token deadlocks against a transaction that holds the client's
// row and then wants the token's (as a client deletion cascading would);
// PostgreSQL aborts the statement, and it is run again once the other
// transaction is gone, instead of failing the rotation.
func TestClaimAndIssueRetriesADeadlock(t *testing.T) {
	ctx := t.Context()
	s, dsn, org, now := clientsDB(t, "dl-client")
	u := createUser(t, s, org, now, "00000000-0000-4000-8000-0000000000c9", "dl")
	refresh := func(i int) store.RefreshToken {
		return store.RefreshToken{Hash: fmt.Sprint("dl-rt-", i), ClientID: "dl-client", UserUID: u.UID, OrgUID: org.UID,
			GrantID: "dl-grant", CreatedAt: now}
	}
	access := func(i int) store.AccessToken {
		return store.AccessToken{Hash: fmt.Sprint("dl-at-", i), ClientID: "dl-client", UserUID: u.UID, OrgUID: org.UID,
			GrantID: "dl-grant", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	code := store.AuthCode{Hash: "dl-code", ClientID: "dl-client", UserUID: u.UID, GrantID: "dl-grant", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := s.CreateAuthCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	old := refresh(0)
	if err := s.RedeemAuthCode(ctx, code.Hash, now, new(access(0)), &old); err != nil {
		t.Fatal(err)
	}

	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	// The other side must not be the one PostgreSQL picks to abort.
	if _, err := other.Exec(ctx, `SET deadlock_timeout = '60s'`); err != nil {
		t.Fatal(err)
	}
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM clients WHERE id = 'dl-client' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	rotated := make(chan error, 1)
	go func() {
		rotated <- s.RotateRefreshToken(ctx, old.Hash, now.Add(time.Second), 0, new(access(1)), refresh(1))
	}()
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH claimed%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotation never waited for the client's row")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Now the cycle: the rotation holds the token's row and waits for the
	// client's; this waits for the token's.
	if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET grant_id = grant_id WHERE hash = $1`, old.Hash); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-rotated; err != nil {
		t.Fatalf("rotation that lost a deadlock: %v, want it run again and done", err)
	}
	if _, err := s.GetRefreshToken(ctx, refresh(1).Hash); err != nil {
		t.Fatalf("new refresh token: %v", err)
	}
}
