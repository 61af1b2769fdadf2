package httpx

import (
	"net/url"
	"strings"
	"testing"
)

// The fast path of RedactQuery must never log a value the slow path would
// have redacted.
func TestRedactQueryFastPathNeverLeaks(t *testing.T) {
	for _, q := range []string{
		"token=s3cret", "TOKEN=s3cret", "Token=s3cret", "%74oken=s3cret", "to%6Ben=s3cret", "scope=read&access_token=s3cret",
		"scope=read&Client_Secret=s3cret", "x=1;token=s3cret", "scope=read&code=s3cret",
		"scope=read&key=s3cret", "a=1&PASSWORD=s3cret", "subject_token=s3cret", strings.Repeat("a", 300) + "&token=s3cret",
	} {
		if got := RedactQuery(q); strings.Contains(got, "s3cret") {
			t.Errorf("RedactQuery(%q) = %q leaks the secret", q, got)
		}
	}
	for _, q := range []string{"scope=read", "scope=read&audience=projects", "a=1&b=2"} {
		got := RedactQuery(q)
		want, _ := url.ParseQuery(q)
		if parsed, err := url.ParseQuery(got); err != nil || parsed.Encode() != want.Encode() {
			t.Errorf("RedactQuery(%q) = %q, want the same parameters", q, got)
		}
	}
}

func FuzzRedactQueryFastPath(f *testing.F) {
	f.Add("scope=read&token=x")
	f.Fuzz(func(t *testing.T, q string) {
		if !plainQuery(q) {
			return
		}
		v, err := url.ParseQuery(q)
		if err != nil {
			t.Fatalf("plainQuery(%q) but ParseQuery fails: %v", q, err)
		}
		for k := range v {
			for _, s := range sensitiveParams {
				if strings.EqualFold(k, s) {
					t.Fatalf("plainQuery(%q) but key %q is sensitive", q, k)
				}
			}
		}
	})
}
