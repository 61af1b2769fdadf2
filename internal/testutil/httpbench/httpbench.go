// Package httpbench is the harness of tolk's loopback HTTP benchmarks:
// 16 concurrent requests (8 × GOMAXPROCS on the 2-core machines) over
// keep-alive connections, and the bare net/http handler every benchmark
// run is read against (BenchmarkBareHandler in the same invocation).
package httpbench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
)

// Client keeps enough idle connections for the parallel requests.
func Client() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

// Parallel sends build()'s requests from 8 goroutines per CPU until b.N
// are done; any status but 200 fails the benchmark. Besides ns/op it
// reports cpu-ns/op, the process's user+system CPU per request (client
// and server), which a machine shared with other work disturbs less than
// wall time.
func Parallel(b *testing.B, client *http.Client, build func() *http.Request) {
	b.Helper()
	b.SetParallelism(8)
	cpu0 := processCPU()
	defer func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		}
	}()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(build())
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// processCPU is the process's user+system CPU time so far, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// Bare starts the baseline: a handler that answers a small JSON body.
func Bare() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
}

// BenchmarkBare measures the baseline; packages call it from their own
// BenchmarkBareHandler so the figure comes from the same run.
func BenchmarkBare(b *testing.B) {
	srv := Bare()
	defer srv.Close()
	c := Client()
	Parallel(b, c, func() *http.Request { r, _ := http.NewRequest(http.MethodGet, srv.URL, nil); return r })
}
