// Package retention deletes what tolk no longer needs (SPEC §9): expired
// codes, tokens, sessions and pending sign-ins, refresh tokens of dead
// families, full rate-limit buckets, signing keys no longer published, and
// audit events past their retention.
//
// A Sweeper sweeps every cleanup_interval. It deletes a bounded number of
// rows per statement and pauses between batches in proportion to how long
// each took, so that a large backlog is worked off without stalling the
// requests that share the database (on SQLite, its one writer). Of all the
// processes on one database only the holder of the lease "sweep" sweeps;
// it renews the lease while it works and frees it when it stops.
package retention

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// Store is what a Sweeper needs of the store.
type Store interface {
	store.Retention
	store.Leases
}

// Keys prunes retired signing keys that are no longer published
// (signing.Keyring, which also drops them from its cache).
type Keys interface {
	Prune(ctx context.Context) (int, error)
}

// Metrics receives what the sweeps did (internal/kit/metrics).
type Metrics interface {
	// RetentionDeleted counts n deleted rows of kind.
	RetentionDeleted(kind string, n int)
	// RetentionSwept records how a sweep ended (done, failed, skipped),
	// how long it took and when.
	RetentionSwept(result string, took time.Duration, at time.Time)
}

// KindSigningKeys is the kind under which pruned signing keys are counted.
const KindSigningKeys = "signing_keys"

// LeaseName is the lease whose holder sweeps.
const LeaseName = "sweep"

// Options configure a Sweeper. Store and Interval are required.
type Options struct {
	Store Store
	Keys  Keys // nil: signing keys are not pruned
	Log   *slog.Logger
	Now   func() time.Time // the clock expiry is judged by; time.Now when nil
	// Metrics, if set, receives every sweep's figures.
	Metrics Metrics
	// Interval is the time between sweeps (cleanup_interval); it also
	// sets the lease: 2 × Interval, renewed at every sweep, so that the
	// sweeping instance keeps the role and another takes it over once it
	// is gone.
	Interval time.Duration
	// AuditRetention is how long audit events are kept; 0 keeps them.
	AuditRetention time.Duration
	// Batch bounds the rows one statement deletes; DefaultBatch when 0.
	Batch int
	// Pause is how long to wait after a full batch that took `took`
	// before the next; DefaultPause when nil.
	Pause func(took time.Duration) time.Duration
}

// DefaultBatch is the rows per statement when Options.Batch is 0: large
// enough that a batch costs little more than its statement's round trip,
// small enough that it holds the database for a few milliseconds only.
const DefaultBatch = 500

// DefaultPause waits twenty times as long as the batch took, and at least
// 20 ms: the sweeper then holds at most a twenty-first of the database's
// write time, and less the busier the database is (a batch waiting for
// the writer takes longer), so that it takes next to nothing from
// requests under full load and still deletes thousands of rows a second
// when they leave room (docs/performance.md).
func DefaultPause(took time.Duration) time.Duration { return max(20*time.Millisecond, 20*took) }

// Sweeper deletes what has expired, one sweep at a time.
type Sweeper struct {
	o      Options
	holder string // this sweeper's name in the lease

	mu      sync.Mutex // one sweep at a time
	renewed time.Time  // when this sweeper last took or renewed the lease
}

// New returns a Sweeper; it sweeps when Sweep or Run is called.
func New(o Options) *Sweeper {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Pause == nil {
		o.Pause = DefaultPause
	}
	if o.Metrics != nil {
		for _, k := range store.ExpiredKinds() {
			o.Metrics.RetentionDeleted(string(k), 0)
		}
		o.Metrics.RetentionDeleted(KindSigningKeys, 0)
	}
	return &Sweeper{o: o, holder: rand.Text()}
}

// Report is what one sweep did.
type Report struct {
	// Led is whether this sweeper held the lease and swept; false when
	// another process sweeps.
	Led bool
	// Deleted counts the deleted rows by kind (store.Expired values and
	// KindSigningKeys).
	Deleted map[string]int
}

// Run sweeps at once, then at every tick, until ctx ends; then it frees
// the lease so that another instance can take over at once.
func (s *Sweeper) Run(ctx context.Context, ticks <-chan time.Time) {
	defer s.release(context.WithoutCancel(ctx))
	for {
		_, _ = s.Sweep(ctx) // logged and counted
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}

func (s *Sweeper) release(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s.renewed = time.Time{}
	if err := s.o.Store.ReleaseLease(ctx, LeaseName, s.holder); err != nil {
		s.o.Log.Warn("retention: freeing the sweep lease", "err", err)
	}
}

// Sweep takes or renews the lease and, if this sweeper holds it, deletes
// everything expired at the clock's now, batch by batch. An error ends
// the sweep (the next one resumes); so does ctx ending, which is no error
// to report.
func (s *Sweeper) Sweep(ctx context.Context) (Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	now := s.o.Now()
	r := Report{Deleted: map[string]int{}}
	var err error
	r.Led, err = s.lead(ctx, now)
	if err == nil && r.Led {
		err = s.sweep(ctx, now, r.Deleted)
	}
	took := time.Since(start)
	result := "done"
	switch {
	case ctx.Err() != nil:
		return r, ctx.Err()
	case err != nil:
		result = "failed"
		s.o.Log.Error("retention: sweep failed", "err", err, "deleted", total(r.Deleted))
	case !r.Led:
		result = "skipped"
		s.o.Log.Debug("retention: another instance sweeps")
	default:
		level := slog.LevelDebug
		if total(r.Deleted) > 0 {
			level = slog.LevelInfo
		}
		s.o.Log.Log(ctx, level, "retention: swept", "deleted", total(r.Deleted), "took", took.Round(time.Millisecond))
	}
	if s.o.Metrics != nil {
		s.o.Metrics.RetentionSwept(result, took, s.o.Now())
	}
	return r, err
}

func (s *Sweeper) sweep(ctx context.Context, now time.Time, deleted map[string]int) error {
	for _, kind := range store.ExpiredKinds() {
		before := now
		if kind == store.ExpiredAuditEvents {
			if s.o.AuditRetention <= 0 {
				continue
			}
			before = now.Add(-s.o.AuditRetention)
		}
		for {
			t0 := time.Now()
			n, err := s.o.Store.DeleteExpired(ctx, kind, before, s.o.Batch)
			deleted[string(kind)] += n
			s.count(string(kind), n)
			if err != nil {
				return err
			}
			if n < s.o.Batch {
				break
			}
			if err := s.yield(ctx, s.o.Pause(time.Since(t0))); err != nil {
				return err
			}
			if led, err := s.lead(ctx, s.o.Now()); err != nil || !led {
				return err // another instance took over: it sweeps the rest
			}
		}
	}
	if s.o.Keys != nil {
		n, err := s.o.Keys.Prune(ctx)
		deleted[KindSigningKeys] += n
		s.count(KindSigningKeys, n)
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Sweeper) count(kind string, n int) {
	if s.o.Metrics != nil && n > 0 {
		s.o.Metrics.RetentionDeleted(kind, n)
	}
}

// lead takes the lease at the start of a sweep and renews it during a
// long one, once a quarter of it has passed; it reports whether this
// sweeper holds it.
func (s *Sweeper) lead(ctx context.Context, now time.Time) (bool, error) {
	term := 2 * s.o.Interval
	if !s.renewed.IsZero() && now.Sub(s.renewed) < term/4 && !now.Before(s.renewed) {
		return true, nil
	}
	led, err := s.o.Store.TakeLease(ctx, LeaseName, s.holder, now, now.Add(term))
	if err != nil {
		return false, fmt.Errorf("retention: taking the sweep lease: %w", err)
	}
	s.renewed = time.Time{}
	if led {
		s.renewed = now
	}
	return led, nil
}

// yield waits d, or until ctx ends.
func (s *Sweeper) yield(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
