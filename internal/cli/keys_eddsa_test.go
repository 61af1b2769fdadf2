package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysRotateEdDSA: `tolk keys rotate --alg EdDSA` opts a key set into
// Ed25519: the first rotation creates the key, active and signing at once
// (no older EdDSA key to wait for); a plain `keys rotate` then rotates it
// with RS256 and ES256 instead of leaving it out.
func TestKeysRotateEdDSA(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	type key struct {
		KID     string `json:"kid"`
		Alg     string `json:"alg"`
		Active  bool   `json:"active"`
		Signing bool   `json:"signing"`
	}
	list := func(args ...string) []key {
		t.Helper()
		r := run(t, env, "", append(args, "--db", db)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		var ks []key
		if err := json.Unmarshal([]byte(r.stdout), &ks); err != nil {
			t.Fatalf("%v prints %q", args, r.stdout)
		}
		return ks
	}
	count := func(ks []key, alg string) (n int, signing string) {
		for _, k := range ks {
			if k.Alg == alg {
				n++
				if k.Signing {
					signing = k.KID
				}
			}
		}
		return n, signing
	}
	if n, _ := count(list("keys", "list"), "EdDSA"); n != 0 {
		t.Fatalf("a new database has %d EdDSA keys; EdDSA is opt-in", n)
	}
	ks := list("keys", "rotate", "--alg", "EdDSA")
	n, signing := count(ks, "EdDSA")
	if n != 1 || signing == "" {
		t.Fatalf("after rotate --alg EdDSA: %d EdDSA keys, signing %q: %+v", n, signing, ks)
	}
	ks = list("keys", "rotate")
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		if n, _ := count(ks, alg); n != 2 {
			t.Errorf("plain keys rotate left %s with %d keys, want 2", alg, n)
		}
	}
	if _, s := count(ks, "EdDSA"); s != signing {
		t.Errorf("the rotated-in EdDSA key signs before key_publish_delay")
	}
	if r := run(t, env, "", "keys", "rotate", "--alg", "HS256", "--db", db); r.code == 0 || !strings.Contains(r.stderr, "EdDSA") {
		t.Errorf("rotate --alg HS256: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestKeysRotateSealingKey: the key that seals opaque access tokens (XC20P)
// is listed with the signing keys, without key material, and rotated by a
// plain `keys rotate` as by `--alg XC20P`.
func TestKeysRotateSealingKey(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	count := func(args ...string) int {
		t.Helper()
		r := run(t, env, "", append(args, "--db", db)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		var ks []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &ks); err != nil {
			t.Fatalf("%v prints %q", args, r.stdout)
		}
		n := 0
		for _, k := range ks {
			if k["alg"] == "XC20P" {
				n++
				if k["published"] != false {
					t.Errorf("%v: the sealing key is shown as published: %v", args, k)
				}
				for _, field := range []string{"sealed_key", "key", "secret"} {
					if _, ok := k[field]; ok {
						t.Errorf("%v shows %s", args, field)
					}
				}
			}
		}
		return n
	}
	if n := count("keys", "list"); n != 1 {
		t.Fatalf("a new database has %d XC20P keys, want 1", n)
	}
	if n := count("keys", "rotate"); n != 2 {
		t.Fatalf("plain keys rotate left %d XC20P keys, want 2", n)
	}
	if n := count("keys", "rotate", "--alg", "XC20P"); n != 3 {
		t.Fatalf("keys rotate --alg XC20P left %d XC20P keys, want 3", n)
	}
}
