package pgtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tolk-project/tolk/internal/store/postgres"
)

// templateLockKey serializes the processes that may build the same template
// at once ("tolktmpl" in ASCII); go test runs packages in parallel.
const templateLockKey int64 = 0x746f6c6b746d706c

// NewMigrated is NewDatabase with tolk's schema already applied: the
// database is a copy of a template migrated once per schema (its name holds
// a digest of the migrations, so a changed migration gets a new template).
// Migrate on the copy finds nothing to do. Use NewDatabase for tests of
// migrating itself or of starting on an empty database.
func NewMigrated(t testing.TB) string {
	t.Helper()
	digest, err := postgres.SchemaDigest()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return newDatabase(t, "tolk_template_"+digest)
}

// ensureTemplate creates the migrated template named name unless it
// exists. It is built under another name and renamed when complete, so a
// template that exists is always whole, even after a crash mid-build.
func ensureTemplate(ctx context.Context, admin *pgx.Conn, adminDSN, name string) error {
	exists := func() (bool, error) {
		var ok bool
		err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok)
		return ok, err
	}
	if ok, err := exists(); err != nil || ok {
		return err
	}
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock($1)`, templateLockKey); err != nil {
		return err
	}
	defer admin.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, templateLockKey) //nolint:errcheck // released with the connection anyway
	if ok, err := exists(); err != nil || ok {
		return err
	}

	build := "tolk_build_" + randomHex(8)
	buildIdent := pgx.Identifier{build}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+buildIdent); err != nil {
		return err
	}
	dropBuild := func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+buildIdent+" WITH (FORCE)")
	}
	dsn, err := withDatabase(adminDSN, build)
	if err != nil {
		dropBuild()
		return err
	}
	mctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := postgres.Open(mctx, dsn)
	if err != nil {
		dropBuild()
		return err
	}
	err = s.Migrate(mctx)
	s.Close()
	if err != nil {
		dropBuild()
		return fmt.Errorf("migrate: %w", err)
	}
	// No connection may remain for the copy to start; nobody connects to a
	// template afterwards.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+buildIdent+" WITH ALLOW_CONNECTIONS false"); err != nil {
		dropBuild()
		return err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+buildIdent+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
		dropBuild()
		return err
	}
	return nil
}
