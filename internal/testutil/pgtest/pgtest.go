// Package pgtest gives tests a fresh PostgreSQL database each: empty
// (NewDatabase) or already migrated to the current schema (NewMigrated),
// copied from a template so that no test pays for the migrations.
//
// The server is named by TOLK_TEST_POSTGRES (an admin DSN whose user may
// CREATE DATABASE), defaulting to DefaultAdminDSN. When it is unreachable,
// tests are skipped locally but fail under CI=true, so CI never passes by
// silently testing nothing.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultAdminDSN is used when TOLK_TEST_POSTGRES is unset.
const DefaultAdminDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// EnvAdminDSN names the environment variable holding the admin DSN.
const EnvAdminDSN = "TOLK_TEST_POSTGRES"

// NewDatabase creates a database named tolk_test_<random hex> and returns a
// DSN for it. The database is dropped in t.Cleanup WITH (FORCE), so
// connections left open cannot block the drop; cleanups run last-registered
// first, so closing a pool in a cleanup registered after this call happens
// before the drop.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, "")
}

// newDatabase creates a fresh database, a copy of template unless that is
// empty.
func newDatabase(t testing.TB, template string) string {
	t.Helper()
	adminDSN := os.Getenv(EnvAdminDSN)
	if adminDSN == "" {
		adminDSN = DefaultAdminDSN
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		where := redact(adminDSN)
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true but is not reachable at %s "+
				"(set %s to an admin DSN of a running server): %v", where, EnvAdminDSN, err)
		}
		t.Skipf("PostgreSQL not reachable at %s (set %s): %v", where, EnvAdminDSN, err)
	}
	defer admin.Close(context.Background())

	create := "CREATE DATABASE "
	name := "tolk_test_" + randomHex(8)
	// Identifiers cannot be query parameters; names are our own hex, and
	// Sanitize quotes them anyway.
	ident := pgx.Identifier{name}.Sanitize()
	create += ident
	if template != "" {
		if err := ensureTemplate(ctx, admin, adminDSN, template); err != nil {
			t.Fatalf("pgtest: template %s: %v", template, err)
		}
		create += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := admin.Exec(ctx, create); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminDSN)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	dsn, err := withDatabase(adminDSN, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// withDatabase returns dsn with its database replaced by name, for both the
// URL and the keyword/value forms.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// Keyword/value: a later keyword overrides an earlier one.
	return dsn + " dbname=" + name, nil
}

// redact hides a password in a URL DSN for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "the DSN in " + EnvAdminDSN
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
