package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
)

// BenchmarkMiddlewareChain measures tolk's per-request overhead (request
// id, client address, access log, recovery, security headers, metrics)
// in-process, on the cheapest route.
func BenchmarkMiddlewareChain(b *testing.B) {
	s := tolktest.New(b, tolktest.Options{LogTo: io.Discard})
	h := s.Tolk.Handler
	req := httptest.NewRequest(http.MethodGet, "/health/alive", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(newDiscardWriter(), req)
	}
}

// discardWriter is the least a ResponseWriter can be: a fresh header map
// per request (as net/http gives), the body thrown away. Unlike
// httptest.ResponseRecorder it does not snapshot headers, so what is
// measured is tolk's own work.
type discardWriter struct {
	h      http.Header
	status int
}

func newDiscardWriter() *discardWriter { return &discardWriter{h: make(http.Header)} }

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}

// BenchmarkAuthVerifyHandler is GET /auth/verify?scope=read through the
// whole middleware chain, in-process (no sockets), with a cached
// verification of every dialect's credential: what is left of tolk's
// per-request cost once the network is taken out. The loopback figure is
// BenchmarkAuthVerify in internal/handler/forwardauth, and tolkbench's rows.
func BenchmarkAuthVerifyHandler(b *testing.B) {
	s := tolktest.New(b, tolktest.Options{ClockStart: time.Now(), LogTo: io.Discard})
	u := s.CreateUser(b, "bench", store.RoleLinguist, "bench-password-1")
	jwt, _ := verifytest.PlatformJWT(b, s, u, "strings", "read")
	_, bearer := verifytest.ClientCredentials(b, s, false, "read")
	creds := []struct{ name, header, value string }{
		{"jwt", "Authorization", "Bearer " + jwt},
		{"bearer", "Authorization", "Bearer " + bearer},
		{"apitoken", "Authorization", "ApiToken " + verifytest.APIToken(b, s, "bench", "bench-password-1")},
		{"pat", "Authorization", "token " + verifytest.PAT(b, s, u, "read")},
		{"apikey", s.Tolk.Config.APIKeyHeader, verifytest.APIKey(b, s, u)},
	}
	h := s.Tolk.Handler
	for _, c := range creds {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/auth/verify?scope=read", nil)
			req.Header.Set(c.header, c.value)
			if w := newDiscardWriter(); func() int { h.ServeHTTP(w, req); return w.status }() != http.StatusOK {
				b.Fatalf("%s: status %d", c.name, w.status)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.ServeHTTP(newDiscardWriter(), req)
			}
		})
	}
}
