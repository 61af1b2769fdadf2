package main_test

import (
	"database/sql"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestOlderBinaryRefusesNewerSchema: serve and migrate on a database that a
// newer tolk migrated exit with an error naming both schema versions.
func TestOlderBinaryRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tolk.db")
	db := "sqlite:" + path
	if out, err := exec.Command(binary, "migrate", "--db", db).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var latest int
	if err := raw.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'newer.sql', 0)`, latest+1); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	for _, args := range [][]string{{"migrate"}, {"serve", "--addr", "127.0.0.1:0"}} {
		out, err := exec.Command(binary, append(args, "--db", db)...).CombinedOutput()
		if err == nil {
			t.Errorf("%s on a newer schema succeeded:\n%s", args[0], out)
			continue
		}
		for _, want := range []string{"version " + strconv.Itoa(latest+1), "tolk's " + strconv.Itoa(latest)} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: output lacks %q:\n%s", args[0], want, out)
			}
		}
	}
}
