package loadgen

import (
	"math/bits"
	"time"
)

// hist is a log-linear histogram of latencies: exact below 64 ns, then 32
// buckets per power of two, so a percentile read from it is within 1/64 of
// the true value. It has a fixed size, so a long run (a soak measuring
// memory) costs the load generator no memory per request, and recording
// is a few instructions.
type hist struct {
	n      int64
	counts [histBuckets]int64
}

// The largest int64 has bit length 63: e up to 57.
const histBuckets = 64 + 57*32

func histIndex(v int64) int {
	if v < 64 {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - 6 // v>>e is in [32, 63]
	return 64 + (e-1)*32 + int(v>>e) - 32
}

// histValue is the middle of bucket i's range.
func histValue(i int) int64 {
	if i < 64 {
		return int64(i)
	}
	e := (i-64)/32 + 1
	m := int64((i-64)%32 + 32)
	lo, hi := m<<e, (m+1)<<e-1
	return lo + (hi-lo)/2
}

func (h *hist) record(d time.Duration) {
	h.counts[histIndex(int64(d))]++
	h.n++
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the latency at fraction q (0 ≤ q < 1) of the recorded
// ones, in the order they sort: the value whose rank is floor(q × n).
func (h *hist) quantile(q float64) time.Duration {
	rank := int64(q * float64(h.n))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return time.Duration(histValue(i))
		}
	}
	return 0
}
