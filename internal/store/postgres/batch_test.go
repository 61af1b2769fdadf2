package postgres

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestBatcherGathersQueuedCallers: while the one lane is busy, callers
// queue, and the next batch takes them together, at most max at a time;
// each caller gets its own operation's outcome.
func TestBatcherGathersQueuedCallers(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	b := newBatcher(1, 4, func(_ context.Context, vs []int, errs []error) {
		mu.Lock()
		sizes = append(sizes, len(vs))
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			<-release
		}
		for i, v := range vs {
			errs[i] = fmt.Errorf("op %d", v)
		}
	})
	ctx := t.Context()
	results := make(chan string, 11)
	call := func(v int) {
		err := b.do(ctx, v)
		results <- fmt.Sprintf("%d:%v", v, err)
	}
	go call(0)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 1 })
	for v := 1; v <= 10; v++ {
		go call(v)
	}
	waitFor(t, func() bool { return b.Queued() == 10 })
	close(release)
	for range 11 {
		r := <-results
		var v int
		var e string
		if _, err := fmt.Sscanf(r, "%d:op %s", &v, &e); err != nil || e != fmt.Sprint(v) {
			t.Errorf("outcome %q, want the caller's own", r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1, 4, 4, 2}; !slices.Equal(sizes, want) {
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
}

// TestBatcherCallerMayLeave: a queued caller whose context ends returns
// at once with its context's error, and its operation is never run.
func TestBatcherCallerMayLeave(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var ran []int
	b := newBatcher(1, 4, func(_ context.Context, vs []int, errs []error) {
		mu.Lock()
		ran = append(ran, vs...)
		mu.Unlock()
		if slices.Contains(vs, 0) {
			<-release
		}
	})
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- b.do(ctx, 0) }()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) == 1 })
	short, cancel := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() { left <- b.do(short, 1) }()
	waitFor(t, func() bool { return b.Queued() == 1 })
	cancel()
	select {
	case err := <-left:
		if err != context.Canceled {
			t.Errorf("caller that left: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a queued caller whose context ended still waits")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := b.do(ctx, 2); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{0, 2}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v (never the caller that left)", ran, want)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatcherSurvivesPanic: a batch whose exec panics answers every caller
// in it and passes the lane on; the panic goes on up the leader's stack,
// and later batches run.
func TestBatcherSurvivesPanic(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	b := newBatcher(1, 4, func(_ context.Context, vs []int, errs []error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		switch n {
		case 1:
			<-release
		case 2:
			panic("boom")
		}
	})
	ctx := t.Context()
	first := make(chan error, 1)
	go func() { first <- b.do(ctx, 0) }()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return calls == 1 })
	// These queue behind the first batch; the first of them leads the
	// second, which panics.
	panicked := make(chan any, 3)
	results := make(chan error, 3)
	for v := 1; v <= 3; v++ {
		go func() {
			defer func() { panicked <- recover() }()
			results <- b.do(ctx, v)
		}()
	}
	waitFor(t, func() bool { return b.Queued() == 3 })
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	var leaderPanics, answered int
	for range 3 {
		select {
		case p := <-panicked:
			if p != nil {
				leaderPanics++
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a caller of the batch that panicked was never answered")
		}
	}
	close(results)
	for err := range results {
		if err == nil {
			t.Errorf("caller of the batch that panicked answered nil")
		}
		answered++
	}
	if leaderPanics != 1 || answered != 2 {
		t.Errorf("%d leaders panicked and %d callers answered, want 1 and 2", leaderPanics, answered)
	}
	done := make(chan error, 1)
	go func() { done <- b.do(ctx, 4) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lane of the batch that panicked was never passed on")
	}
}

// TestRolledBack: a pipeline is run again claim by claim only after an
// error the server reported, its session alive; after any other (a lost
// connection, a deadline), it may have committed.
func TestRolledBack(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Severity: "ERROR", Code: "23503"}, true},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Severity: "ERROR", Code: "40P01"}), true},
		{&pgconn.PgError{Severity: "FATAL", Code: "57P01"}, false},
		{io.ErrUnexpectedEOF, false},
		{context.DeadlineExceeded, false},
	} {
		if got := rolledBack(tc.err); got != tc.want {
			t.Errorf("rolledBack(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
