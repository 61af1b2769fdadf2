package oauth_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/oauth"
)

// FuzzBasicAuthMatchesStdlib: for any Authorization header, the token
// endpoint's Basic parser answers what r.BasicAuth answers.
func FuzzBasicAuthMatchesStdlib(f *testing.F) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, h := range []string{
		"Basic " + enc("client:secret"), "basic " + enc("a%3Ab:c:d"), "BASIC " + enc(":"), "Basic " + enc("nocolon"),
		"Basic " + enc("id:"+strings.Repeat("s", 400)), "Basic !!!", "Basic ", "Basic", "Bearer x", "",
		"Basic " + enc("id:secret") + "=", "Basic\t" + enc("a:b"), "Baſic " + enc("a:b"), "Basic " + enc("é:\x00"),
	} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
		r.Header["Authorization"] = []string{h}
		u1, p1, ok1 := oauth.BasicAuth(r)
		u2, p2, ok2 := r.BasicAuth()
		if u1 != u2 || p1 != p2 || ok1 != ok2 {
			t.Fatalf("%q: %q %q %v, r.BasicAuth %q %q %v", h, u1, p1, ok1, u2, p2, ok2)
		}
	})
}

// TestBasicAuthAllocations: one allocation for a client's Basic
// credentials (r.BasicAuth takes two), and answers past the stack
// buffer still right.
func TestBasicAuthAllocations(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	r.SetBasicAuth("tolk_client_0123456789abcdef", strings.Repeat("s", 43))
	if n := testing.AllocsPerRun(100, func() {
		if _, _, ok := oauth.BasicAuth(r); !ok {
			t.Fatal("not read")
		}
	}); n > 1 {
		t.Fatalf("%v allocations, want 1", n)
	}
	long := strings.Repeat("x", 600)
	r.SetBasicAuth("id", long)
	if u, p, ok := oauth.BasicAuth(r); u != "id" || p != long || !ok {
		t.Fatalf("long credentials: %q %d %v", u, len(p), ok)
	}
}
