package retention_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/retention"
	"github.com/tolk-project/tolk/internal/store"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

type call struct {
	kind   store.Expired
	before time.Time
	limit  int
}

// fakeStore holds a number of expired rows per kind and a lease.
type fakeStore struct {
	mu       sync.Mutex
	expired  map[store.Expired]int
	calls    []call
	fail     error                    // returned by DeleteExpired when set
	lead     func(holder string) bool // TakeLease's answer; true when nil
	takes    []time.Time              // the now of each TakeLease
	released []string                 // holders that freed the lease
	onDelete func(kind store.Expired) // runs before each delete
}

func (f *fakeStore) DeleteExpired(ctx context.Context, kind store.Expired, before time.Time, limit int) (int, error) {
	if f.onDelete != nil {
		f.onDelete(kind)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{kind, before, limit})
	if f.fail != nil {
		return 0, f.fail
	}
	n := min(f.expired[kind], limit)
	f.expired[kind] -= n
	return n, nil
}

func (f *fakeStore) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if name != retention.LeaseName || !until.After(now) {
		panic("bad lease")
	}
	f.takes = append(f.takes, now)
	return f.lead == nil || f.lead(holder), nil
}

func (f *fakeStore) ReleaseLease(ctx context.Context, name, holder string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, holder)
	return nil
}

func (f *fakeStore) callsOf(kind store.Expired) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.kind == kind {
			out = append(out, c)
		}
	}
	return out
}

type fakeKeys struct{ n int }

func (k *fakeKeys) Prune(context.Context) (int, error) { n := k.n; k.n = 0; return n, nil }

type swept struct {
	result string
	at     time.Time
}

type fakeMetrics struct {
	mu      sync.Mutex
	deleted map[string]int
	sweeps  chan swept
}

func newMetrics() *fakeMetrics {
	return &fakeMetrics{deleted: map[string]int{}, sweeps: make(chan swept, 100)}
}

func (m *fakeMetrics) RetentionDeleted(kind string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleted[kind] += n
}

func (m *fakeMetrics) RetentionSwept(result string, took time.Duration, at time.Time) {
	m.sweeps <- swept{result, at}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func noPause(time.Duration) time.Duration { return 0 }

// TestSweepDeletesInBatches: every kind is swept at the clock's now, in
// statements of at most Batch rows until one finds fewer, with a pause
// after every full batch; audit events are swept at now − AuditRetention;
// the report and the metrics say what went.
func TestSweepDeletesInBatches(t *testing.T) {
	st := &fakeStore{expired: map[store.Expired]int{store.ExpiredAccessTokens: 1234, store.ExpiredAuditEvents: 100}}
	m := newMetrics()
	pauses := 0
	s := retention.New(retention.Options{Store: st, Keys: &fakeKeys{n: 1}, Now: func() time.Time { return t0 }, Metrics: m,
		Interval: time.Minute, AuditRetention: 24 * time.Hour, Batch: 500,
		Pause: func(time.Duration) time.Duration { pauses++; return 0 }})
	r, err := s.Sweep(t.Context())
	if err != nil || !r.Led {
		t.Fatalf("Sweep = %+v, %v", r, err)
	}
	for _, c := range st.callsOf(store.ExpiredAccessTokens) {
		if !c.before.Equal(t0) || c.limit != 500 {
			t.Errorf("access tokens: %+v, want before %v, limit 500", c, t0)
		}
	}
	if got := len(st.callsOf(store.ExpiredAccessTokens)); got != 3 {
		t.Errorf("access tokens took %d statements, want 3 (500, 500, 234)", got)
	}
	if pauses != 2 {
		t.Errorf("%d pauses, want one after each of the 2 full batches", pauses)
	}
	if c := st.callsOf(store.ExpiredAuditEvents); len(c) != 1 || !c[0].before.Equal(t0.Add(-24*time.Hour)) {
		t.Errorf("audit events: %+v, want one statement before %v", c, t0.Add(-24*time.Hour))
	}
	for _, k := range store.ExpiredKinds() {
		if len(st.callsOf(k)) == 0 {
			t.Errorf("%s not swept", k)
		}
	}
	want := map[string]int{"access_tokens": 1234, "audit_events": 100, retention.KindSigningKeys: 1}
	for k, n := range want {
		if r.Deleted[k] != n {
			t.Errorf("report: %s = %d, want %d", k, r.Deleted[k], n)
		}
		if m.deleted[k] != n {
			t.Errorf("metrics: %s = %d, want %d", k, m.deleted[k], n)
		}
	}
	if got := <-m.sweeps; got.result != "done" {
		t.Errorf("result %q, want done", got.result)
	}
	if _, ok := m.deleted["web_sessions"]; !ok {
		t.Error("the metrics do not name every kind before it has deleted anything")
	}
}

// TestAuditRetentionZeroKeepsEvents: with no audit retention the audit
// log is never swept.
func TestAuditRetentionZeroKeepsEvents(t *testing.T) {
	st := &fakeStore{expired: map[store.Expired]int{store.ExpiredAuditEvents: 10}}
	s := retention.New(retention.Options{Store: st, Now: func() time.Time { return t0 }, Interval: time.Minute, Pause: noPause})
	if _, err := s.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := st.callsOf(store.ExpiredAuditEvents); len(c) != 0 {
		t.Errorf("audit events swept: %+v", c)
	}
}

// TestAnotherInstanceSweeps: without the lease a sweeper deletes nothing
// and reports that it skipped.
func TestAnotherInstanceSweeps(t *testing.T) {
	st := &fakeStore{expired: map[store.Expired]int{store.ExpiredAccessTokens: 10}, lead: func(string) bool { return false }}
	m := newMetrics()
	s := retention.New(retention.Options{Store: st, Now: func() time.Time { return t0 }, Metrics: m, Interval: time.Minute})
	r, err := s.Sweep(t.Context())
	if err != nil || r.Led || len(st.calls) != 0 {
		t.Fatalf("Sweep = %+v, %v with %d deletes; want a skip", r, err, len(st.calls))
	}
	if got := <-m.sweeps; got.result != "skipped" {
		t.Errorf("result %q, want skipped", got.result)
	}
}

// TestFailureEndsTheSweep: a failing delete ends the sweep with its error,
// counted as failed; the next sweep starts over.
func TestFailureEndsTheSweep(t *testing.T) {
	boom := errors.New("disk full")
	st := &fakeStore{expired: map[store.Expired]int{store.ExpiredAccessTokens: 10}, fail: boom}
	m := newMetrics()
	s := retention.New(retention.Options{Store: st, Now: func() time.Time { return t0 }, Metrics: m, Interval: time.Minute})
	if _, err := s.Sweep(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("Sweep error = %v, want %v", err, boom)
	}
	if len(st.calls) != 1 {
		t.Errorf("%d deletes after the failure, want the sweep to stop at the first", len(st.calls))
	}
	if got := <-m.sweeps; got.result != "failed" {
		t.Errorf("result %q, want failed", got.result)
	}
	st.fail = nil
	if r, err := s.Sweep(t.Context()); err != nil || r.Deleted["access_tokens"] != 10 {
		t.Errorf("next Sweep = %+v, %v", r, err)
	}
}

// TestLeaseRenewedDuringALongSweep: a sweep that lasts renews the lease
// once a quarter of it has passed, and stops where it is when another
// instance holds it by then.
func TestLeaseRenewedDuringALongSweep(t *testing.T) {
	c := &clock{t: t0}
	lost := false
	st := &fakeStore{expired: map[store.Expired]int{store.ExpiredAccessTokens: 10_000}, lead: func(string) bool { return !lost }}
	// Each batch takes a minute of the clock; the lease is 2 × 10 min, so
	// it is renewed every fifth batch.
	st.onDelete = func(store.Expired) { c.Advance(time.Minute) }
	s := retention.New(retention.Options{Store: st, Now: c.Now, Interval: 10 * time.Minute, Batch: 100, Pause: noPause})
	if _, err := s.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(st.takes) < 10 {
		t.Errorf("%d takes of the lease over a 100-minute sweep; want a renewal every 5 minutes", len(st.takes))
	}
	for i := 1; i < len(st.takes); i++ {
		if gap := st.takes[i].Sub(st.takes[i-1]); gap > 6*time.Minute {
			t.Errorf("renewal %d came %s after the last, past a quarter of the lease", i, gap)
		}
	}

	st.expired[store.ExpiredAccessTokens] = 10_000
	before := len(st.callsOf(store.ExpiredAccessTokens))
	st.onDelete = func(store.Expired) { c.Advance(time.Minute); lost = true }
	r, err := s.Sweep(t.Context())
	if err != nil || !r.Led {
		t.Fatalf("Sweep = %+v, %v", r, err)
	}
	if n := len(st.callsOf(store.ExpiredAccessTokens)) - before; n > 6 {
		t.Errorf("%d batches after the lease went to another instance, want the sweep to stop at the next renewal", n)
	}
}

// TestRunSweepsAtOnceAndOnEveryTick: Run sweeps when it starts and at
// each tick, judging expiry by the injected clock, and frees its lease
// when its context ends.
func TestRunSweepsAtOnceAndOnEveryTick(t *testing.T) {
	c := &clock{t: t0}
	st := &fakeStore{expired: map[store.Expired]int{}}
	m := newMetrics()
	s := retention.New(retention.Options{Store: st, Now: c.Now, Metrics: m, Interval: time.Minute, Pause: noPause})
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, ticks) }()

	var at []time.Time
	at = append(at, (<-m.sweeps).at)
	for range 2 {
		c.Advance(time.Minute)
		ticks <- c.Now()
		at = append(at, (<-m.sweeps).at)
	}
	cancel()
	<-done
	if want := []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}; !slices.Equal(at, want) {
		t.Errorf("sweeps at %v, want %v", at, want)
	}
	var befores []time.Time
	for _, c := range st.callsOf(store.ExpiredAccessTokens) {
		befores = append(befores, c.before)
	}
	if want := []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}; !slices.Equal(befores, want) {
		t.Errorf("access tokens swept before %v, want %v", befores, want)
	}
	if len(st.released) != 1 {
		t.Errorf("lease freed %d times when Run ended, want once", len(st.released))
	}
}
