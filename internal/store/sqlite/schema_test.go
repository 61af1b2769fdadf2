package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the driver the store uses, for a raw connection

	"github.com/tolk-project/tolk/internal/store"
)

// TestRefusesNewerSchema: a database migrated past this binary's last
// migration is refused by Migrate, naming both versions, and the older
// binary changes nothing in it.
func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tolk.db")
	s := open(t, path)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var latest int
	if err := raw.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("migrating again at the same version: %v", err)
	}
	var before int
	if err := raw.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future.sql', 0)`, latest+7); err != nil {
		t.Fatal(err)
	}

	err = s.Migrate(t.Context())
	var tooNew *store.SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Database != latest+7 || tooNew.Binary != latest {
		t.Fatalf("Migrate = %v, want SchemaTooNewError{%d, %d}", err, latest+7, latest)
	}
	for _, v := range []string{"version " + strconv.Itoa(latest+7), "tolk's " + strconv.Itoa(latest)} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("%q does not name %q", err, v)
		}
	}
	var rows int
	if err := raw.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != before+1 {
		t.Errorf("schema_migrations rows = %d, %v; want %d (nothing changed)", rows, err, before+1)
	}
}
