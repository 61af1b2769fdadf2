package metrics_test

import (
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/metrics"
)

// TestRetentionMetrics: deletions add up per kind, sweeps count per
// result, and the last sweep's duration and time are those of the last
// sweep that ran (a skip leaves them).
func TestRetentionMetrics(t *testing.T) {
	m := metrics.New()
	m.RetentionDeleted("web_sessions", 0)
	m.RetentionDeleted("access_tokens", 500)
	m.RetentionDeleted("access_tokens", 34)
	at := time.Unix(1_800_000_000, 0)
	m.RetentionSwept("done", 1500*time.Millisecond, at)
	m.RetentionSwept("skipped", time.Millisecond, at.Add(time.Minute))
	m.RetentionSwept("failed", 250*time.Millisecond, at.Add(2*time.Minute))

	got := map[string]float64{}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range mt.GetLabel() {
				name += " " + l.GetValue()
			}
			switch {
			case mt.Counter != nil:
				got[name] = mt.GetCounter().GetValue()
			case mt.Gauge != nil:
				got[name] = mt.GetGauge().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"tolk_retention_deleted_total access_tokens":  534,
		"tolk_retention_deleted_total web_sessions":   0,
		"tolk_retention_sweeps_total done":            1,
		"tolk_retention_sweeps_total skipped":         1,
		"tolk_retention_sweeps_total failed":          1,
		"tolk_retention_last_sweep_duration_seconds":  0.25,
		"tolk_retention_last_sweep_timestamp_seconds": float64(at.Add(2 * time.Minute).Unix()),
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}
