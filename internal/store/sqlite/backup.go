package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// BackupTo writes a snapshot of the live database into path with VACUUM
// INTO (store.Backupper). It runs on a connection of its own, outside the
// write queue: VACUUM INTO only reads this database, in one read
// transaction that in WAL mode sees every committed write — also those the
// group commit answered before their fsync, which are in the WAL and its
// shared index — and holds the writer back from nothing, so the service
// keeps issuing tokens while the copy runs. Not a reader of the pool:
// those are query_only, which refuses VACUUM INTO because it writes a
// file. The copy is one file without a WAL, compacted, in the database's
// own schema version.
func (s *Store) BackupTo(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", dsn(s.path, false))
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("sqlite: backup into %s: %w", path, err)
	}
	return nil
}
