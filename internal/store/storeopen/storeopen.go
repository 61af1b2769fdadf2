// Package storeopen picks a store backend from a DSN, so that only the
// program's wiring, not the store package, depends on every backend.
package storeopen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/postgres"
	"github.com/tolk-project/tolk/internal/store/sqlite"
)

// Open opens the store named by dsn:
//
//	sqlite:PATH                  SQLite database file PATH (relative or absolute)
//	postgres://… postgresql://…  PostgreSQL, DSN passed to pgx unchanged
//
// It does not migrate; the caller calls Migrate.
func Open(ctx context.Context, dsn string) (store.Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// Options are backend settings that a DSN does not carry.
type Options struct {
	// SyncIssuance: see sqlite.Options.SyncIssuance and
	// postgres.Options.SyncIssuance.
	SyncIssuance bool
	// Existing: see sqlite.Options.Existing (a PostgreSQL database must
	// exist anyway).
	Existing bool
	// Log receives the PostgreSQL backend's outage messages ("database
	// unreachable", "database reachable again"); nil logs nothing.
	Log *slog.Logger
}

// OpenWith is Open with backend options.
func OpenWith(ctx context.Context, dsn string, o Options) (store.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("store: DSN \"sqlite:\" names no file; want sqlite:PATH")
		}
		s, err := sqlite.OpenWith(ctx, path, sqlite.Options{SyncIssuance: o.SyncIssuance, Existing: o.Existing})
		if err != nil {
			return nil, err
		}
		return s, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err := postgres.OpenWith(ctx, dsn, postgres.Options{SyncIssuance: o.SyncIssuance, Log: o.Log})
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		// Only the scheme is quoted: the rest may hold a password.
		scheme, _, _ := strings.Cut(dsn, ":")
		if len(scheme) > 20 || scheme == dsn {
			scheme = "(none)"
		}
		return nil, fmt.Errorf("store: unsupported DSN scheme %q: want sqlite:PATH, postgres://… or postgresql://…", scheme)
	}
}
