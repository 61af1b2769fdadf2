package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/storeopen"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// newBackend makes a fresh backend on clock now; backends made by one
// call to a factory's share returned maker share their buckets (two
// instances of tolk).
type factory func(t *testing.T) func(now func() time.Time) Backend

func openStore(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := storeopen.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// RedisAddr is where the Redis tests look; TOLK_TEST_REDIS overrides it.
func redisURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("TOLK_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	addr := strings.TrimPrefix(url, "redis://")
	addr, _, _ = strings.Cut(addr, "/")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is required under CI=true but is not reachable at %s (set TOLK_TEST_REDIS): %v", addr, err)
		}
		t.Skipf("Redis not reachable at %s (set TOLK_TEST_REDIS): %v", addr, err)
	} else {
		c.Close()
	}
	return url
}

func randomPrefix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "tolktest:" + hex.EncodeToString(b) + ":"
}

var backends = map[string]factory{
	"Memory": func(t *testing.T) func(now func() time.Time) Backend {
		// One process: instances cannot share a Memory backend, so the
		// "second instance" is the same backend.
		var b *memoBackend
		return func(now func() time.Time) Backend {
			if b == nil {
				b = &memoBackend{Backend: Memory{Now: now}, ls: map[string]Limiter{}}
			}
			return b
		}
	},
	"SQLite": func(t *testing.T) func(now func() time.Time) Backend {
		st := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "rl.db"))
		return func(now func() time.Time) Backend { return &DB{Store: st, Now: now} }
	},
	"Postgres": func(t *testing.T) func(now func() time.Time) Backend {
		dsn := pgtest.NewMigrated(t)
		return func(now func() time.Time) Backend { return &DB{Store: openStore(t, dsn), Now: now} }
	},
	"Redis": func(t *testing.T) func(now func() time.Time) Backend {
		url, prefix := redisURL(t), randomPrefix()
		return func(now func() time.Time) Backend {
			r, err := NewRedis(t.Context(), url, prefix, now)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		}
	},
}

// TestBackends is the conformance suite every backend passes.
func TestBackends(t *testing.T) {
	for name, f := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runSuite(t, f)
		})
	}
}

func runSuite(t *testing.T, f factory) {
	ctx := context.Background()
	p := Policy{Name: "login", Burst: 3, Interval: time.Minute}
	type op struct {
		do      string // check, fail, hit, advance
		key     string
		advance time.Duration
		wantOK  bool
		wantRem int
		wait    time.Duration // expected RetryAfter when !wantOK
	}
	cases := []struct {
		name string
		ops  []op
	}{
		{"fresh key may try", []op{{do: "check", key: "ana", wantOK: true, wantRem: 3}}},
		{"failures throttle after the burst", []op{
			{do: "fail", key: "ana"}, {do: "check", key: "ana", wantOK: true, wantRem: 2},
			{do: "fail", key: "ana"}, {do: "fail", key: "ana"},
			{do: "check", key: "ana", wantOK: false, wait: time.Minute},
			{do: "check", key: "bob", wantOK: true, wantRem: 3},
		}},
		{"refill one token per interval", []op{
			{do: "fail", key: "ana"}, {do: "fail", key: "ana"}, {do: "fail", key: "ana"},
			{do: "advance", advance: 30 * time.Second},
			{do: "check", key: "ana", wantOK: false, wait: 30 * time.Second},
			{do: "advance", advance: 30 * time.Second},
			{do: "check", key: "ana", wantOK: true, wantRem: 1},
		}},
		{"failing while throttled does not extend the wait", []op{
			{do: "fail", key: "ana"}, {do: "fail", key: "ana"}, {do: "fail", key: "ana"},
			{do: "fail", key: "ana"}, {do: "fail", key: "ana"},
			{do: "advance", advance: time.Minute},
			{do: "check", key: "ana", wantOK: true, wantRem: 1},
		}},
		{"hit counts requests", []op{
			{do: "hit", key: "cli", wantOK: true, wantRem: 2},
			{do: "hit", key: "cli", wantOK: true, wantRem: 1},
			{do: "hit", key: "cli", wantOK: true, wantRem: 0},
			{do: "hit", key: "cli", wantOK: false, wait: time.Minute},
			{do: "advance", advance: 3 * time.Minute},
			{do: "hit", key: "cli", wantOK: true, wantRem: 2},
		}},
		{"retry-after is at least a second", []op{
			{do: "fail", key: "ana"}, {do: "fail", key: "ana"}, {do: "fail", key: "ana"},
			{do: "advance", advance: time.Minute - time.Millisecond},
			{do: "check", key: "ana", wantOK: false, wait: time.Second},
		}},
		{"refund gives one token back", []op{
			{do: "hit", key: "ana", wantOK: true, wantRem: 2}, {do: "hit", key: "ana", wantOK: true, wantRem: 1},
			{do: "hit", key: "ana", wantOK: true, wantRem: 0}, {do: "hit", key: "ana", wantOK: false, wait: time.Minute},
			{do: "refund", key: "ana"},
			{do: "check", key: "ana", wantOK: true, wantRem: 1},
			{do: "hit", key: "ana", wantOK: true, wantRem: 0}, {do: "hit", key: "ana", wantOK: false, wait: time.Minute},
		}},
		{"refund never fills beyond the burst", []op{
			{do: "refund", key: "ana"}, {do: "check", key: "ana", wantOK: true, wantRem: 3},
			{do: "hit", key: "ana", wantOK: true, wantRem: 2},
			{do: "advance", advance: 30 * time.Second},
			{do: "refund", key: "ana"}, {do: "refund", key: "ana"},
			{do: "check", key: "ana", wantOK: true, wantRem: 3},
			{do: "hit", key: "ana", wantOK: true, wantRem: 2}, {do: "hit", key: "ana", wantOK: true, wantRem: 1},
			{do: "hit", key: "ana", wantOK: true, wantRem: 0}, {do: "hit", key: "ana", wantOK: false, wait: time.Minute},
		}},
		{"huge and binary keys are bounded and distinct", []op{
			{do: "fail", key: strings.Repeat("x", 1<<20)}, {do: "fail", key: strings.Repeat("x", 1<<20)},
			{do: "fail", key: strings.Repeat("x", 1<<20)},
			{do: "check", key: strings.Repeat("x", 1<<20), wantOK: false, wait: time.Minute},
			{do: "check", key: strings.Repeat("x", 1<<20-1) + "y", wantOK: true, wantRem: 3},
			{do: "fail", key: "a\x00\xff"}, {do: "check", key: "a\x00\xff", wantOK: true, wantRem: 2},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 11, 23, 9, 31, 23, 0, time.UTC)}
			l := f(t)(clk.now).Limiter(p)
			for i, o := range c.ops {
				var d Decision
				var err error
				switch o.do {
				case "advance":
					clk.advance(o.advance)
					continue
				case "fail":
					if err := l.Fail(ctx, o.key); err != nil {
						t.Fatalf("op %d: Fail: %v", i, err)
					}
					continue
				case "refund":
					if err := l.Refund(ctx, o.key); err != nil {
						t.Fatalf("op %d: Refund: %v", i, err)
					}
					continue
				case "check":
					d, err = l.Check(ctx, o.key)
				case "hit":
					d, err = l.Hit(ctx, o.key)
				}
				if err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
				if d.OK != o.wantOK || d.Limit != p.Burst {
					t.Fatalf("op %d (%s): %+v, want OK=%v Limit=%d", i, o.do, d, o.wantOK, p.Burst)
				}
				if o.wantOK && d.Remaining != o.wantRem {
					t.Fatalf("op %d (%s): Remaining = %d, want %d", i, o.do, d.Remaining, o.wantRem)
				}
				if !o.wantOK && d.RetryAfter != o.wait {
					t.Fatalf("op %d (%s): RetryAfter = %v, want %v", i, o.do, d.RetryAfter, o.wait)
				}
			}
		})
	}
	t.Run("policies are separate buckets", func(t *testing.T) {
		clk := &clock{t: time.Unix(1_800_000_000, 0)}
		b := f(t)(clk.now)
		a, other := b.Limiter(Policy{Name: "a", Burst: 1, Interval: time.Hour}), b.Limiter(Policy{Name: "b", Burst: 1, Interval: time.Hour})
		if err := a.Fail(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if d, err := a.Check(ctx, "k"); err != nil || d.OK {
			t.Fatalf("a: %+v %v, want refused", d, err)
		}
		if d, err := other.Check(ctx, "k"); err != nil || !d.OK {
			t.Fatalf("b: %+v %v, want allowed", d, err)
		}
	})
	t.Run("concurrent hits spend exactly the burst", func(t *testing.T) {
		clk := &clock{t: time.Unix(1_800_000_000, 0)}
		l := f(t)(clk.now).Limiter(Policy{Name: "c", Burst: 7, Interval: time.Hour})
		const n = 24
		var ok atomic.Int32
		var firstErr atomic.Value
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				<-start
				d, err := l.Hit(ctx, "hot")
				if err != nil {
					firstErr.Store(err)
				}
				if d.OK {
					ok.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if err := firstErr.Load(); err != nil {
			t.Fatal(err)
		}
		if ok.Load() != 7 {
			t.Fatalf("%d of %d concurrent hits allowed, want exactly 7", ok.Load(), n)
		}
	})
	t.Run("concurrent reservations evaluate at most the burst", func(t *testing.T) {
		// Two instances (for Memory, one process), a user's and an
		// address's bucket, attempts behind a barrier: an attempt is
		// evaluated only with both tokens held; every third is right and
		// gives its tokens back. No more wrong attempts are evaluated
		// than the user's burst, and the right ones cost nothing.
		clk := &clock{t: time.Unix(1_800_000_000, 0)}
		mk := f(t)
		user := Policy{Name: "u", Burst: 5, Interval: time.Hour}
		addr := Policy{Name: "a", Burst: 50, Interval: time.Hour}
		type inst struct{ user, addr Limiter }
		insts := []inst{}
		for range 2 {
			b := mk(clk.now)
			insts = append(insts, inst{b.Limiter(user), b.Limiter(addr)})
		}
		const n = 40
		var wrong, right, refused atomic.Int32
		var firstErr atomic.Value
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				in := insts[i%2]
				<-start
				var res Reservation
				for _, k := range []struct {
					l   Limiter
					key string
				}{{in.addr, "10.0.0.1"}, {in.user, "ana"}} {
					d, err := res.Take(ctx, k.l, k.key)
					if err != nil {
						firstErr.Store(err)
					}
					if err != nil || !d.OK {
						if err := res.Release(ctx); err != nil {
							firstErr.Store(err)
						}
						refused.Add(1)
						return
					}
				}
				if i%3 == 0 {
					right.Add(1)
					if err := res.Release(ctx); err != nil {
						firstErr.Store(err)
					}
					return
				}
				wrong.Add(1)
				res.Keep()
			})
		}
		close(start)
		wg.Wait()
		if err := firstErr.Load(); err != nil {
			t.Fatal(err)
		}
		if wrong.Load() > int32(user.Burst) || wrong.Load() == 0 {
			t.Fatalf("%d wrong attempts evaluated with a burst of %d (%d right, %d refused)", wrong.Load(), user.Burst, right.Load(), refused.Load())
		}
		// What the right attempts held came back: the buckets hold
		// exactly what the wrong ones left.
		for i, in := range insts {
			if d, err := in.user.Check(ctx, "ana"); err != nil || d.Remaining != user.Burst-int(wrong.Load()) {
				t.Fatalf("instance %d: user bucket %+v %v after %d wrong attempts", i+1, d, err, wrong.Load())
			}
			if d, err := in.addr.Check(ctx, "10.0.0.1"); err != nil || d.Remaining != addr.Burst-int(wrong.Load()) {
				t.Fatalf("instance %d: address bucket %+v %v after %d wrong attempts", i+1, d, err, wrong.Load())
			}
		}
	})
	t.Run("two instances count together", func(t *testing.T) {
		clk := &clock{t: time.Unix(1_800_000_000, 0)}
		mk := f(t)
		one, two := mk(clk.now).Limiter(p), mk(clk.now).Limiter(p)
		for range 2 {
			if err := one.Fail(ctx, "ana"); err != nil {
				t.Fatal(err)
			}
		}
		if err := two.Fail(ctx, "ana"); err != nil {
			t.Fatal(err)
		}
		for i, l := range []Limiter{one, two} {
			if d, err := l.Check(ctx, "ana"); err != nil || d.OK {
				t.Fatalf("instance %d: %+v %v, want refused after 3 failures across both", i+1, d, err)
			}
		}
	})
}

func TestSweepBoundsMemory(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	f := NewFailures(2, time.Second, c.now)
	f.maxKeys = 10
	for i := 0; i < 10; i++ {
		_ = f.Fail(context.Background(), string(rune('a'+i)))
	}
	c.advance(time.Hour)
	_ = f.Fail(context.Background(), "new")
	if f.Len() != 1 {
		t.Fatalf("Len = %d after sweep, want 1", f.Len())
	}
}

// memoBackend hands out one limiter per policy name, so that the Memory
// backend's "second instance" is the same process's buckets.
type memoBackend struct {
	Backend
	mu sync.Mutex
	ls map[string]Limiter
}

func (m *memoBackend) Limiter(p Policy) Limiter {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ls[p.Name] == nil {
		m.ls[p.Name] = m.Backend.Limiter(p)
	}
	return m.ls[p.Name]
}

// countingStore counts trips to the shared bucket.
type countingStore struct {
	store.RateLimits
	takes atomic.Int64
}

func (c *countingStore) TakeRateLimit(ctx context.Context, key string, cost, capacity time.Duration, now time.Time) (bool, time.Time, error) {
	c.takes.Add(1)
	return c.RateLimits.TakeRateLimit(ctx, key, cost, capacity, now)
}

// TestDBLeases: a busy key of a leasing policy takes tokens in leases, so
// most hits cost no trip to the store, and two instances sharing the
// bucket still admit no more than the burst between them, wasting at most
// one lease each.
func TestDBLeases(t *testing.T) {
	st := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "lease.db"))
	cs := &countingStore{RateLimits: st}
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	p := Policy{Name: "client-req", Burst: 640, Interval: time.Hour, Lease: true} // no refill during the test
	lease := leaseSize(p)
	if lease != 10 {
		t.Fatalf("lease of %d tokens for burst 640", lease)
	}
	a := (&DB{Store: cs, Now: c.now}).Limiter(p)
	b := (&DB{Store: cs, Now: c.now}).Limiter(p)
	ctx := context.Background()
	var allowed, hits int
	for i := 0; i < 1000; i++ {
		l := a
		if i%3 == 0 {
			l = b
		}
		d, err := l.Hit(ctx, "client-1")
		if err != nil {
			t.Fatal(err)
		}
		hits++
		if d.OK {
			allowed++
			if d.Remaining < 0 || d.Remaining > p.Burst {
				t.Fatalf("Remaining %d", d.Remaining)
			}
		}
	}
	if allowed > p.Burst || allowed < p.Burst-2*(lease-1) {
		t.Fatalf("%d of %d hits allowed with a burst of %d and leases of %d", allowed, hits, p.Burst, lease)
	}
	// While tokens remained, about one trip per lease (two for the last
	// few, when a lease no longer fits); then one per refused hit.
	if takes := cs.takes.Load(); takes > int64(p.Burst/lease+2*lease+(hits-allowed)) {
		t.Fatalf("%d trips to the store for %d hits", takes, hits)
	}

	// Small bursts (failed logins) and policies without Lease are not leased.
	for _, q := range []Policy{{Name: "login", Burst: 10, Interval: time.Minute, Lease: true}, {Name: "strings", Burst: 1000, Interval: time.Second}} {
		if n := leaseSize(q); n != 1 {
			t.Fatalf("%s: lease of %d", q.Name, n)
		}
	}
	// A client allowed thousands of requests a second (a raised
	// client_request_burst) takes 64 tokens a trip: with 16 at a time,
	// its one row's upserts were PostgreSQL's largest cost per
	// client_credentials token.
	if n := leaseSize(Policy{Name: "client-req", Burst: 1 << 20, Interval: time.Millisecond, Lease: true}); n != 64 {
		t.Fatalf("lease of %d tokens for a burst of 1<<20, want 64", n)
	}
}

// dbLimiter1 is p's limiter on a DB backend of its own SQLite store, on a
// clock the test moves.
func dbLimiter1(t *testing.T, p Policy) (Limiter, *clock) {
	t.Helper()
	st := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "rl.db"))
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	return (&DB{Store: st, Now: c.now}).Limiter(p), c
}

// TestDBLeaseCannotOutrunTheBucket: tokens left in a lease are not used
// once they could have come back to the bucket, so a lease saved up while
// the bucket refills does not add to a full bucket's burst.
func TestDBLeaseCannotOutrunTheBucket(t *testing.T) {
	p := Policy{Name: "client-req", Burst: 1024, Interval: time.Millisecond, Lease: true}
	l, c := dbLimiter1(t, p)
	ctx := context.Background()
	// Two hits close together: the second takes a lease of 16 and uses one.
	for range 2 {
		if d, _ := l.Hit(ctx, "k"); !d.OK {
			t.Fatal("refused")
		}
	}
	// Idle until the bucket is nearly full again, then burst at one instant.
	c.advance(time.Duration(leaseSize(p)-1) * p.Interval)
	admitted := 0
	for range 2000 {
		if d, _ := l.Hit(ctx, "k"); d.OK {
			admitted++
		}
	}
	if admitted > p.Burst {
		t.Fatalf("%d admitted at one instant with a burst of %d", admitted, p.Burst)
	}
}

// TestDBSparseHitsTakeOneToken: a key hit less often than its bucket
// refills takes one token per hit, so its remaining count stays exact.
func TestDBSparseHitsTakeOneToken(t *testing.T) {
	p := Policy{Name: "client-req", Burst: 640, Interval: time.Second, Lease: true}
	l, c := dbLimiter1(t, p)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		d, err := l.Hit(ctx, "k")
		if err != nil || !d.OK {
			t.Fatalf("hit %d: %+v %v", i, d, err)
		}
		if d.Remaining < p.Burst-1 {
			t.Fatalf("hit %d: Remaining %d after one token per hit at the refill rate", i, d.Remaining)
		}
		c.advance(2 * p.Interval)
	}
}
