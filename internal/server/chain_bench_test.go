package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// BenchmarkMiddlewareChain measures tolk's per-request overhead (request
// id, client address, access log, recovery, security headers, metrics)
// in-process, on the cheapest route.
func BenchmarkMiddlewareChain(b *testing.B) {
	s := tolktest.New(b)
	h := s.Tolk.Handler
	req := httptest.NewRequest(http.MethodGet, "/health/alive", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
	}
}
