package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestHistQuantiles: percentiles read from the histogram are within 1/64
// of the exact ones, over latencies from nanoseconds to seconds.
func TestHistQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h hist
	var all []time.Duration
	for i := 0; i < 200_000; i++ {
		// Log-uniform from 10 ns to 10 s.
		d := time.Duration(10 * math.Pow(10, r.Float64()*9))
		h.record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))]
		got := h.quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > 1.0/64 || diff < -1.0/64 {
			t.Errorf("q%.3f: %v, exact %v (%.2f%% off)", q, got, exact, 100*diff)
		}
	}
	if h.n != int64(len(all)) {
		t.Fatalf("n = %d", h.n)
	}
	// Every bucket's value maps back to the bucket.
	for i := 0; i < histBuckets; i++ {
		if j := histIndex(histValue(i)); j != i {
			t.Fatalf("bucket %d: value %d indexes %d", i, histValue(i), j)
		}
	}
}

// TestMerge: merged results add counts and elapsed times, and their
// percentiles are those of every latency together, not an average of the
// runs' percentiles.
func TestMerge(t *testing.T) {
	fast, slow := new(hist), new(hist)
	for i := 0; i < 900; i++ {
		fast.record(time.Millisecond)
	}
	for i := 0; i < 100; i++ {
		slow.record(time.Second)
	}
	m := Merge(
		Result{Requests: 900, Errors: 1, Elapsed: time.Second, FirstErr: "status 500", lat: fast},
		Result{Requests: 100, Elapsed: 2 * time.Second, lat: slow},
	)
	if m.Requests != 1000 || m.Errors != 1 || m.Elapsed != 3*time.Second || m.FirstErr != "status 500" {
		t.Fatalf("merged %+v", m)
	}
	near := func(got, want time.Duration) bool { return math.Abs(float64(got-want)) <= float64(want)/64 }
	if !near(m.P50, time.Millisecond) || !near(m.P99, time.Second) {
		t.Fatalf("p50 %v p99 %v, want ~1ms and ~1s", m.P50, m.P99)
	}
	if m.RPS() != 1000.0/3 {
		t.Fatalf("rps %v", m.RPS())
	}
}
