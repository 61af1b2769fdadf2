package httpx

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// go test -run '^$' -bench 'RedactQuery|AccessLog' -count 5 ./internal/kit/httpx/ | benchstat -

func BenchmarkRedactQuery(b *testing.B) {
	for _, q := range []string{"scope=read", "scope=read&audience=projects", "token=abc&scope=read"} {
		b.Run(q, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = RedactQuery(q)
			}
		})
	}
}

func BenchmarkAccessLog(b *testing.B) {
	h := AccessLog(slog.New(slog.NewTextHandler(io.Discard, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/auth/verify?scope=read", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
