package cli_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestAPIKeyCommands(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	r := run(t, env, "", "apikey", "create", "--username", "admin", "--note", "CAT tool", "--db", db)
	if r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	var created map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("create prints %q", r.stdout)
	}
	if len(created) != 3 || len(created["id"]) != 32 || !strings.HasPrefix(created["key"], "tolk_pk_") || created["note"] != "CAT tool" {
		t.Fatalf("create = %v", created)
	}
	key := created["key"]

	r = run(t, env, "", "apikey", "list", "--db", db)
	if r.code != 0 || strings.Contains(r.stdout, key) {
		t.Fatalf("list: exit %d, shows the key: %s", r.code, r.stdout)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0]["id"] != created["id"] ||
		list[0]["username"] != "admin" || list[0]["revoked_at"] != nil {
		t.Fatalf("list = %v (%v)", list, err)
	}

	// The key works against a served instance, and stops after revoke.
	addr := serve(t, env, db)
	call := func() int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v2/user", nil)
		req.Header.Set("X-Proz-API-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := call(); c != 200 {
		t.Fatalf("key before revoke: %d", c)
	}
	if r := run(t, env, "", "apikey", "revoke", created["id"], "--db", db); r.code != 0 {
		t.Fatalf("revoke: exit %d: %s", r.code, r.stderr)
	}
	if c := call(); c != 401 {
		t.Errorf("key after revoke: %d, want 401", c)
	}
	r = run(t, env, "", "apikey", "list", "--db", db)
	if !strings.Contains(r.stdout, `"revoked_at": "`) {
		t.Errorf("list after revoke: %s", r.stdout)
	}
}

func TestAPIKeyCommandErrors(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	tests := []struct {
		name string
		args []string
	}{
		{"unknown user", []string{"apikey", "create", "--username", "nobody"}},
		{"missing username", []string{"apikey", "create"}},
		{"note too long", []string{"apikey", "create", "--username", "admin", "--note", strings.Repeat("n", 256)}},
		{"revoke unknown", []string{"apikey", "revoke", strings.Repeat("0", 32)}},
		{"revoke injection", []string{"apikey", "revoke", "' OR 1=1--"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, env, "", append(tt.args, "--db", db)...)
			if r.code == 0 || strings.Contains(r.stdout, "tolk_pk_") {
				t.Errorf("exit %d, stdout %q", r.code, r.stdout)
			}
		})
	}
	if r := run(t, env, "", "apikey", "list", "--db", db); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("keys after errors: %s", r.stdout)
	}
}
