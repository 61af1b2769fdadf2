package sqlite_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlite"
)

// TestFilesAreOwnerOnly: the database, its WAL and its shared-memory file
// hold password and token hashes and sealed keys, so every file the store
// creates is readable by its owner only (mode 0600), checked after open,
// after writes and again after a reopen (SQLite recreates -wal and -shm).
func TestFilesAreOwnerOnly(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits on Windows")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "tolk.db")
	check := func(t *testing.T, want ...string) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, e.Name())
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s has mode %04o, want 0600", e.Name(), perm)
			}
		}
		for _, w := range want {
			if !slices.Contains(names, w) {
				t.Errorf("%s missing; files: %v", w, names)
			}
		}
	}
	write := func(t *testing.T, s *sqlite.Store, name string) {
		t.Helper()
		now := time.Now()
		org := store.Organization{UID: "org-" + name, Name: "Org", CreatedAt: now}
		if err := s.CreateOrganization(t.Context(), org); err != nil {
			t.Fatal(err)
		}
		u := store.User{UID: "uid-" + name, ID: name, OrgUID: org.UID, UserName: name, Email: name + "@example.com",
			Role: store.RoleLinguist, PasswordHash: "x", Active: true, CreatedAt: now, UpdatedAt: now}
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}

	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("after open", func(t *testing.T) { check(t, "tolk.db") })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	write(t, s, "first")
	t.Run("after writes", func(t *testing.T) { check(t, "tolk.db", "tolk.db-wal", "tolk.db-shm") })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	write(t, s, "second")
	t.Run("after a reopen and writes", func(t *testing.T) { check(t, "tolk.db", "tolk.db-wal", "tolk.db-shm") })
}
