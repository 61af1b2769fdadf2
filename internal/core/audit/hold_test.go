package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// outageLog is an audit log whose database is unavailable while down is
// set; it keeps what it stored, in the order stored.
type outageLog struct {
	store.AuditLog
	down   atomic.Bool
	mu     sync.Mutex
	stored []store.AuditEvent
}

func (o *outageLog) AppendAuditEvent(_ context.Context, e store.AuditEvent) error {
	return o.AppendAuditEvents(context.Background(), []store.AuditEvent{e})
}

func (o *outageLog) AppendAuditEvents(_ context.Context, es []store.AuditEvent) error {
	if o.down.Load() {
		return fmt.Errorf("test: %w", store.ErrUnavailable)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stored = append(o.stored, es...)
	return nil
}

func (o *outageLog) types() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ts []string
	for _, e := range o.stored {
		ts = append(ts, e.Type)
	}
	return ts
}

type holdMetrics struct{ held, dropped atomic.Int64 }

func (m *holdMetrics) AuditHeld(n int)    { m.held.Store(int64(n)) }
func (m *holdMetrics) AuditDropped(n int) { m.dropped.Add(int64(n)) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestHeldThroughOutage: while the database is unavailable, events are
// held up to Hold and written in order when it returns; the rest are
// counted and logged once, never written half.
func TestHeldThroughOutage(t *testing.T) {
	st := &outageLog{}
	var logs syncBuffer
	m := &holdMetrics{}
	r := &audit.Recorder{Store: st, Log: slog.New(slog.NewTextHandler(&logs, nil)), Gen: secret.Generator{},
		Hold: 5, Metrics: m}
	t.Cleanup(r.Close)
	st.down.Store(true)
	for i := range 8 {
		r.Record(t.Context(), audit.Event{Type: fmt.Sprintf("e%d", i)})
	}
	if got := m.dropped.Load(); got != 3 {
		t.Errorf("dropped %d, want 3", got)
	}
	if got := m.held.Load(); got != 5 {
		t.Errorf("held %d, want 5", got)
	}
	if n := strings.Count(logs.String(), "events of this outage are lost"); n != 1 {
		t.Errorf("%d log lines about lost events, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "audit: store event"); n != 0 {
		t.Errorf("%d per-event error lines, want none", n)
	}
	st.down.Store(false)
	r.Flush()
	if got, want := strings.Join(st.types(), " "), "e0 e1 e2 e3 e4"; got != want {
		t.Errorf("stored %q, want %q", got, want)
	}
	if got := m.held.Load(); got != 0 {
		t.Errorf("held %d after the outage, want 0", got)
	}
}

// TestBackgroundEventsHeld: the counter records the background writer
// meets an outage with are held behind the events held before them, and
// stored after it with every issuance counted.
func TestBackgroundEventsHeld(t *testing.T) {
	st := &outageLog{}
	m := &holdMetrics{}
	clock := &testClock{t: at(1)}
	r := &audit.Recorder{Store: st, Now: clock.Now, Gen: secret.Generator{}, Metrics: m}
	r.Start()
	t.Cleanup(r.Close)
	st.down.Store(true)
	for i := range 20 {
		ev := audit.Event{Type: audit.TokenIssued, ClientID: "a", Details: map[string]string{"n": fmt.Sprint(i)}}
		if i%5 == 0 {
			ev.Type = audit.Login // written in the request, held
		}
		r.Record(t.Context(), ev)
	}
	clock.Set(at(61))
	r.Record(t.Context(), audit.Event{Type: audit.TokenIssued, ClientID: "a"}) // wakes the writer for 12:00
	// 4 logins, then 12:00's record; the deadline only bounds a failure.
	for deadline := time.Now().Add(30 * time.Second); m.held.Load() < 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := m.held.Load(); got != 5 {
		t.Fatalf("held %d events, want 5", got)
	}
	st.down.Store(false)
	r.Flush()
	if got, want := strings.Join(st.types(), " "), "login login login login oauth.token_issued oauth.token_issued"; got != want {
		t.Fatalf("stored %q, want %q", got, want)
	}
	counts := ""
	for _, e := range st.events()[4:] {
		counts += " " + e.Details["count"]
	}
	if counts != " 16 1" {
		t.Errorf("counts%s, want 16 then 1", counts)
	}
}
