package postgres_test

import (
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
		s, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
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
		dsn := pgtest.NewDatabase(t)
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
