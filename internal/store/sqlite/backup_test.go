package sqlite_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlite"
)

// TestBackupTo: the copy holds what was written before it, not what is
// written after, opens as a database of its own, and BackupTo refuses a
// target that holds anything (VACUUM INTO's rule), so that it never
// overwrites a file.
func TestBackupTo(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "tolk.db"))
	var _ store.Backupper = s
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	org := store.Organization{UID: "org", Name: "Org", CreatedAt: now}
	if err := s.CreateOrganization(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	user := func(name string) store.User {
		return store.User{UID: "uid-" + name, ID: name, OrgUID: org.UID, UserName: name, Email: name + "@example.com",
			Role: store.RoleLinguist, PasswordHash: "x", Active: true, CreatedAt: now, UpdatedAt: now}
	}
	if err := s.CreateUser(t.Context(), user("before")); err != nil {
		t.Fatal(err)
	}

	copyPath := filepath.Join(dir, "copy.db")
	if err := s.BackupTo(t.Context(), copyPath); err != nil {
		t.Fatalf("BackupTo: %v", err)
	}
	if err := s.CreateUser(t.Context(), user("after")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(copyPath + "-wal"); err == nil {
		t.Errorf("the copy has a WAL beside it; want one self-contained file")
	}

	c, err := sqlite.Open(t.Context(), copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate on the copy: %v", err)
	}
	if _, err := c.GetUserByUserName(t.Context(), "before"); err != nil {
		t.Errorf("the user written before the backup is not in it: %v", err)
	}
	if _, err := c.GetUserByUserName(t.Context(), "after"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user written after the backup: %v, want ErrNotFound", err)
	}

	full := filepath.Join(dir, "full")
	if err := os.WriteFile(full, []byte("not empty"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.BackupTo(t.Context(), full); err == nil {
		t.Errorf("BackupTo over a non-empty file succeeded")
	}
	if b, _ := os.ReadFile(full); string(b) != "not empty" {
		t.Errorf("the non-empty file was changed: %q", b)
	}
}

// TestOpenExistingRefusesMissingFile: with Options.Existing (tolk backup) a
// path without a database is an error, and no empty database appears there.
func TestOpenExistingRefusesMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	s, err := sqlite.OpenWith(t.Context(), path, sqlite.Options{Existing: true})
	if err == nil {
		s.Close()
		t.Fatal("OpenWith(Existing) of a missing file succeeded")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want one that says the file does not exist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file was created: %v", err)
	}
}
