package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/metrics"
)

// counts reads tolk_http_requests_total by "route method code" and the
// number of latency observations by route.
func counts(t *testing.T, m *metrics.Metrics) (map[string]float64, map[string]uint64) {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	reqs, lat := map[string]float64{}, map[string]uint64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range mt.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetName() {
			case "tolk_http_requests_total":
				reqs[l["route"]+" "+l["method"]+" "+l["code"]] = mt.GetCounter().GetValue()
			case "tolk_http_request_duration_seconds":
				lat[l["route"]] = mt.GetHistogram().GetSampleCount()
			}
		}
	}
	return reqs, lat
}

// TestInstrumentCounts: the resolved children count every request, under
// the same labels as before, and a non-standard method is still counted.
func TestInstrumentCounts(t *testing.T) {
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := m.Instrument(mux)
	for _, rq := range []struct {
		method, path string
		n            int
	}{
		{"GET", "/a", 3}, {"POST", "/b", 2}, {"BREW", "/b", 2}, {"GET", "/nowhere", 2},
	} {
		for range rq.n {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(rq.method, rq.path, nil))
		}
	}
	reqs, lat := counts(t, m)
	for k, want := range map[string]float64{
		"GET /a GET 200": 3, "/b POST 418": 2, "/b BREW 418": 2, "unmatched GET 404": 2,
	} {
		if reqs[k] != want {
			t.Errorf("requests %q = %v, want %v (all: %v)", k, reqs[k], want, reqs)
		}
	}
	for k, want := range map[string]uint64{"GET /a": 3, "/b": 4, "unmatched": 2} {
		if lat[k] != want {
			t.Errorf("latency observations %q = %d, want %d", k, lat[k], want)
		}
	}
}

// BenchmarkInstrument is the metrics middleware alone around a matched
// route.
//
//	go test -run '^$' -bench Instrument -count 5 ./internal/kit/metrics/
func BenchmarkInstrument(b *testing.B) {
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/verify", func(w http.ResponseWriter, r *http.Request) {})
	h := m.Instrument(mux)
	req := httptest.NewRequest(http.MethodGet, "/auth/verify", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
