package postgres_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/postgres"
	"github.com/tolk-project/tolk/internal/store/storetest"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(t.Context(), pgtest.NewMigrated(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// TestConcurrentMigrateAndBootstrap: four processes' worth of Stores start
// at once on one empty database; all migrate, exactly one bootstraps.
func TestConcurrentMigrateAndBootstrap(t *testing.T) {
	const n = 4
	dsn := pgtest.NewDatabase(t)
	stores := make([]*postgres.Store, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := postgres.Open(t.Context(), dsn)
			if err != nil {
				t.Errorf("Open #%d: %v", i, err)
				return
			}
			stores[i] = s
			if err := s.Migrate(t.Context()); err != nil {
				t.Errorf("Migrate #%d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	t.Cleanup(func() {
		for _, s := range stores {
			if s != nil {
				s.Close()
			}
		}
	})
	if t.Failed() {
		return
	}

	var created [n]bool
	start = make(chan struct{})
	for i, s := range stores {
		wg.Go(func() {
			<-start
			org := store.Organization{UID: uuid.NewString(), Name: "Org"}
			admin := store.User{
				UID: uuid.NewString(), ID: uuid.NewString()[:8], OrgUID: org.UID,
				UserName: "admin", Email: "admin@example.com", Role: store.RoleAdmin, Active: true,
			}
			var err error
			if created[i], err = s.BootstrapAdmin(t.Context(), org, admin); err != nil {
				t.Errorf("BootstrapAdmin #%d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, c := range created {
		if c {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("%d Stores bootstrapped, want exactly 1", wins)
	}
	if c, err := stores[0].CountUsers(t.Context()); err != nil || c != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", c, err)
	}
}

// TestInstances: two Stores on one database, as two processes, race the
// single-use steps and EnsureSigningKey.
func TestInstances(t *testing.T) {
	storetest.RunInstances(t, func(t *testing.T, n int) []store.Store {
		dsn := pgtest.NewMigrated(t)
		stores := make([]store.Store, n)
		for i := range stores {
			s, err := postgres.Open(t.Context(), dsn)
			if err != nil {
				t.Fatalf("Open #%d: %v", i, err)
			}
			stores[i] = s
		}
		return stores
	})
}

// TestIssuanceCommitsAsynchronously: issuance writes go through
// connections with synchronous_commit off, everything else (revocations)
// through connections with it on; SyncIssuance puts both on; the pools
// are sized for a busy token endpoint unless the DSN sizes them.
func TestIssuanceCommitsAsynchronously(t *testing.T) {
	dsn := pgtest.NewMigrated(t)
	for _, c := range []struct {
		name        string
		sync        bool
		main, issue string
	}{
		{"default", false, "on", "off"},
		{"sync_issuance", true, "on", "on"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := postgres.OpenWith(t.Context(), dsn, postgres.Options{SyncIssuance: c.sync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			main, issue, err := s.SynchronousCommit(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if main != c.main || issue != c.issue {
				t.Fatalf("synchronous_commit: main %s, issuance %s; want %s, %s", main, issue, c.main, c.issue)
			}
			if m, _ := s.MaxConns(); m < 16 {
				t.Fatalf("main pool of %d connections, want at least 16", m)
			}
		})
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	s, err := postgres.Open(t.Context(), dsn+sep+"pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m, i := s.MaxConns(); m != 3 || i != 3 {
		t.Fatalf("pool_max_conns=3 gave pools of %d and %d", m, i)
	}
}

// TestInvalidTextIsNotFound: PostgreSQL refuses NUL and invalid UTF-8 in
// text with an error where SQLite finds no row; the store answers such a
// key "not found" too, in case a caller did not check it (T43).
func TestInvalidTextIsNotFound(t *testing.T) {
	s, err := postgres.Open(t.Context(), pgtest.NewMigrated(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	for _, key := range []string{"a\x00b", "a\xffb"} {
		if _, err := s.GetClient(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetClient(%q): %v, want ErrNotFound", key, err)
		}
		if _, err := s.GetUserByUserName(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUserByUserName(%q): %v, want ErrNotFound", key, err)
		}
		if _, err := s.GetConsent(t.Context(), key, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetConsent(%q): %v, want ErrNotFound", key, err)
		}
		if err := s.DeletePlatformToken(t.Context(), key, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeletePlatformToken(%q): %v, want ErrNotFound", key, err)
		}
	}
}
