package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// migrationsFS holds the schema, one file per version, named
// NNNN_description.sql and applied in version order. Applied files must never
// change; add a new file instead. Migrations run inside a transaction with
// foreign_keys on (the pragma cannot change mid-transaction), so a table
// rebuild must use PRAGMA defer_foreign_keys rather than turning them off.
//
//go:embed migrations/*.sql
var migrationsFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationsFS, "migrations") // sorted by name
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		prefix, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		if len(ms) > 0 && v <= ms[len(ms)-1].version {
			return nil, fmt.Errorf("migration %s: version %d not after %s", name, v, ms[len(ms)-1].name)
		}
		b, err := migrationsFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

// Migrate applies pending migrations, each in its own transaction together
// with its schema_migrations row. Write transactions are BEGIN IMMEDIATE, so
// concurrent migrators (other Stores, other processes) take turns on the
// database's write lock and each migration runs exactly once.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if err := s.refuseNewerSchema(ctx, ms[len(ms)-1].version); err != nil {
		return err
	}
	for _, m := range ms {
		err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    INTEGER NOT NULL PRIMARY KEY,
				name       TEXT    NOT NULL,
				applied_at INTEGER NOT NULL
			) STRICT`); err != nil {
				return err
			}
			var applied bool
			if err := tx.QueryRowContext(ctx,
				`SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.version,
			).Scan(&applied); err != nil {
				return err
			}
			if applied {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, micros(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// refuseNewerSchema returns a *store.SchemaTooNewError when the database
// holds a migration past latest, before this binary changes anything.
func (s *Store) refuseNewerSchema(ctx context.Context, latest int) error {
	var newest sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil // a new database
		}
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if newest.Valid && int(newest.Int64) > latest {
		return &store.SchemaTooNewError{Database: int(newest.Int64), Binary: latest}
	}
	return nil
}
