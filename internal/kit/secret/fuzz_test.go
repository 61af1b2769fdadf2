package secret

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// indexReader yields bytes that Alphanumeric maps one-to-one onto the
// characters of body, so Generator.Prefixed reproduces a given body.
func indexReader(body string) *bytes.Reader {
	b := make([]byte, 0, len(body)+64)
	for i := 0; i < len(body); i++ {
		b = append(b, byte(strings.IndexByte(alphanumerics, body[i])))
	}
	return bytes.NewReader(append(b, make([]byte, 64)...))
}

// FuzzCheckPrefixed: only outputs of Generator.Prefixed pass. Any string
// that CheckPrefixed accepts is exactly what Prefixed makes from the same
// random body; and changing any single byte of a real Prefixed output
// makes it fail.
func FuzzCheckPrefixed(f *testing.F) {
	g := Generator{}
	for _, p := range []string{PrefixAccessToken, PrefixRefreshToken, PrefixAPIKey, PrefixClientSecret, PrefixAuthCode, PrefixPlatformToken} {
		s, err := g.Prefixed(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p, s, uint(len(s)-1), byte('A'))
		f.Add(p, s, uint(len(p)), byte('0'))
		f.Add(PrefixAccessToken, s, uint(0), byte('t'))
	}
	f.Add(PrefixAccessToken, "tolk_at_", uint(0), byte(0))
	f.Add(PrefixAccessToken, "tolk_at_"+strings.Repeat("A", 49), uint(8), byte('B'))
	f.Add("", strings.Repeat("a", 49), uint(3), byte(0xff))
	f.Fuzz(func(t *testing.T, prefix, s string, pos uint, b byte) {
		if CheckPrefixed(prefix, s) {
			var again string
			var err error
			if len(s) == len(prefix)+bodyLen+checksumLen {
				again, err = Generator{Rand: indexReader(s[len(prefix) : len(prefix)+bodyLen])}.Prefixed(prefix)
			} else {
				// Stamped: the stamp is hex milliseconds, then the body.
				st := s[len(prefix) : len(prefix)+stampLen]
				var ms int64
				for i := 0; i < len(st); i++ {
					ms = ms<<4 | int64(strings.IndexByte(hexDigits, st[i]))
				}
				body := s[len(prefix)+stampLen : len(prefix)+stampLen+bodyLen]
				again, err = Generator{Rand: indexReader(body)}.StampedPrefixed(prefix, time.UnixMilli(ms))
			}
			if err != nil || again != s {
				t.Fatalf("CheckPrefixed(%q, %q) passed, but the generator makes %q from that body (%v)", prefix, s, again, err)
			}
		}
		// A genuine output, derived from the fuzzed bytes, passes; every
		// one-byte change to it fails.
		var seed [bodyLen]byte
		copy(seed[:], s)
		src := make([]byte, bodyLen)
		for i := range src {
			src[i] = alphanumerics[int(seed[i])%len(alphanumerics)]
		}
		tok, err := Generator{Rand: indexReader(string(src))}.Prefixed(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !CheckPrefixed(prefix, tok) {
			t.Fatalf("Prefixed(%q) = %q fails its own check", prefix, tok)
		}
		if pos%2 == 1 {
			// Half the runs check the stamped shape instead.
			if tok, err = (Generator{Rand: indexReader(string(src))}).StampedPrefixed(prefix, time.UnixMilli(int64(pos))); err != nil {
				t.Fatal(err)
			}
			if !CheckPrefixed(prefix, tok) {
				t.Fatalf("StampedPrefixed(%q) = %q fails its own check", prefix, tok)
			}
		}
		i := int(pos % uint(len(tok)))
		if tok[i] == b {
			return
		}
		mut := tok[:i] + string([]byte{b}) + tok[i+1:]
		if CheckPrefixed(prefix, mut) {
			t.Fatalf("CheckPrefixed(%q, %q) passed after changing byte %d of %q", prefix, mut, i, tok)
		}
	})
}
