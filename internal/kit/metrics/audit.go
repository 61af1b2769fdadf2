package metrics

import "github.com/prometheus/client_golang/prometheus"

// auditMetrics count the audit events held in memory while the database
// is unavailable, and those lost because the hold was full
// (audit.Recorder.Hold, audit_hold).
type auditMetrics struct {
	held    prometheus.Gauge
	dropped prometheus.Counter
}

func newAuditMetrics(r prometheus.Registerer) auditMetrics {
	m := auditMetrics{
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tolk_audit_events_held", Help: "Audit events held in memory until the unavailable database returns.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tolk_audit_events_dropped_total", Help: "Audit events lost because the database was unavailable and audit_hold was full.",
		}),
	}
	r.MustRegister(m.held, m.dropped)
	return m
}

// AuditHeld sets how many audit events wait for the database.
func (m *Metrics) AuditHeld(n int) { m.audit.held.Set(float64(n)) }

// AuditDropped counts n audit events lost to a full hold.
func (m *Metrics) AuditDropped(n int) { m.audit.dropped.Add(float64(n)) }
