package storeopen_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/store/postgres"
	"github.com/tolk-project/tolk/internal/store/sqlite"
	"github.com/tolk-project/tolk/internal/store/storeopen"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

func TestSQLite(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, dsn := range []string{"sqlite:rel.db", "sqlite:" + filepath.Join(dir, "abs.db")} {
		s, err := storeopen.Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		if _, ok := s.(*sqlite.Store); !ok {
			t.Errorf("Open(%q) = %T, want *sqlite.Store", dsn, s)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Errorf("Migrate: %v", err)
		}
		s.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "rel.db")); err != nil {
		t.Errorf("relative path not resolved against the working directory: %v", err)
	}
}

func TestPostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	for _, dsn := range []string{dsn, "postgresql://" + strings.TrimPrefix(dsn, "postgres://")} {
		s, err := storeopen.Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		if _, ok := s.(*postgres.Store); !ok {
			t.Errorf("Open(%q) = %T, want *postgres.Store", dsn, s)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		s.Close()
	}
}

func TestUnsupported(t *testing.T) {
	for _, dsn := range []string{"", "sqlite:", "mysql://u:secret@h/db", "tolk.db", "SQLITE:x.db", "postgres:/x"} {
		s, err := storeopen.Open(t.Context(), dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", dsn)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error leaks the password: %v", dsn, err)
		}
	}
}
