// Package metrics holds tolk's Prometheus metrics on a private registry
// (no global state), and the middleware that counts requests by route.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tolk-project/tolk/internal/kit/httpx"
)

// Metrics is the set of tolk's metrics.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	logins   *prometheus.CounterVec

	retention retentionMetrics
	operator  operatorMetrics
	audit     auditMetrics

	// The children of requests and latency already resolved, so that a
	// request costs one map lookup each instead of hashing and checking
	// its label values (WithLabelValues). Only standard methods are kept:
	// routes and codes are bounded, a client's method is not.
	counters  sync.Map // requestKey → prometheus.Counter
	observers sync.Map // route → prometheus.Observer
}

type requestKey struct {
	route, method string
	code          int
}

// standardMethods are the methods whose counters are kept resolved.
var standardMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// request counts one request and observes its latency.
func (m *Metrics) request(route, method string, code int, d time.Duration) {
	k := requestKey{route, method, code}
	if c, ok := m.counters.Load(k); ok {
		c.(prometheus.Counter).Inc()
	} else {
		c := m.requests.WithLabelValues(route, method, strconv.Itoa(code))
		if standardMethods[method] {
			m.counters.Store(k, c)
		}
		c.Inc()
	}
	o, ok := m.observers.Load(route)
	if !ok {
		o, _ = m.observers.LoadOrStore(route, m.latency.WithLabelValues(route))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
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
	m.retention = newRetentionMetrics(m.Registry)
	m.operator = newOperatorMetrics(m.Registry)
	m.audit = newAuditMetrics(m.Registry)
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
			m.request(route, r.Method, status, time.Since(start))
		}()
		mux.ServeHTTP(sr, r)
		returned = true
	})
}
