package secret

import (
	"strings"
	"testing"
)

func TestPrefixed(t *testing.T) {
	var g Generator
	s, err := g.Prefixed(PrefixAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "tolk_at_") || len(s) != 8+43+6 {
		t.Fatalf("shape: %q", s)
	}
	if !CheckPrefixed(PrefixAccessToken, s) {
		t.Fatal("own token fails the check")
	}
	flip := []byte(s)
	if flip[10] == 'A' {
		flip[10] = 'B'
	} else {
		flip[10] = 'A'
	}
	for name, bad := range map[string]string{
		"other prefix":   strings.Replace(s, "tolk_at_", "tolk_rt_", 1),
		"changed body":   string(flip),
		"truncated":      s[:len(s)-1],
		"empty":          "",
		"bad characters": PrefixAccessToken + strings.Repeat("-", 43) + "AAAAAA",
	} {
		if CheckPrefixed(PrefixAccessToken, bad) {
			t.Errorf("%s accepted", name)
		}
	}
}
