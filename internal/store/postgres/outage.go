package postgres

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultOutageWait is how long an operation that meets an unreachable
// database keeps retrying before it fails with store.ErrUnavailable. A
// restart of PostgreSQL under load, and a Patroni failover, took 1.4 to
// 3.9 s in the trials of issue 18; 5 s rides them out and still answers
// a client well within its usual timeouts.
const DefaultOutageWait = 5 * time.Second

// unavailable reports whether err means that the database cannot be
// reached or written right now, rather than that the request was wrong:
// a connection refused, reset or closed, the server shutting down,
// starting up or in recovery, a read-only server after a failover, too
// many connections.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection_exception and its subclasses
			return true
		case pe.Code == "57P01", // admin_shutdown
			pe.Code == "57P02", // crash_shutdown
			pe.Code == "57P03", // cannot_connect_now: starting up, in recovery
			pe.Code == "25006", // read_only_sql_transaction: a standby after a failover
			pe.Code == "53300": // too_many_connections
			return true
		}
		// Any other answer of the server (a constraint, a bad password) is
		// about the request or the configuration, not the outage.
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	if errors.Is(err, context.Canceled) {
		return false // the caller went away
	}
	// A dial or read on the server's socket that failed or timed out, and
	// a deadline that passed waiting for a connection of the pool
	// (context.DeadlineExceeded is a net.Error too).
	var ne net.Error
	return errors.As(err, &ne)
}

// notRun reports whether an operation that failed with err certainly did
// not change the database: nothing was sent (no connection, pgx's
// SafeToRetry), or the server answered it with an error in a live
// session, which rolls its transaction back. A lost connection or a
// FATAL may have come after the commit: its outcome is unknown.
func notRun(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Severity != "FATAL" && pe.Severity != "PANIC"
}

// opKind says what of an operation may be run again after an error.
type opKind int

const (
	// writeOp runs again only when it certainly did not run (notRun): a
	// claim whose commit may have happened must not run twice.
	writeOp opKind = iota
	// readOp changes nothing and runs again whatever happened.
	readOp
	// insertOp inserts rows under fresh random keys: it runs again
	// whatever happened, and a unique violation after an attempt of
	// unknown outcome means that attempt committed.
	insertOp
)

// health follows whether the database answers, retries operations across
// a short outage, and logs each outage once: when it begins and when it
// ends, not per request.
type health struct {
	log   *slog.Logger // nil: no log
	wait  time.Duration
	pools []*pgxpool.Pool

	down      atomic.Bool
	lastFail  atomic.Int64 // Unix nanoseconds of the latest failure
	mu        sync.Mutex
	since     time.Time // when the outage began
	lastReset time.Time // when the pools were last emptied (read-only server)
}

// settle is how long after its latest failure the database must answer to
// count as back: while a server shuts down or starts, sessions still open
// answer between the refusals of new ones, which would log an outage's
// end and start again several times.
const settle = time.Second

// failed notes an operation that met an unavailable database.
func (h *health) failed(err error) {
	var pe *pgconn.PgError
	readOnly := errors.As(err, &pe) && pe.Code == "25006"
	h.lastFail.Store(time.Now().UnixNano())
	if h.down.Load() && !readOnly {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if readOnly && now.Sub(h.lastReset) > time.Second {
		// A connection to the old primary, now a standby: empty the pools
		// so that new connections find the primary again
		// (target_session_attrs=read-write in the DSN).
		h.lastReset = now
		for _, p := range h.pools {
			p.Reset()
		}
	}
	if h.down.Load() {
		return
	}
	h.since = now
	h.down.Store(true)
	if h.log != nil {
		h.log.Warn("database unreachable", "err", err)
	}
}

// ok notes an operation that the database answered.
func (h *health) ok() {
	if !h.down.Load() || time.Since(time.Unix(0, h.lastFail.Load())) < settle {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down.Load() {
		return
	}
	h.down.Store(false)
	if h.log != nil {
		h.log.Info("database reachable again", "after", time.Since(h.since).Round(time.Millisecond).String())
	}
}

// do runs op; while it fails with an unavailable database it runs it
// again, as far as kind allows, with growing pauses, for at most h.wait
// (or until ctx ends). The error it returns is op's last.
func (h *health) do(ctx context.Context, kind opKind, op func() error) error {
	var deadline time.Time
	pause := 20 * time.Millisecond
	unknown := false // an earlier attempt may have committed
	for {
		err := op()
		switch {
		case err == nil:
			h.ok()
			return nil
		case kind == insertOp && unknown && conflict(err):
			h.ok()
			return nil // the attempt whose answer was lost did insert it
		case !unavailable(err):
			if !errors.Is(err, context.Canceled) {
				h.ok() // the server answered (no such row, a constraint)
			}
			return err
		}
		h.failed(err)
		if kind == writeOp && !notRun(err) {
			return err
		}
		if !notRun(err) {
			unknown = true
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(h.wait)
		}
		if now.Add(pause).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause/2 + rand.N(pause/2+1)):
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
}

func conflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// readOnlySQL reports whether q only reads: the shared queries that start
// with SELECT (a write starts with INSERT, UPDATE, DELETE or WITH, and
// none of them calls a function that writes).
func readOnlySQL(q string) bool {
	q = strings.TrimLeft(q, " \t\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT") && !strings.Contains(q, "FOR UPDATE")
}

func kindOf(q string) opKind {
	if readOnlySQL(q) {
		return readOp
	}
	return writeOp
}
