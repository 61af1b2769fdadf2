package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/server"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/storeopen"
)

// backupCmd is `tolk backup` (SPEC §9).
type backupCmd struct {
	Out        string `name:"out" required:"" type:"path" help:"Directory to write into: new or empty (created 0700). Gets tolk.db and tolk.db.key (0600)."`
	WithoutKey bool   `name:"without-key" help:"Leave out the key that seals the signing keys (keep it apart yourself); the database alone cannot be served."`
}

// The names in a backup directory: what `tolk serve --db sqlite:DIR/tolk.db`
// opens, and the key file it looks for beside it (server.KeyFile).
const (
	backupDB  = "tolk.db"
	backupKey = "tolk.db.key"
)

// maxKeyBytes bounds the key file read: a key is a few dozen bytes.
const maxKeyBytes = 4096

// backupRun copies a live SQLite database and its sealing key into c.Out.
// It neither migrates nor bootstraps: the copy is the database as it is.
// Files are written under temporary names and renamed into place, the key
// first and the database last, so tolk.db appears only complete and with
// its key beside it; on failure what was written is removed.
func backupRun(ctx context.Context, cfg config.Config, c backupCmd, stdio IO) (err error) {
	st, err := storeopen.OpenWith(ctx, cfg.DB, storeopen.Options{Existing: true})
	if err != nil {
		return err
	}
	defer st.Close()
	b, ok := backupper(st)
	if !ok {
		return errors.New("tolk backup copies SQLite databases only. Back up PostgreSQL with its own tools " +
			"(pg_dump --format=custom, restored with pg_restore) and keep the shared secret_key with the dump: " +
			"without it the signing keys in the dump cannot be opened (docs/operations.md, \"Backup and restore\")")
	}

	var key []byte
	keyFrom := ""
	if !c.WithoutKey {
		if key, keyFrom, err = sealingKey(cfg); err != nil {
			return err
		}
	}

	dir := c.Out
	created, err := backupDir(dir)
	if err != nil {
		return err
	}
	var written []string // published or temporary files, removed on failure
	defer func() {
		if err == nil {
			return
		}
		for _, f := range written {
			os.Remove(f)
		}
		if created {
			os.Remove(dir)
		}
	}()

	// place gives the written temporary file tmp its final name.
	place := func(tmp, name string) error {
		final := filepath.Join(dir, name)
		if err := os.Rename(tmp, final); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		written = append(written, final)
		return nil
	}
	if key != nil {
		tmp, err := writeTemp(dir, backupKey, key)
		written = append(written, tmp)
		if err != nil {
			return err
		}
		if err := place(tmp, backupKey); err != nil {
			return err
		}
	}

	// VACUUM INTO takes an empty file: made here, so that it is 0600 (SQLite
	// would create it with the umask's mode) and has a name of our choosing.
	tmp, err := writeTemp(dir, backupDB, nil)
	written = append(written, tmp)
	if err != nil {
		return err
	}
	if err := b.BackupTo(ctx, tmp); err != nil {
		return err
	}
	size, err := syncFile(tmp)
	if err != nil {
		return err
	}
	if err := place(tmp, backupDB); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}

	w := stdio.Stdout
	final := filepath.Join(dir, backupDB)
	fmt.Fprintf(w, "%s\t%d bytes: a snapshot of %s\n", final, size, cfg.DB)
	if key != nil {
		fmt.Fprintf(w, "%s\tthe key that seals its signing keys and second-factor secrets (%s)\n", filepath.Join(dir, backupKey), keyFrom)
		fmt.Fprintf(w, "Restore: tolk serve --db sqlite:%s (or copy both files into place, with the server stopped).\n", final)
	} else {
		fmt.Fprintf(w, "No key written (--without-key): serving this copy needs the key %s, kept apart.\n", neededKey(cfg))
	}
	return nil
}

// sealingKey returns the contents a backup's key file gets, and where they
// come from: the key file beside the database, copied as it is, or
// secret_key, base64-encoded so that the file gives back its exact bytes
// (a raw secret_key that happened to be valid base64 would otherwise be
// decoded into another key).
func sealingKey(cfg config.Config) ([]byte, string, error) {
	path := server.KeyFile(cfg)
	if path == "" {
		return []byte(base64.StdEncoding.EncodeToString([]byte(cfg.SecretKey)) + "\n"), "from secret_key", nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("backup: the key file %s does not exist, so the database's signing keys could not be opened "+
			"from the copy. If the server runs with secret_key (TOLK_SECRET_KEY or TOLK_SECRET_KEY_FILE), give tolk backup "+
			"the same; --without-key copies the database alone", path)
	}
	if err != nil {
		return nil, "", fmt.Errorf("backup: key file: %w", err)
	}
	defer f.Close()
	key, err := io.ReadAll(io.LimitReader(f, maxKeyBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("backup: key file %s: %w", path, err)
	}
	if len(key) == 0 || len(key) > maxKeyBytes {
		return nil, "", fmt.Errorf("backup: %s is no key file (%d bytes)", path, len(key))
	}
	return key, "copied from " + path, nil
}

// neededKey names the key a copy made --without-key needs.
func neededKey(cfg config.Config) string {
	if path := server.KeyFile(cfg); path != "" {
		return "file " + path + ", as " + backupKey + " beside the database"
	}
	return "secret_key"
}

// backupper finds the engine's Backupper, also beneath wrappers of the
// store (store/timed) that offer the engine with Unwrap.
func backupper(st store.Store) (store.Backupper, bool) {
	for {
		if b, ok := st.(store.Backupper); ok {
			return b, true
		}
		u, ok := st.(interface{ Unwrap() store.Store })
		if !ok {
			return nil, false
		}
		st = u.Unwrap()
	}
}

// backupDir makes dir ready: created 0700 if it does not exist (created
// reports that), else it must be an empty directory, so that a backup
// never mixes with or replaces another. An existing one must also be ours
// alone: not a symbolic link, owned by this user, writable by no one else.
// Whoever else can write in it could swap the temporary file SQLite copies
// into for a link to a file of theirs (VACUUM INTO follows it) and read
// the database, or replace the key.
func backupDir(dir string) (created bool, err error) {
	err = os.Mkdir(dir, 0o700)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("backup: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return false, fmt.Errorf("backup: %s is a symbolic link; --out takes a new or empty directory of its own", dir)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("backup: %s exists and is not a directory; --out takes a new or empty directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 || !ownedByUs(fi) {
		return false, fmt.Errorf("backup: %s may be written by other users (mode %v); --out takes a new directory "+
			"or an empty one of this user's that only it may write to (chmod go-w)", dir, fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("backup: %s is not empty (it holds %s); --out takes a new or empty directory, "+
			"so that no earlier backup is overwritten", dir, entries[0].Name())
	}
	return false, nil
}

// writeTemp writes content to a new file in dir (mode 0600, synced) under a
// temporary name beginning with "."+name and returns its path.
func writeTemp(dir, name string, content []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp*") // O_EXCL, 0600
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	path := f.Name()
	if _, err := f.Write(content); err != nil {
		f.Close()
		return path, fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return path, fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return path, fmt.Errorf("backup: %w", err)
	}
	return path, nil
}

// syncFile makes what SQLite wrote to path durable before it gets its final
// name, and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return fi.Size(), nil
}

// syncDir makes the renames durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("backup: sync %s: %w", dir, err)
	}
	return nil
}
