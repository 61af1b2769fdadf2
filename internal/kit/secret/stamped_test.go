package secret

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestStampedPrefixed(t *testing.T) {
	var g Generator
	now := time.UnixMilli(1_796_000_000_123)
	s, err := g.StampedPrefixed(PrefixAccessToken, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "tolk_at_"+fmt.Sprintf("%012x", now.UnixMilli())) || len(s) != 8+12+43+6 {
		t.Fatalf("shape: %q", s)
	}
	if !CheckPrefixed(PrefixAccessToken, s) {
		t.Fatal("stamped token fails the check")
	}
	if CheckPrefixed(PrefixRefreshToken, s) {
		t.Fatal("stamped access token passes as a refresh token")
	}
	// A stamp that is not lowercase hex, or a changed stamp, is refused.
	for name, bad := range map[string]string{
		"upper-case stamp": s[:8] + strings.ToUpper(s[8:20]) + s[20:],
		"changed stamp":    s[:8] + fmt.Sprintf("%012x", now.UnixMilli()+1) + s[20:],
	} {
		if CheckPrefixed(PrefixAccessToken, bad) {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestKey(t *testing.T) {
	var g Generator
	t0 := time.UnixMilli(1_796_000_000_000)
	stamped, _ := g.StampedPrefixed(PrefixAccessToken, t0)
	plain, _ := g.Prefixed(PrefixAccessToken)
	id, _ := g.StampedHex(t0, 16)
	for name, c := range map[string]struct{ in, want string }{
		"stamped secret: stamp then hash":  {stamped, stamped[8:20] + Hash(stamped)},
		"stamped hex id: stamp then hash":  {id, id[:12] + Hash(id)},
		"plain secret: the hash alone":     {plain, Hash(plain)},
		"arbitrary input: the hash alone":  {"not a token", Hash("not a token")},
		"upper-case hex: no stamp":         {strings.ToUpper(id), Hash(strings.ToUpper(id))},
		"64-hex PAT: the hash alone":       {strings.Repeat("0a", 32), Hash(strings.Repeat("0a", 32))},
		"other hex length: the hash alone": {id[:40], Hash(id[:40])},
	} {
		if got := Key(c.in); got != c.want {
			t.Errorf("%s: Key = %q, want %q", name, got, c.want)
		}
	}
	if got := Key(stamped); strings.Contains(got, stamped[20:]) {
		t.Fatal("the key contains the token's random part")
	}
}

// TestKeysSortByIssuance is the point of stamps: keys of later tokens sort
// after earlier ones, whatever their random parts, so inserts append.
func TestKeysSortByIssuance(t *testing.T) {
	var g Generator
	t0 := time.UnixMilli(1_796_000_000_000)
	var keys []string
	for i := 0; i < 200; i++ {
		tok, err := g.StampedPrefixed(PrefixRefreshToken, t0.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, Key(tok))
	}
	if !sort.StringsAreSorted(keys) {
		t.Fatal("keys of tokens issued in order do not sort in order")
	}
}

func TestStampedHex(t *testing.T) {
	var g Generator
	a, err := g.StampedHex(time.UnixMilli(1), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || a[:12] != "000000000001" || !isHex(a) {
		t.Fatalf("shape: %q", a)
	}
	b, _ := g.StampedHex(time.UnixMilli(1), 10)
	if a == b {
		t.Fatal("two ids in the same millisecond are equal")
	}
}

func TestIsJTI(t *testing.T) {
	var g Generator
	jti, err := g.JTI(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{
		jti:                                      true,
		strings.ToUpper(jti):                     false,
		jti[:len(jti)-1]:                         false,
		jti + "0":                                false,
		jti[:len(jti)-1] + "g":                   false,
		jti[:len(jti)-1] + "/":                   false, // just below '0'
		jti[:len(jti)-1] + ":":                   false, // just above '9'
		jti[:len(jti)-1] + "`":                   false, // just below 'a'
		"":                                       false,
		strings.Repeat("0", stampLen+2*JTIBytes): true,
	} {
		if got := IsJTI(s); got != want {
			t.Errorf("IsJTI(%q) = %v, want %v", s, got, want)
		}
	}
}
