package cli_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeRefusesWrongKey: a database paired with another key (a key file
// or secret_key that is not the one its signing keys were sealed with)
// refuses to start, and the message names the key it tried and the remedy.
func TestServeRefusesWrongKey(t *testing.T) {
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	dir := t.TempDir()
	db := filepath.Join(dir, "tolk.db")
	if r := run(t, env, "", "keys", "list", "--db", "sqlite:"+db); r.code != 0 {
		t.Fatalf("keys list: %+v", r)
	}
	other := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("o", 32))) + "\n"
	if err := os.WriteFile(db+".key", []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"key file":   {env, "the key file " + db + ".key"},
		"secret_key": {map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password", "TOLK_SECRET_KEY": strings.Repeat("w", 40)}, "with secret_key"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runBounded(t, c.env, "serve", "--db", "sqlite:"+db, "--addr", "127.0.0.1:0")
			if r.code == 0 {
				t.Fatalf("serve started with the wrong key: %+v", r)
			}
			for _, w := range []string{c.want, "not the key they were sealed with", "restore the key saved with this database"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("the message does not say %q: %s", w, r.stderr)
				}
			}
		})
	}
}
