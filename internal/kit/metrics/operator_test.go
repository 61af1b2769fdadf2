package metrics_test

import (
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/metrics"
)

// series gathers m's counters and histogram counts as "name label…" →
// value.
func series(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range mt.GetLabel() {
				name += " " + l.GetValue()
			}
			switch {
			case mt.Counter != nil:
				got[name] = mt.GetCounter().GetValue()
			case mt.Histogram != nil:
				got[name] = float64(mt.GetHistogram().GetSampleCount())
			}
		}
	}
	return got
}

// TestOperatorMetrics: each recorder moves its own series and no other;
// store series appear only for the methods called.
func TestOperatorMetrics(t *testing.T) {
	m := metrics.New()
	m.Token("oauth", "client_credentials", "")
	m.Token("oauth", "client_credentials", "")
	m.Token("oauth", "refresh_token", "invalid_grant")
	m.RateLimited("login-user")
	m.Mail("invitation", "sent")
	m.Mail("password_reset", "failed")
	get := m.StoreOperation("GetClient")
	_ = m.StoreOperation("NeverCalled")
	get(2*time.Millisecond, false)
	get(time.Millisecond, true)

	got := series(t, m)
	for name, want := range map[string]float64{
		"tolk_tokens_issued_total oauth client_credentials":           2,
		"tolk_tokens_refused_total oauth refresh_token invalid_grant": 1,
		"tolk_rate_limited_total login-user":                          1,
		"tolk_mails_total invitation sent":                            1,
		"tolk_mails_total password_reset failed":                      1,
		"tolk_store_operation_duration_seconds GetClient":             2,
		"tolk_store_errors_total GetClient":                           1,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	for _, name := range []string{"tolk_tokens_issued_total oauth refresh_token", "tolk_store_operation_duration_seconds NeverCalled"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s exists but nothing happened to it", name)
		}
	}
}
