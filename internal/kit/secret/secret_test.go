package secret

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"testing"
)

func TestAPITokenFormat(t *testing.T) {
	var g Generator
	re := regexp.MustCompile(`^[A-Za-z0-9]{64}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		tok, err := g.APIToken()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(tok) {
			t.Fatalf("token %q does not match the TMS shape", tok)
		}
		if seen[tok] {
			t.Fatalf("duplicate token after %d draws", i)
		}
		seen[tok] = true
	}
}

func TestAlphanumericIsUnbiased(t *testing.T) {
	// With rejection sampling every character occurs about equally often;
	// modulo bias would over-represent the first 8 characters by ~25%.
	var g Generator
	s, err := g.Alphanumeric(62 * 2000)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	if len(counts) != 62 {
		t.Fatalf("saw %d distinct characters, want 62", len(counts))
	}
	for r, c := range counts {
		if c < 1600 || c > 2400 {
			t.Errorf("character %q occurred %d times, want about 2000", r, c)
		}
	}
}

func TestGeneratorUsesInjectedReader(t *testing.T) {
	g := Generator{Rand: bytes.NewReader(bytes.Repeat([]byte{0}, 200))}
	tok, err := g.Alphanumeric(10)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "AAAAAAAAAA" {
		t.Fatalf("got %q", tok)
	}
	g = Generator{Rand: failingReader{}}
	if _, err := g.Hex(32); err == nil {
		t.Fatal("want an error when the random source fails")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestHashAndEqual(t *testing.T) {
	sum := sha256.Sum256([]byte("abc"))
	if Hash("abc") != hex.EncodeToString(sum[:]) {
		t.Fatal("Hash is not hex SHA-256")
	}
	if !Equal("abc", "abc") || Equal("abc", "abd") || Equal("abc", "ab") {
		t.Fatal("Equal is wrong")
	}
}
