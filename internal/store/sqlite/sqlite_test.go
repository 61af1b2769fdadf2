package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlite"
	"github.com/tolk-project/tolk/internal/store/sqlstore"
	"github.com/tolk-project/tolk/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tolk.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "tolk.db"))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, db := range []struct {
		name string
		q    func(ctx context.Context, query string) (string, error)
	}{
		{"writer", s.WriterPragma},
		{"reader", s.ReaderPragma},
	} {
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"foreign_keys": "1",
			"synchronous":  "1", // NORMAL: the committer fsyncs the WAL itself (groupcommit.go)
			"busy_timeout": "5000",
			"temp_store":   "2", // MEMORY: savepoint and statement journals off the disk
		} {
			got, err := db.q(t.Context(), pragma)
			if err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", db.name, pragma, err)
			}
			if got != want {
				t.Errorf("%s: PRAGMA %s = %q, want %q", db.name, pragma, got, want)
			}
		}
	}
}

// TestTwoStoresOneFile: two Stores (as two processes would) migrate one
// file at once, then both see the same data.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tolk.db")
	a, b := open(t, path), open(t, path)
	var wg sync.WaitGroup
	for _, s := range []*sqlite.Store{a, b} {
		wg.Go(func() {
			if err := s.Migrate(t.Context()); err != nil {
				t.Errorf("Migrate: %v", err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	org := store.Organization{UID: "org-1", Name: "Org"}
	if err := a.CreateOrganization(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetOrganization(t.Context(), org.UID); err != nil {
		t.Fatalf("second Store does not see the first's write: %v", err)
	}
	if err := a.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
}

// TestTwoStoresConcurrentWrites: writers in different Stores (as in
// different processes) contend for the file lock; busy_timeout and BEGIN
// IMMEDIATE must make them wait, not fail with SQLITE_BUSY.
func TestTwoStoresConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tolk.db")
	stores := []*sqlite.Store{open(t, path), open(t, path)}
	if err := stores[0].Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	org := store.Organization{UID: "org-1", Name: "Org", CreatedAt: time.Now()}
	if err := stores[0].CreateOrganization(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	const workers = 16
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			<-start
			s := stores[i%2]
			for j := range 5 {
				name := fmt.Sprintf("u%d-%d", i, j)
				u := store.User{UID: name, ID: name, OrgUID: org.UID, UserName: name, Email: name + "@example.com",
					Role: store.RoleGuest, CreatedAt: time.Now(), UpdatedAt: time.Now()}
				if err := s.CreateUser(t.Context(), u); err != nil {
					t.Errorf("CreateUser: %v", err)
					return
				}
				if err := s.SignOutUser(t.Context(), u.UID, time.Now()); err != nil {
					t.Errorf("SignOutUser: %v", err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if n, err := stores[1].CountUsers(t.Context()); err != nil || n != workers*5 {
		t.Errorf("CountUsers = %d, %v; want %d", n, err, workers*5)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if s, err := sqlite.Open(t.Context(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

// TestInstances: two Stores on one file, as two processes, race the
// single-use steps and EnsureSigningKey.
func TestInstances(t *testing.T) {
	storetest.RunInstances(t, func(t *testing.T, n int) []store.Store {
		path := filepath.Join(t.TempDir(), "tolk.db")
		stores := make([]store.Store, n)
		for i := range stores {
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatalf("Open #%d: %v", i, err)
			}
			stores[i] = s
		}
		return stores
	})
}

// TestAuditListPlan: the audit list scans the time index, newest first,
// and reads no other index of audit_events (migration 0009 dropped the
// ones it never used), with or without filters.
func TestAuditListPlan(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "plan.db"))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	plan, err := s.AuditListPlan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || plan[0] != "SCAN audit_events USING INDEX audit_events_time" {
		t.Fatalf("plan %q", plan)
	}
}

// TestAccessTokenPlans: the revocations by grant and by user search the
// partial indexes that leave out client_credentials tokens, not the table.
func TestAccessTokenPlans(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "plan.db"))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, query, index string }{
		{"RevokeGrant", sqlite.RevokeGrantAccessSQL, "access_tokens_grant_id"},
		{"user's families", sqlite.UserFamilyAccessSQL, "access_tokens_grant_id"},
		{"user's tokens", sqlite.UserAccessSQL, "access_tokens_user_uid"},
		{"user's tokens of an app", sqlite.RevokeAuthorizationAccessSQL, "access_tokens_user_uid"},
	} {
		args := []any{"x"}
		if strings.Count(c.query, "?") == 2 {
			args = append(args, "y")
		}
		plan, err := s.Plan(t.Context(), c.query, args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		joined := strings.Join(plan, "; ")
		searched := strings.Contains(joined, "SEARCH access_tokens USING INDEX "+c.index) ||
			strings.Contains(joined, "SEARCH access_tokens USING COVERING INDEX "+c.index)
		if !searched || strings.Contains(joined, "SCAN access_tokens") {
			t.Errorf("%s: plan %q, want a search of %s", c.name, joined, c.index)
		}
	}
}

// TestAccessTokenCutPlan: the read of an access token's cutoffs, run on
// every verification, searches the primary key, not the table.
func TestAccessTokenCutPlan(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "plan.db"))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	plan, err := s.Plan(t.Context(), sqlite.AccessTokenCutSQL, "t:a", "g:b", nil, "u:d", nil, int64(1))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "; ")
	if !strings.Contains(joined, "SEARCH access_token_cutoffs USING PRIMARY KEY") || strings.Contains(joined, "SCAN access_token_cutoffs") {
		t.Errorf("plan %q, want a search of the primary key", joined)
	}
}

// TestExpiredDeletePlans: each batched delete of retention finds its rows
// through an index (the table's expiry index, then its primary key), so
// that a batch costs what it deletes, not a scan of the table.
func TestExpiredDeletePlans(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "plan.db"))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, kind := range store.ExpiredKinds() {
		q := sqlstore.ExpiredQuery(kind).In(sqlstore.SQLite)
		args := []any{}
		for range strings.Count(q, "?") - 1 {
			args = append(args, int64(1))
		}
		plan, err := s.Plan(t.Context(), q, append(args, 500)...)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		joined := strings.Join(plan, "; ")
		t.Logf("%s: %s", kind, joined)
		if strings.Contains(joined, "SCAN ") {
			t.Errorf("%s: plan %q scans a table", kind, joined)
		}
	}
}
