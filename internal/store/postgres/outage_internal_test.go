package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tolk-project/tolk/internal/store"
)

// TestUnavailable: the errors of an unreachable, restarting or read-only
// database are store.ErrUnavailable through wrap; a refused statement, a
// bad password or the caller's cancellation are not.
func TestUnavailable(t *testing.T) {
	// A real connection refused: a loopback port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, refused := pgconn.Connect(ctx, "postgres://postgres@"+addr+"/x?sslmode=disable&connect_timeout=5")
	if refused == nil {
		t.Fatal("connected to a closed port")
	}
	var ce *pgconn.ConnectError
	if !errors.As(refused, &ce) {
		t.Fatalf("connect error is %T, want *pgconn.ConnectError", refused)
	}
	pg := func(code, severity string) error {
		return &pgconn.PgError{Code: code, Severity: severity, Message: "m"}
	}
	tests := []struct {
		name         string
		err          error
		want, notRun bool
	}{
		{"connection refused (real pgconn.Connect)", refused, true, true},
		{"admin_shutdown", pg("57P01", "FATAL"), true, false},
		{"crash_shutdown", pg("57P02", "FATAL"), true, false},
		{"cannot_connect_now", pg("57P03", "FATAL"), true, false},
		{"connection_failure", pg("08006", "FATAL"), true, false},
		{"connection_exception", pg("08000", "ERROR"), true, true},
		{"read_only_sql_transaction", pg("25006", "ERROR"), true, true},
		{"too_many_connections", pg("53300", "FATAL"), true, false},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true, false},
		{"broken pipe", &net.OpError{Op: "write", Err: syscall.EPIPE}, true, false},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true, false},
		{"conn closed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), true, false},
		{"pool wait past its deadline", context.DeadlineExceeded, true, false},
		{"rolled back before commit", rolledBackError{fmt.Errorf("read: %w", syscall.ECONNRESET)}, true, true},
		{"unique_violation", pg("23505", "ERROR"), false, true},
		{"undefined_table", pg("42P01", "ERROR"), false, true},
		{"bad password", pg("28P01", "FATAL"), false, false},
		{"no rows", pgx.ErrNoRows, false, false},
		{"caller canceled", context.Canceled, false, false},
	}
	for _, tt := range tests {
		if got := unavailable(tt.err); got != tt.want {
			t.Errorf("%s: unavailable = %v, want %v", tt.name, got, tt.want)
		}
		if got := errors.Is(wrap("op", tt.err), store.ErrUnavailable); got != tt.want {
			t.Errorf("%s: wrapped is ErrUnavailable = %v, want %v", tt.name, got, tt.want)
		}
		if got := notRun(tt.err); got != tt.notRun {
			t.Errorf("%s: notRun = %v, want %v", tt.name, got, tt.notRun)
		}
	}
}

// TestHealthDo: what runs again, and what does not, across an outage.
func TestHealthDo(t *testing.T) {
	h := &health{wait: 2 * time.Second}
	lost := &pgconn.PgError{Code: "57P01", Severity: "FATAL"}                     // may have committed
	refused := rolledBackError{&pgconn.PgError{Code: "57P03", Severity: "FATAL"}} // certainly not
	conflictErr := &pgconn.PgError{Code: "23505", Severity: "ERROR"}
	seq := func(errs ...error) (func() error, *int) {
		n := 0
		return func() error {
			n++
			if n <= len(errs) {
				return errs[n-1]
			}
			return nil
		}, &n
	}
	// A write whose answer was lost runs once: a claim must not be spent twice.
	op, n := seq(lost)
	if err := h.do(t.Context(), writeOp, op); !errors.Is(err, lost) || *n != 1 {
		t.Errorf("write, answer lost: err %v after %d runs, want the error after 1", err, *n)
	}
	// A write that certainly did not run runs again.
	op, n = seq(refused, refused)
	if err := h.do(t.Context(), writeOp, op); err != nil || *n != 3 {
		t.Errorf("write, not run: err %v after %d runs, want nil after 3", err, *n)
	}
	// A read runs again whatever happened.
	op, n = seq(lost)
	if err := h.do(t.Context(), readOp, op); err != nil || *n != 2 {
		t.Errorf("read: err %v after %d runs, want nil after 2", err, *n)
	}
	// An insert whose answer was lost finds its row: it did commit.
	op, n = seq(lost, conflictErr)
	if err := h.do(t.Context(), insertOp, op); err != nil || *n != 2 {
		t.Errorf("insert, answer lost then conflict: err %v after %d runs, want nil after 2", err, *n)
	}
	// A conflict at the first try is a conflict.
	op, _ = seq(conflictErr)
	if err := h.do(t.Context(), insertOp, op); !errors.Is(err, conflictErr) {
		t.Errorf("insert, conflict: err %v", err)
	}
	// The wait is bounded.
	h.wait = 300 * time.Millisecond
	always := func() error { return refused }
	if err := h.do(t.Context(), readOp, always); !unavailable(err) {
		t.Errorf("bounded: err %v, want the outage's", err)
	}
}
