package audit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/reqctx"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlite"
)

func newRecorder(t *testing.T) (*audit.Recorder, store.Store, *bytes.Buffer) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	now := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	return &audit.Recorder{Store: st, Log: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }}, st, &logs
}

func TestRecordDropsSecretDetails(t *testing.T) {
	r, st, logs := newRecorder(t)
	details := map[string]string{
		"token": "tolk_at_SECRET1", "client_secret": "SECRET2", "password": "SECRET3", "code": "SECRET4",
		"refresh_token": "SECRET5", "hashed_token": "SECRET6", "X-Proz-API-Key": "SECRET7", "otp": "SECRET8",
		"token_id": "abc", "grant_type": "refresh_token", "dialect": "tms", "huge": strings.Repeat("x", 5000),
	}
	r.Record(t.Context(), audit.Event{Type: audit.Login, Details: details})
	es, err := st.ListAuditEvents(t.Context(), store.AuditFilter{})
	if err != nil || len(es) != 1 {
		t.Fatalf("%v %v", es, err)
	}
	e := es[0]
	for k, v := range e.Details {
		if strings.Contains(v, "SECRET") {
			t.Errorf("detail %s kept", k)
		}
	}
	for _, k := range []string{"token_id", "grant_type", "dialect"} {
		if e.Details[k] != details[k] {
			t.Errorf("detail %s = %q", k, e.Details[k])
		}
	}
	if len(e.Details["huge"]) > 200 {
		t.Errorf("huge detail not bounded: %d", len(e.Details["huge"]))
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Errorf("log: %s", logs)
	}
	if e.Outcome != audit.Success || len(e.ID) != 32 || !e.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)) {
		t.Errorf("event %+v", e)
	}
	if !strings.Contains(logs.String(), "level=INFO msg=audit audit_id="+e.ID+" type=login outcome=success") {
		t.Errorf("log line: %s", logs)
	}
}

func TestNilRecorder(t *testing.T) {
	var r *audit.Recorder
	r.Record(context.Background(), audit.Event{Type: audit.Login}) // no panic
}

// TestRequestFacts: an event gets the client address, the request id and
// the actor of the request its context carries; without one it has none.
func TestRequestFacts(t *testing.T) {
	r, st, _ := newRecorder(t)
	ctx := reqctx.WithInfo(t.Context(), reqctx.Info{ClientIP: "192.0.2.1", RequestID: "req-1"})
	reqctx.SetActor(ctx, "user-1")
	r.Record(ctx, audit.Event{Type: audit.Logout})
	r.Record(t.Context(), audit.Event{Type: audit.Login})
	es, _ := st.ListAuditEvents(t.Context(), store.AuditFilter{})
	byType := map[string]store.AuditEvent{}
	for _, e := range es {
		byType[e.Type] = e
	}
	if e := byType[audit.Logout]; e.ActorUID != "user-1" || e.RequestID != "req-1" || e.ClientAddr != "192.0.2.1" {
		t.Errorf("event with request facts: %+v", e)
	}
	if e := byType[audit.Login]; e.ActorUID != "" || e.RequestID != "" || e.ClientAddr != "" {
		t.Errorf("event without request facts: %+v", e)
	}
}

// TestLogLevels: the successful events that come with every issued token
// are logged at Debug (absent from an Info log, present in a Debug one)
// and stored all the same; every other event, and those events when they
// failed, at Info.
func TestLogLevels(t *testing.T) {
	for _, tc := range []struct {
		typ, outcome string
		level        slog.Level
		logged       bool
	}{
		{audit.TokenIssued, "", slog.LevelInfo, false},
		{audit.PlatformExchanged, "", slog.LevelInfo, false},
		{audit.TokenIssued, "", slog.LevelDebug, true},
		{audit.TokenIssued, audit.Failure, slog.LevelInfo, true},
		{audit.Login, "", slog.LevelInfo, true},
		{audit.TokenRevoked, "", slog.LevelInfo, true},
	} {
		r, st, _ := newRecorder(t)
		var logs bytes.Buffer
		r.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: tc.level}))
		r.Record(context.Background(), audit.Event{Type: tc.typ, Outcome: tc.outcome})
		if logged := strings.Contains(logs.String(), "type="+tc.typ); logged != tc.logged {
			t.Errorf("%s %q at %v: logged %v, want %v: %q", tc.typ, tc.outcome, tc.level, logged, tc.logged, logs.String())
		}
		es, err := st.ListAuditEvents(context.Background(), store.AuditFilter{Type: tc.typ})
		if err != nil || len(es) != 1 {
			t.Errorf("%s %q: stored %d events (%v), want 1", tc.typ, tc.outcome, len(es), err)
		}
	}
}

func TestBackgroundEventsAreStoredByFlush(t *testing.T) {
	st := &countingLog{}
	r := &audit.Recorder{Store: st}
	r.Start()
	defer r.Close()
	for i := 0; i < 100; i++ {
		r.Record(context.Background(), audit.Event{Type: audit.TokenIssued})
	}
	r.Record(context.Background(), audit.Event{Type: audit.Login}) // always in the request
	r.Flush()
	if n := st.n.Load(); n != 101 {
		t.Fatalf("stored %d events after Flush, want 101", n)
	}
}

// TestBackgroundEventsAreBatched: events queued together are stored
// with one AppendAuditEvents call, not one call each.
func TestBackgroundEventsAreBatched(t *testing.T) {
	st := &countingLog{gate: make(chan struct{})}
	r := &audit.Recorder{Store: st}
	r.Start()
	defer r.Close()
	for i := 0; i < 200; i++ {
		r.Record(context.Background(), audit.Event{Type: audit.TokenIssued})
	}
	close(st.gate) // the writers were held, so everything has queued
	r.Flush()
	if n := st.n.Load(); n != 200 {
		t.Fatalf("stored %d events, want 200", n)
	}
	// Each of the two writers took one event before the gate, then the
	// rest came in batches of up to 512.
	if c := st.batches.Load() + st.singles.Load(); c > 4 {
		t.Fatalf("%d store calls for 200 queued events", c)
	}
}

// TestFailedBatchFallsBackToSingleEvents: one bad event in a batch does
// not lose the others.
func TestFailedBatchFallsBackToSingleEvents(t *testing.T) {
	st := &countingLog{failBatch: true}
	r := &audit.Recorder{Store: st}
	r.Start()
	defer r.Close()
	for i := 0; i < 50; i++ {
		r.Record(context.Background(), audit.Event{Type: audit.TokenIssued})
	}
	r.Flush()
	if n := st.n.Load(); n != 50 {
		t.Fatalf("stored %d events, want 50", n)
	}
}

type countingLog struct {
	store.AuditLog
	n         atomic.Int32
	batches   atomic.Int32
	singles   atomic.Int32
	gate      chan struct{} // if set, batches wait for it to close
	failBatch bool
}

func (c *countingLog) AppendAuditEvent(context.Context, store.AuditEvent) error {
	c.singles.Add(1)
	c.n.Add(1)
	return nil
}

func (c *countingLog) AppendAuditEvents(_ context.Context, es []store.AuditEvent) error {
	if c.gate != nil {
		<-c.gate
	}
	if c.failBatch {
		return errors.New("batch refused")
	}
	c.batches.Add(1)
	c.n.Add(int32(len(es)))
	return nil
}
