package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/postgres"
	"github.com/tolk-project/tolk/internal/testutil/pgserver"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestOutage stops a private PostgreSQL (never the shared one): a write
// made while it is down is answered once it is back within OutageWait,
// one made while it stays down fails with store.ErrUnavailable after
// OutageWait, and the log says "database unreachable" and "database
// reachable again" once per outage, not per operation.
func TestOutage(t *testing.T) {
	srv := pgserver.Start(t)
	dsn := srv.CreateDatabase("tolk")
	var logs syncBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := t.Context()
	s, err := postgres.OpenWith(ctx, dsn, postgres.Options{Log: log, OutageWait: 8 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	event := func(id string) store.AuditEvent {
		return store.AuditEvent{ID: id, Time: time.Now().UTC().Truncate(time.Microsecond), Type: "test", Outcome: "success"}
	}
	if err := s.AppendAuditEvent(ctx, event("00000000000000000000000000000001")); err != nil {
		t.Fatal(err)
	}

	// Down, and back within OutageWait: every operation is answered.
	srv.Stop()
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(1500 * time.Millisecond)
		srv.Start()
	}()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := "0000000000000000000000000000010" + string(rune('0'+i))
			if err := s.AppendAuditEvent(ctx, event(id)); err != nil {
				t.Errorf("append during the outage: %v", err)
			}
			if _, err := s.GetUser(ctx, "no-such-user"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("read during the outage: %v, want ErrNotFound", err)
			}
		})
	}
	wg.Wait()
	<-restarted
	// The outage ends with the first answer a second (settle) after the
	// last failure: sessions still open answer while new ones are refused
	// during a shutdown or start, which must not log the end each time.
	time.Sleep(1100 * time.Millisecond)
	if _, err := s.GetUser(ctx, "no-such-user"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("read after the outage: %v", err)
	}
	if n := strings.Count(logs.String(), "database unreachable"); n != 1 {
		t.Errorf("%d lines 'database unreachable', want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "database reachable again"); n != 1 {
		t.Errorf("%d lines 'database reachable again', want 1:\n%s", n, logs.String())
	}
	es, err := s.ListAuditEvents(ctx, store.AuditFilter{})
	if err != nil || len(es) != 9 {
		t.Errorf("audit events after the outage: %d, %v; want 9", len(es), err)
	}

	// Down for longer than OutageWait: ErrUnavailable.
	short, err := postgres.OpenWith(ctx, dsn, postgres.Options{OutageWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { short.Close() })
	srv.Stop()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := short.GetUser(cctx, "no-such-user"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("read with the database down: %v, want ErrUnavailable", err)
	}
	if err := short.AppendAuditEvent(cctx, event("00000000000000000000000000000200")); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("write with the database down: %v, want ErrUnavailable", err)
	}
	srv.Start()
}
