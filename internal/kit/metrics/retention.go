package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// retentionMetrics are the retention sweeper's: what it deleted, how its
// sweeps ended, and the last one's duration and time, so that an operator
// sees a sweeper that fails, stalls or falls behind.
type retentionMetrics struct {
	deleted      *prometheus.CounterVec
	sweeps       *prometheus.CounterVec
	lastDuration prometheus.Gauge
	lastTime     prometheus.Gauge
}

func newRetentionMetrics(r prometheus.Registerer) retentionMetrics {
	m := retentionMetrics{
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tolk_retention_deleted_total", Help: "Rows the retention sweeper deleted, by kind (table).",
		}, []string{"kind"}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tolk_retention_sweeps_total", Help: "Retention sweeps by result: done, failed, or skipped (another instance sweeps).",
		}, []string{"result"}),
		lastDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tolk_retention_last_sweep_duration_seconds", Help: "How long the last retention sweep this instance ran took.",
		}),
		lastTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tolk_retention_last_sweep_timestamp_seconds", Help: "When the last retention sweep this instance ran ended (Unix time).",
		}),
	}
	r.MustRegister(m.deleted, m.sweeps, m.lastDuration, m.lastTime)
	return m
}

// RetentionDeleted counts n rows of kind deleted by the sweeper; n = 0
// makes the kind's series appear before its first deletion.
func (m *Metrics) RetentionDeleted(kind string, n int) {
	m.retention.deleted.WithLabelValues(kind).Add(float64(n))
}

// RetentionSwept records the end of a sweep: its result (done, failed,
// skipped) and, unless skipped, how long it took and when it ended.
func (m *Metrics) RetentionSwept(result string, took time.Duration, at time.Time) {
	m.retention.sweeps.WithLabelValues(result).Inc()
	if result != "skipped" {
		m.retention.lastDuration.Set(took.Seconds())
		m.retention.lastTime.Set(float64(at.UnixNano()) / 1e9)
	}
}
