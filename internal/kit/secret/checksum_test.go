package secret

import (
	"testing"
	"time"
)

func TestWithChecksum(t *testing.T) {
	s := WithChecksum(PrefixAccessToken, "AQID-_body")
	body, ok := CheckChecksum(PrefixAccessToken, s)
	if !ok || body != "AQID-_body" {
		t.Fatalf("CheckChecksum(%q) = %q, %v", s, body, ok)
	}
	for _, bad := range []string{
		"", PrefixAccessToken, s[:len(s)-1], s[:len(s)-1] + "x", "tolk_rt_" + s[len(PrefixAccessToken):],
		PrefixAccessToken + "AQID-_bodz" + s[len(s)-6:],
	} {
		if _, ok := CheckChecksum(PrefixAccessToken, bad); ok {
			t.Errorf("CheckChecksum accepted %q", bad)
		}
	}
}

func TestStampTime(t *testing.T) {
	var g Generator
	at := time.UnixMilli(1_796_000_000_123)
	id, err := g.StampedHex(at, 12)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := StampTime(id); !ok || !got.Equal(at) {
		t.Fatalf("StampTime(%q) = %v, %v; want %v", id, got, ok, at)
	}
	for _, bad := range []string{"", "0123456789a", "0123456789aG00", "ABCDEF012345ff"} {
		if _, ok := StampTime(bad); ok {
			t.Errorf("StampTime accepted %q", bad)
		}
	}
}
