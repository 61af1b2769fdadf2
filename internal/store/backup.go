package store

import "context"

// Backupper is implemented by engines that can copy their own live
// database (SQLite). It is not part of Store: PostgreSQL is copied with its
// own tools (pg_dump), and callers ask for it with a type assertion.
type Backupper interface {
	// BackupTo writes a consistent snapshot of the whole database, as it
	// was at one moment, into the file at path, which must not exist or
	// must be empty. Every write answered before BackupTo was called is
	// in it. Concurrent writers are not blocked while it runs. The caller
	// makes the file durable and publishes it.
	BackupTo(ctx context.Context, path string) error
}
