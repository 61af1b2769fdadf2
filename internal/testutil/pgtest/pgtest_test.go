package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tolk-project/tolk/internal/store/postgres"
)

func TestWithDatabase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:p@h:5432/test?sslmode=disable", "postgres://u:p@h:5432/db?sslmode=disable"},
		{"postgresql://h/", "postgresql://h/db"},
		{"host=h user=u dbname=test", "host=h user=u dbname=test dbname=db"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.in, "db")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNewDatabase(t *testing.T) {
	ctx := context.Background()
	var name string
	t.Run("create", func(t *testing.T) {
		dsn := NewDatabase(t)
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var tables int
		if err := c.QueryRow(ctx,
			`SELECT current_database(), (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')`,
		).Scan(&name, &tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("fresh database has %d tables", tables)
		}
	})
	if name == "" {
		return // skipped
	}
	// The subtest's cleanup has run: the database must be gone.
	dsn := NewDatabase(t)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var exists bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after cleanup", name)
	}
}

// TestNewMigrated: concurrent callers each get their own database, already
// at the newest migration, copied from one template; writes to one copy do
// not reach another.
func TestNewMigrated(t *testing.T) {
	ctx := context.Background()
	ms, err := postgres.SchemaDigest()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 16 {
		t.Fatalf("SchemaDigest = %q, want 16 hex digits", ms)
	}
	const n = 4
	dsns := make([]string, n)
	t.Run("parallel", func(t *testing.T) {
		for i := range n {
			t.Run("", func(t *testing.T) {
				t.Parallel()
				dsns[i] = NewMigrated(t)
				c, err := pgx.Connect(ctx, dsns[i])
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(ctx)
				var applied, users int
				if err := c.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
					t.Fatal(err)
				}
				if err := c.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil {
					t.Fatal(err)
				}
				if applied == 0 || users != 0 {
					t.Errorf("migrations applied = %d, users = %d; want > 0 and 0", applied, users)
				}
				// The copy migrates as a no-op.
				s, err := postgres.Open(ctx, dsns[i])
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Exec(ctx, `CREATE TABLE mine (x int)`); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
	seen := map[string]bool{}
	for _, d := range dsns {
		if seen[d] {
			t.Errorf("two callers got %s", d)
		}
		seen[d] = true
	}
}
