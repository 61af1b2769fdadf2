package postgres_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/postgres"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// TestRefusesNewerSchema: a database migrated past this binary's last
// migration is refused by Migrate, naming both versions, and the older
// binary changes nothing in it.
func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.NewMigrated(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrating again at the same version: %v", err)
	}
	raw, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(ctx)
	var latest, before int
	if err := raw.QueryRow(ctx, `SELECT max(version), count(*) FROM schema_migrations`).Scan(&latest, &before); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future.sql')`, latest+7); err != nil {
		t.Fatal(err)
	}

	err = s.Migrate(ctx)
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
	if err := raw.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != before+1 {
		t.Errorf("schema_migrations rows = %d, %v; want %d (nothing changed)", rows, err, before+1)
	}
}
