package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store/storeopen"
)

// TestClientCommands: `tolk client create` prints the app as JSON with its
// secret (the only time it is shown), the app works at the token
// endpoint, `client list` shows it without the secret, and `client delete`
// removes it (an unknown id is an error).
func TestClientCommands(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	r := run(t, env, "", "client", "create", "--name", "CAT tool", "--grant", "client_credentials", "--scope", "read", "--db", db)
	if r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	var created map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("create prints %q", r.stdout)
	}
	id, _ := created["client_id"].(string)
	clientSecret, _ := created["client_secret"].(string)
	if id == "" || !strings.HasPrefix(clientSecret, "tolk_cs_") || created["name"] != "CAT tool" {
		t.Fatalf("create = %v", created)
	}

	// Stored only as its SHA-256 (the token path never runs a slow hash).
	st, err := storeopen.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.GetClient(context.Background(), id)
	st.Close()
	if err != nil || c.SecretHash != secret.Hash(clientSecret) || strings.Contains(c.SecretHash, clientSecret) {
		t.Fatalf("stored secret hash %q (%v), want the SHA-256 of the secret", c.SecretHash, err)
	}

	addr := serve(t, env, db)
	resp, err := http.PostForm("http://"+addr+"/oauth/token",
		url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {clientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token with the created app: %d", resp.StatusCode)
	}

	r = run(t, env, "", "client", "list", "--db", db)
	if r.code != 0 || strings.Contains(r.stdout, clientSecret) {
		t.Fatalf("list: exit %d, shows the secret: %s", r.code, r.stdout)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0]["client_id"] != id {
		t.Fatalf("list = %v (%v)", list, err)
	}
	if _, ok := list[0]["client_secret"]; ok {
		t.Fatalf("list carries a client_secret: %v", list[0])
	}

	// rotate-secret: a new secret, printed once; the old one stops.
	r = run(t, env, "", "client", "rotate-secret", id, "--db", db)
	var rotated map[string]string
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rotated) != nil || rotated["client_id"] != id ||
		!strings.HasPrefix(rotated["client_secret"], "tolk_cs_") || rotated["client_secret"] == clientSecret {
		t.Fatalf("rotate-secret: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	st, err = storeopen.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	c, err = st.GetClient(context.Background(), id)
	st.Close()
	if err != nil || c.SecretHash != secret.Hash(rotated["client_secret"]) {
		t.Fatalf("after rotate-secret the stored hash is not the new secret's (%v)", err)
	}
	if r := run(t, env, "", "client", "rotate-secret", "no-such-app", "--db", db); r.code == 0 {
		t.Fatal("rotating an unknown app succeeded")
	}

	if r := run(t, env, "", "client", "delete", id, "--db", db); r.code != 0 {
		t.Fatalf("delete: exit %d: %s", r.code, r.stderr)
	}
	if r := run(t, env, "", "client", "list", "--db", db); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("list after delete: exit %d: %s", r.code, r.stdout)
	}
	if r := run(t, env, "", "client", "delete", id, "--db", db); r.code == 0 {
		t.Fatal("deleting an unknown app succeeded")
	}
}

// TestKeysCommands: `tolk keys list` prints public metadata only (no key
// material); `keys rotate --alg ES256` adds a new active ES256 key, which
// is published at once and signs from key_publish_delay on, while the old
// one signs until then and stays published.
func TestKeysCommands(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	type key struct {
		KID       string    `json:"kid"`
		Alg       string    `json:"alg"`
		Active    bool      `json:"active"`
		Signing   bool      `json:"signing"`
		Created   time.Time `json:"created"`
		SignsFrom time.Time `json:"signs_from"`
		Retired   time.Time `json:"retired"`
		Published bool      `json:"published"`
	}
	list := func(args ...string) []key {
		t.Helper()
		r := run(t, env, "", append(args, "--db", db)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		for _, secret := range []string{`"d"`, "PRIVATE", "sealed"} {
			if strings.Contains(r.stdout, secret) {
				t.Fatalf("%v prints key material (%s): %s", args, secret, r.stdout)
			}
		}
		var ks []key
		if err := json.Unmarshal([]byte(r.stdout), &ks); err != nil {
			t.Fatalf("%v prints %q", args, r.stdout)
		}
		return ks
	}
	active := func(ks []key, alg string) (string, int) {
		kid, n := "", 0
		for _, k := range ks {
			if k.Alg == alg {
				n++
				if k.Active {
					kid = k.KID
				}
			}
		}
		return kid, n
	}
	before := list("keys", "list")
	oldES, nES := active(before, "ES256")
	oldRS, _ := active(before, "RS256")
	if oldES == "" || oldRS == "" {
		t.Fatalf("keys list: no active ES256 and RS256 key: %+v", before)
	}
	after := list("keys", "rotate", "--alg", "ES256")
	newES, n := active(after, "ES256")
	if newES == "" || newES == oldES || n != nES+1 {
		t.Fatalf("after rotate: active ES256 %q (was %q), %d ES256 keys (was %d)", newES, oldES, n, nES)
	}
	if rs, _ := active(after, "RS256"); rs != oldRS {
		t.Errorf("rotating ES256 changed the RS256 key: %q, was %q", rs, oldRS)
	}
	for _, k := range after {
		if k.KID == oldES && (!k.Published || !k.Signing) {
			t.Errorf("the old ES256 key no longer signs or is no longer published: %+v", k)
		}
		if k.KID == newES && (!k.Published || k.Signing) {
			t.Errorf("the new ES256 key is not published first: %+v", k)
		}
	}
	var oldKey, newKey key
	for _, k := range after {
		switch k.KID {
		case oldES:
			oldKey = k
		case newES:
			newKey = k
		}
	}
	if !newKey.SignsFrom.Equal(oldKey.Retired) || newKey.SignsFrom.Sub(newKey.Created) != 15*time.Minute {
		t.Errorf("the new key, created %s, signs from %s, the old one retires %s; want both key_publish_delay (15m) after the creation",
			newKey.Created, newKey.SignsFrom, oldKey.Retired)
	}
}
