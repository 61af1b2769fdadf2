package cli_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// TestPostgresDumpAndRestore follows docs/operations.md "PostgreSQL:
// pg_dump and the secret_key": a pg_dump of a live database, restored with
// pg_restore into an empty one, serves the tokens of the original with the
// same secret_key; with another secret_key it refuses to start and says
// the key is wrong, and without one it names the missing setting.
func TestPostgresDumpAndRestore(t *testing.T) {
	tools := map[string]string{}
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		path, err := exec.LookPath(tool)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI=true: %v", tool, err)
			}
			t.Skipf("%s not installed: %v", tool, err)
		}
		tools[tool] = path
	}
	src := pgtest.NewDatabase(t)
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password", "TOLK_SECRET_KEY": strings.Repeat("p", 40)}
	addr := serve(t, env, src)
	code, tok := tmsLogin(t, addr, "admin", "admin-password")
	if code != 200 {
		t.Fatalf("login: %d", code)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dump := filepath.Join(t.TempDir(), "tolk.dump")
	if out, err := exec.CommandContext(ctx, tools["pg_dump"], "--format=custom", "--file="+dump, src).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, out)
	}
	dst := pgtest.NewDatabase(t)
	if out, err := exec.CommandContext(ctx, tools["pg_restore"], "--no-owner", "--dbname="+dst, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v: %s", err, out)
	}

	other := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password", "TOLK_SECRET_KEY": strings.Repeat("q", 40)}
	if r := runBounded(t, other, "serve", "--db", dst, "--addr", "127.0.0.1:0"); r.code == 0 ||
		!strings.Contains(r.stderr, "do not open with secret_key") {
		t.Errorf("the restored database with another secret_key: %+v", r)
	}
	noKey := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	if r := runBounded(t, noKey, "serve", "--db", dst, "--addr", "127.0.0.1:0"); r.code == 0 ||
		!strings.Contains(r.stderr, "secret_key (TOLK_SECRET_KEY or TOLK_SECRET_KEY_FILE) is required with PostgreSQL") {
		t.Errorf("the restored database without secret_key: %+v", r)
	}
	raddr := serve(t, env, dst)
	if c := whoAmI(t, raddr, tok); c != 200 {
		t.Errorf("whoAmI on the restored database: %d, want 200", c)
	}
}
