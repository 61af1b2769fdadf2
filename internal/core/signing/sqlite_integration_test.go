package signing

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/storeopen"
)

// TestSQLiteStore runs the Keyring against the real SQLite backend: keys
// survive a reopen, rotation and pruning work through SQL, and what the
// database file holds is sealed.
func TestSQLiteStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tolk.db")
	open := func() (store.Store, store.SigningKeys) {
		t.Helper()
		st, err := storeopen.Open(ctx, "sqlite:"+path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		sk, ok := st.(store.SigningKeys)
		if !ok {
			// Until the SQLite backend implements store.SigningKeys.
			t.Skip("sqlite store does not implement store.SigningKeys yet")
		}
		return st, sk
	}
	_, sk := open()

	clk := newClock()
	opts := Options{Now: clk.Now, RefreshInterval: 5 * time.Second, PublishDelay: time.Minute, MaxTokenLifetime: time.Hour}
	kr := New(sk, testSealer(t), opts)
	if err := kr.Ensure(ctx, RS256, ES256); err != nil {
		t.Fatal(err)
	}
	oldTok := mustSign(t, kr, RS256, TypJWT, testClaims(clk.Now()))
	oldKID := decodeSegment(t, strings.Split(oldTok, ".")[0])["kid"]

	list, err := sk.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("ListSigningKeys = %d keys, want 2", len(list))
	}
	for _, k := range list {
		pk := activeKey(t, kr, k.Alg)
		if k.KID != pk.meta.KID || !k.RetiredAt.IsZero() || len(k.SealedKey) == 0 {
			t.Errorf("stored key %+v", k.KID)
		}
	}

	// T34: the database file must not hold a private key in the clear.
	var files []byte
	for _, suffix := range []string{"", "-wal", "-journal"} {
		if b, err := os.ReadFile(path + suffix); err == nil {
			files = append(files, b...)
		}
	}
	for _, alg := range []string{RS256, ES256} {
		der, err := x509.MarshalPKCS8PrivateKey(activeKey(t, kr, alg).signer)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(files, der[len(der)/2:len(der)/2+32]) {
			t.Errorf("%s private key visible in the SQLite files", alg)
		}
	}

	// A second instance (another process, same file) agrees on the keys.
	_, sk2 := open()
	kr2 := New(sk2, testSealer(t), opts)
	if err := kr2.Ensure(ctx, RS256, ES256); err != nil {
		t.Fatal(err)
	}
	if _, err := kr2.Verify(ctx, oldTok, TypJWT); err != nil {
		t.Fatalf("second instance: %v", err)
	}
	if list2, _ := sk2.ListSigningKeys(ctx); len(list2) != 2 {
		t.Fatalf("second Ensure created keys: %d", len(list2))
	}

	// Newest first is by creation time, so let some time pass.
	clk.Advance(time.Minute)
	rotated, err := kr2.Rotate(ctx, RS256)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	newTok := mustSign(t, kr, RS256, TypJWT, testClaims(clk.Now()))
	if kid := decodeSegment(t, strings.Split(newTok, ".")[0])["kid"]; kid != rotated.KID {
		t.Errorf("first instance signs with %v after PublishDelay, want %s", kid, rotated.KID)
	}
	for _, tok := range []string{oldTok, newTok} {
		if _, err := kr.Verify(ctx, tok, TypJWT); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if kids := jwksKIDs(t, kr); len(kids) != 3 {
		t.Errorf("JWKS = %v, want ES256 + new and old RS256", kids)
	}
	infos, err := kr.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 || infos[0].KID != rotated.KID {
		t.Errorf("Keys = %+v, want newest first", infos)
	}

	clk.Advance(time.Hour + 6*time.Second)
	if _, err := kr.Verify(ctx, oldTok, ""); err == nil {
		t.Error("token of an unpublished key still verifies")
	}
	n, err := kr.Prune(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	for _, k := range jwksKIDs(t, kr) {
		if k == oldKID {
			t.Error("pruned key still in JWKS")
		}
	}
}
