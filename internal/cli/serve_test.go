package cli_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/cli"
)

// TestServeOnBusyPortLeavesNothing: serve binds its address before it
// creates the database, the key file or the first admin, so a busy port
// fails with nothing left behind and no password printed.
func TestServeOnBusyPortLeavesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "fresh.db")
	var out, errb bytes.Buffer
	p := cheap
	// No Listen override: the real net.Listen meets the busy port.
	code := cli.Run(context.Background(), []string{"serve", "--db", "sqlite:" + db, "--addr", busy.Addr().String()}, cli.IO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Env: func(string) string { return "" }, Params: &p,
	})
	if code == 0 {
		t.Fatalf("serve on a busy port exited 0: %s", errb.String())
	}
	if !strings.Contains(errb.String(), busy.Addr().String()) {
		t.Errorf("the error does not name the address: %s", errb.String())
	}
	if strings.Contains(errb.String(), "password") {
		t.Errorf("a password was printed: %s", errb.String())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}

// TestServeRefusesDatabaseWithoutItsKeyFile: a SQLite database restored
// without tolk.db.key holds signing keys sealed with the lost key; serve
// refuses it with the remedy instead of creating a new key file that could
// open none of them. A database that holds no sealed keys yet (only
// migrated) gets its key file on the first start.
func TestServeRefusesDatabaseWithoutItsKeyFile(t *testing.T) {
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	t.Run("restored without its key file", func(t *testing.T) {
		dir := t.TempDir()
		db := filepath.Join(dir, "tolk.db")
		var stderr syncBuf
		serveWith(t, env, "sqlite:"+db, &stderr) // creates the keys; stops when the subtest ends
		if r := run(t, env, "", "keys", "list", "--db", "sqlite:"+db); r.code != 0 {
			t.Fatalf("keys list: %+v", r)
		}
		if err := os.Remove(db + ".key"); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"serve", "--db", "sqlite:" + db, "--addr", "127.0.0.1:0"},
			{"keys", "list", "--db", "sqlite:" + db},
		} {
			r := run(t, env, "", args...)
			if r.code == 0 {
				t.Fatalf("%s started without its key file: %+v", args[0], r)
			}
			if !strings.Contains(r.stderr, db+".key does not exist") || !strings.Contains(r.stderr, "restore the key file") {
				t.Errorf("%s: unclear message: %s", args[0], r.stderr)
			}
			if _, err := os.Stat(db + ".key"); err == nil {
				t.Fatalf("%s created a new key file", args[0])
			}
		}
	})
	t.Run("migrated only", func(t *testing.T) {
		dir := t.TempDir()
		db := filepath.Join(dir, "tolk.db")
		if r := run(t, env, "", "migrate", "--db", "sqlite:"+db); r.code != 0 {
			t.Fatalf("migrate: %+v", r)
		}
		var stderr syncBuf
		serveWith(t, env, "sqlite:"+db, &stderr)
		if _, err := os.Stat(db + ".key"); err != nil {
			t.Fatalf("no key file after the first start: %v", err)
		}
		// The database, its WAL and shared memory and the key file are
		// the owner's only.
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %04o, want 0600", e.Name(), fi.Mode().Perm())
			}
		}
		if len(entries) != 4 {
			t.Errorf("files: %v, want tolk.db, -wal, -shm and .key", entries)
		}
	})
}
