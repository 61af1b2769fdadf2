package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
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
