package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// TestLogLevels: a successful issuance or exchange is neither stored nor
// logged by itself (at Info or at Debug): its counter record is, once, at
// Info, when it is written. Every other event, and those events when they
// failed, are stored and logged at Info at once.
func TestLogLevels(t *testing.T) {
	for _, tc := range []struct {
		typ, outcome string
		level        slog.Level
		counted      bool
	}{
		{audit.TokenIssued, "", slog.LevelInfo, true},
		{audit.PlatformExchanged, "", slog.LevelInfo, true},
		{audit.TokenIssued, "", slog.LevelDebug, true},
		{audit.TokenIssued, audit.Failure, slog.LevelInfo, false},
		{audit.Login, "", slog.LevelInfo, false},
		{audit.TokenRevoked, "", slog.LevelInfo, false},
	} {
		r, st, _ := newRecorder(t)
		var logs bytes.Buffer
		r.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: tc.level}))
		r.Record(context.Background(), audit.Event{Type: tc.typ, Outcome: tc.outcome, ActorUID: "user-1"})
		if logged := strings.Contains(logs.String(), "type="+tc.typ); logged == tc.counted {
			t.Errorf("%s %q at %v: logged %v before Flush: %q", tc.typ, tc.outcome, tc.level, logged, logs.String())
		}
		es, err := st.ListAuditEvents(context.Background(), store.AuditFilter{Type: tc.typ})
		if err != nil || len(es) == 0 == !tc.counted {
			t.Errorf("%s %q: stored %d events before Flush (%v)", tc.typ, tc.outcome, len(es), err)
		}
		r.Flush()
		if n := strings.Count(logs.String(), "level=INFO msg=audit"); n != 1 {
			t.Errorf("%s %q at %v: %d Info lines after Flush, want 1: %q", tc.typ, tc.outcome, tc.level, n, logs.String())
		}
		es, err = st.ListAuditEvents(context.Background(), store.AuditFilter{Type: tc.typ})
		if err != nil || len(es) != 1 {
			t.Fatalf("%s %q: stored %d events (%v), want 1", tc.typ, tc.outcome, len(es), err)
		}
		if tc.counted && !strings.Contains(logs.String(), "audit_id="+es[0].ID+" type="+tc.typ+" outcome=success actor=\"\"") ||
			tc.counted != (es[0].Details["count"] == "1") {
			t.Errorf("%s %q: stored %+v, logged %q", tc.typ, tc.outcome, es[0], logs.String())
		}
	}
}

// TestIssuanceStoredByFlush: with the background writer started, the
// issuances of the open minute are one record after Flush; other events
// are stored in the request.
func TestIssuanceStoredByFlush(t *testing.T) {
	st := &countingLog{}
	r := &audit.Recorder{Store: st}
	r.Start()
	defer r.Close()
	for i := 0; i < 100; i++ {
		r.Record(context.Background(), audit.Event{Type: audit.TokenIssued, ClientID: "c"})
	}
	r.Record(context.Background(), audit.Event{Type: audit.Login}) // always in the request
	if n := st.n.Load(); n != 1 {
		t.Fatalf("stored %d events before Flush, want 1", n)
	}
	r.Flush()
	if n := st.n.Load(); n != 2 {
		t.Fatalf("stored %d events after Flush, want 2", n)
	}
}

// TestCounterRecordsAreBatched: the counter records written together are
// stored with one AppendAuditEvents call, not one call each.
func TestCounterRecordsAreBatched(t *testing.T) {
	st := &countingLog{}
	r := &audit.Recorder{Store: st}
	for i := 0; i < 200; i++ {
		r.Record(context.Background(), audit.Event{Type: audit.TokenIssued, ClientID: fmt.Sprint("client-", i)})
	}
	r.Flush()
	if n := st.n.Load(); n != 200 {
		t.Fatalf("stored %d records, want 200", n)
	}
	if b, s := st.batches.Load(), st.singles.Load(); b != 1 || s != 0 {
		t.Fatalf("%d batch and %d single store calls for 200 records, want 1 batch", b, s)
	}
}

// TestFailedBatchFallsBackToSingleEvents: one bad record in a batch does
// not lose the others.
func TestFailedBatchFallsBackToSingleEvents(t *testing.T) {
	st := &countingLog{failBatch: true}
	r := &audit.Recorder{Store: st}
	r.Start()
	defer r.Close()
	for i := 0; i < 50; i++ {
		r.Record(context.Background(), audit.Event{Type: audit.TokenIssued, ClientID: fmt.Sprint("client-", i)})
	}
	r.Flush()
	if n := st.n.Load(); n != 50 {
		t.Fatalf("stored %d records, want 50", n)
	}
}

type countingLog struct {
	store.AuditLog
	n         atomic.Int32
	batches   atomic.Int32
	singles   atomic.Int32
	failBatch bool
}

func (c *countingLog) AppendAuditEvent(context.Context, store.AuditEvent) error {
	c.singles.Add(1)
	c.n.Add(1)
	return nil
}

func (c *countingLog) AppendAuditEvents(_ context.Context, es []store.AuditEvent) error {
	if c.failBatch {
		return errors.New("batch refused")
	}
	c.batches.Add(1)
	c.n.Add(int32(len(es)))
	return nil
}
