// Package metrics holds tolk's Prometheus metrics on a private registry
// (no global state), and the middleware that counts requests by route.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tolk-project/tolk/internal/httpx"
)

// Metrics is the set of tolk's metrics.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	logins   *prometheus.CounterVec
}

// New registers every metric on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tolk_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tolk_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tolk_logins_total", Help: "Password logins by dialect and outcome (success, failure, throttled).",
		}, []string{"dialect", "outcome"}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.logins,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Login counts one login outcome.
func (m *Metrics) Login(dialect, outcome string) { m.logins.WithLabelValues(dialect, outcome).Inc() }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Instrument wraps the router itself: ServeMux records the matched pattern
// on the request it is given, so this must pass its own request through
// unchanged. Unmatched requests are counted under "unmatched", which keeps
// label cardinality bounded whatever paths clients send.
func (m *Metrics) Instrument(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sr, ok := w.(*httpx.StatusRecorder)
		if !ok {
			sr = &httpx.StatusRecorder{ResponseWriter: w}
		}
		returned := false
		defer func() {
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			status := sr.Status
			switch {
			case status != 0:
			case !returned:
				// The handler panicked before writing; Recover, further
				// out, answers 500.
				status = http.StatusInternalServerError
			default:
				status = http.StatusOK
			}
			m.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
			m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		mux.ServeHTTP(sr, r)
		returned = true
	})
}
