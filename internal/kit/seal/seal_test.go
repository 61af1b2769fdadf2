package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func newSealer(t *testing.T, secret []byte) *Sealer {
	t.Helper()
	s, err := New(secret)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestNewRejectsShortSecret(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New(%d bytes): want error", n)
		}
	}
	if _, err := New(make([]byte, 32)); err != nil {
		t.Errorf("New(32 bytes): %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	s := newSealer(t, randBytes(t, 32))
	for _, tc := range []struct {
		name   string
		pt, ad []byte
	}{
		{"empty", nil, nil},
		{"with ad", []byte("private key"), []byte("kid-1")},
		{"large", bytes.Repeat([]byte{0xAB}, 10000), []byte("x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed, err := s.Seal(tc.pt, tc.ad)
			if err != nil {
				t.Fatal(err)
			}
			if sealed[0] != 1 {
				t.Errorf("version byte = %d, want 1", sealed[0])
			}
			if want := 1 + 12 + len(tc.pt) + 16; len(sealed) != want {
				t.Errorf("len = %d, want %d", len(sealed), want)
			}
			if len(tc.pt) > 0 && bytes.Contains(sealed, tc.pt) {
				t.Error("sealed value contains the plaintext")
			}
			got, err := s.Open(sealed, tc.ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.pt) {
				t.Errorf("Open = %q, want %q", got, tc.pt)
			}
		})
	}
}

func TestNonceIsFresh(t *testing.T) {
	s := newSealer(t, randBytes(t, 32))
	a, _ := s.Seal([]byte("same"), nil)
	b, _ := s.Seal([]byte("same"), nil)
	if bytes.Equal(a[1:13], b[1:13]) {
		t.Fatal("two seals used the same nonce")
	}
}

func TestDerivationIsDeterministic(t *testing.T) {
	secret := randBytes(t, 40)
	sealed, _ := newSealer(t, secret).Seal([]byte("hi"), []byte("ad"))
	got, err := newSealer(t, bytes.Clone(secret)).Open(sealed, []byte("ad"))
	if err != nil || string(got) != "hi" {
		t.Fatalf("Open with a Sealer from the same secret = %q, %v", got, err)
	}
}

func TestOpenFailures(t *testing.T) {
	s := newSealer(t, randBytes(t, 32))
	other := newSealer(t, randBytes(t, 32))
	sealed, err := s.Seal([]byte("top secret"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	for _, tc := range []struct {
		name   string
		s      *Sealer
		sealed []byte
		ad     []byte
	}{
		{"wrong key", other, sealed, []byte("ad")},
		{"wrong ad", s, sealed, []byte("AD")},
		{"missing ad", s, sealed, nil},
		{"version", s, flip(0), []byte("ad")},
		{"nonce", s, flip(5), []byte("ad")},
		{"ciphertext", s, flip(14), []byte("ad")},
		{"tag", s, flip(len(sealed) - 1), []byte("ad")},
		{"truncated", s, sealed[:len(sealed)-1], []byte("ad")},
		{"too short", s, sealed[:20], []byte("ad")},
		{"empty", s, nil, []byte("ad")},
		{"appended", s, append(bytes.Clone(sealed), 0), []byte("ad")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if pt, err := tc.s.Open(tc.sealed, tc.ad); err == nil {
				t.Fatalf("Open succeeded: %q", pt)
			}
		})
	}
}

func TestLoadOrCreateKeyFileCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seal.key")
	key, err := LoadOrCreateKeyFile(path, nothingSealed)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 32 {
		t.Fatalf("len(key) = %d, want 32", len(key))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || !bytes.Equal(dec, key) {
		t.Errorf("file is not the base64 of the key: %q", data)
	}
	again, err := LoadOrCreateKeyFile(path, nothingSealed)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("second load = %x, %v; want the same key", again, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if _, err := New(key); err != nil {
		t.Errorf("created key unusable: %v", err)
	}
}

// nothingSealed is the sealed check of a fresh database.
func nothingSealed() (bool, error) { return false, nil }

// TestLoadOrCreateKeyFileMissingWithSealedData: a database that holds
// sealed data but whose key file is gone (restored without it) is refused
// with the remedy, and no new key is made; a key file that another process
// creates while the check runs is used.
func TestLoadOrCreateKeyFileMissingWithSealedData(t *testing.T) {
	theirs := base64.StdEncoding.EncodeToString(randBytes(t, 32))
	for _, tc := range []struct {
		name    string
		sealed  func(path string) func() (bool, error)
		wantErr string // "" = success with the file's key
		want    string // the key file afterwards; "" = none
	}{
		{"sealed data, no key file", func(string) func() (bool, error) {
			return func() (bool, error) { return true, nil }
		}, "restore the key file", ""},
		{"check fails", func(string) func() (bool, error) {
			return func() (bool, error) { return false, errors.New("database down") }
		}, "database down", ""},
		{"created meanwhile by another process", func(path string) func() (bool, error) {
			return func() (bool, error) {
				if err := os.WriteFile(path, []byte(theirs), 0o600); err != nil {
					return false, err
				}
				return true, nil
			}
		}, "", theirs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tolk.db.key")
			key, err := LoadOrCreateKeyFile(path, tc.sealed(path))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want it to name %s and contain %q", err, path, tc.wantErr)
				}
				if tc.wantErr == "restore the key file" && !errors.Is(err, ErrKeyFileMissing) {
					t.Errorf("err = %v, want ErrKeyFileMissing", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("a key file was created: %q", data)
				}
				return
			}
			if string(data) != tc.want {
				t.Errorf("key file = %q, want %q", data, tc.want)
			}
			if dec, _ := base64.StdEncoding.DecodeString(tc.want); !bytes.Equal(key, dec) {
				t.Errorf("key = %x, want the file's", key)
			}
		})
	}
	t.Run("existing file: no check", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tolk.db.key")
		if err := os.WriteFile(path, []byte(theirs), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKeyFile(path, func() (bool, error) { t.Fatal("checked"); return false, nil }); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seal.key")
	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKeyFile(path, nothingSealed) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("caller %d got a different key", i)
		}
	}
}

func TestLoadKeyFileFormats(t *testing.T) {
	raw := randBytes(t, 32)
	long := randBytes(t, 48)
	for _, tc := range []struct {
		name    string
		content []byte
		want    []byte
	}{
		{"std base64 with newline", []byte(base64.StdEncoding.EncodeToString(raw) + "\n"), raw},
		{"raw std base64", []byte(base64.RawStdEncoding.EncodeToString(raw)), raw},
		{"url base64", []byte(base64.URLEncoding.EncodeToString(raw)), raw},
		{"raw url base64 with spaces", []byte("  " + base64.RawURLEncoding.EncodeToString(raw) + " \r\n"), raw},
		{"longer base64", []byte(base64.StdEncoding.EncodeToString(long)), long},
		{"raw bytes", raw, raw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadOrCreateKeyFile(path, nothingSealed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("key = %x, want %x", got, tc.want)
			}
		})
	}
}

func TestLoadKeyFileRejects(t *testing.T) {
	good := []byte(base64.StdEncoding.EncodeToString(randBytes(t, 32)))
	for _, tc := range []struct {
		name    string
		content []byte
		mode    os.FileMode
		wantErr string
		unix    bool
	}{
		{"group readable", good, 0o640, "readable by group or others", true},
		{"world readable", good, 0o604, "readable by group or others", true},
		{"group writable", good, 0o620, "readable by group or others", true},
		{"short base64", []byte(base64.StdEncoding.EncodeToString(randBytes(t, 16))), 0o600, "fewer than 32 bytes", false},
		{"short raw", []byte("too short"), 0o600, "fewer than 32 bytes", false},
		{"empty", nil, 0o600, "fewer than 32 bytes", false},
		{"huge", bytes.Repeat([]byte("A"), 5000), 0o600, "larger than", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.unix && runtime.GOOS == "windows" {
				t.Skip("no Unix permission bits")
			}
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateKeyFile(path, nothingSealed)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if tc.unix && !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("error does not say how to fix it: %v", err)
			}
			// The file must be left alone, not replaced by a fresh key.
			if data, _ := os.ReadFile(path); !bytes.Equal(data, tc.content) {
				t.Error("key file was modified")
			}
		})
	}
}

func TestLoadKeyFileDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyFile(dir, nothingSealed); err == nil {
		t.Fatal("a directory was accepted as a key file")
	}
}

func TestLoadKeyFileMissingDir(t *testing.T) {
	_, err := LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "nope", "k"), nothingSealed)
	if err == nil {
		t.Fatal("want error for a missing directory")
	}
	if errors.Is(err, os.ErrExist) {
		t.Fatalf("unexpected ErrExist: %v", err)
	}
}
