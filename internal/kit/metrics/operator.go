package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// operatorMetrics are what an operator watches beyond HTTP counts
// (docs/operations.md, Monitoring): tokens issued and refused, rate-limit
// refusals, store latency and errors, account mails. Every label takes
// values from a fixed set in tolk's code (dialects, grants, OAuth error
// codes, limit policies, store methods, mail kinds), never from a
// request: no client id, user or path becomes a series.
type operatorMetrics struct {
	issued      *prometheus.CounterVec
	refused     *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	storeTime   *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	mails       *prometheus.CounterVec
}

func newOperatorMetrics(r prometheus.Registerer) operatorMetrics {
	m := operatorMetrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tolk_tokens_issued_total",
			Help: "Tokens issued, by dialect (oauth, platform, tms, strings, proz) and grant.",
		}, []string{"dialect", "grant"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tolk_tokens_refused_total",
			Help: "Token requests refused at the token endpoint, by dialect, grant and OAuth error code.",
		}, []string{"dialect", "grant", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tolk_rate_limited_total",
			Help: "Attempts refused by an abuse limit, by limit (docs/limits.md).",
		}, []string{"limit"}),
		storeTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tolk_store_operation_duration_seconds",
			Help: "Latency of store calls, by store method.",
			// From a cached SQLite read to a PostgreSQL failover's wait.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5},
		}, []string{"operation"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tolk_store_errors_total",
			Help: "Store calls that failed (not counting not-found, conflict and already-used answers), by store method.",
		}, []string{"operation"}),
		mails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tolk_mails_total", Help: "Account mails by kind and result (sent, failed).",
		}, []string{"kind", "result"}),
	}
	r.MustRegister(m.issued, m.refused, m.rateLimited, m.storeTime, m.storeErrors, m.mails)
	return m
}

// Token counts one outcome of a token request: issued when reason is "",
// else refused for reason (an OAuth error code).
func (m *Metrics) Token(dialect, grant, reason string) {
	if reason == "" {
		m.operator.issued.WithLabelValues(dialect, grant).Inc()
		return
	}
	m.operator.refused.WithLabelValues(dialect, grant, reason).Inc()
}

// RateLimited counts one attempt refused by the limit named limit.
func (m *Metrics) RateLimited(limit string) { m.operator.rateLimited.WithLabelValues(limit).Inc() }

// Mail counts one account mail of kind: result is sent or failed.
func (m *Metrics) Mail(kind, result string) { m.operator.mails.WithLabelValues(kind, result).Inc() }

// StoreOperation returns the recorder of the store method named op: it
// takes a call's duration and whether it failed. Its series are made at
// the first call, so that /metrics lists the methods a process uses, not
// all of them, and resolved once, so that a call costs no label lookup.
func (m *Metrics) StoreOperation(op string) func(d time.Duration, failed bool) {
	var (
		once sync.Once
		o    prometheus.Observer
		e    prometheus.Counter
	)
	return func(d time.Duration, failed bool) {
		once.Do(func() {
			o = m.operator.storeTime.WithLabelValues(op)
			e = m.operator.storeErrors.WithLabelValues(op)
		})
		o.Observe(d.Seconds())
		if failed {
			e.Inc()
		}
	}
}
