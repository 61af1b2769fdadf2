package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Issuance commits asynchronously (synchronous_commit off, Store.issue)
// only while the primary names no synchronous standby.
//
// Asynchronous commit answers before the WAL is flushed, and before it
// reaches any standby. On one server that loses an answered token only
// to a crash of the database server itself, and the loss fails closed.
// With a synchronous standby (synchronous_standby_names set, as Patroni's
// synchronous_mode does) the operator has asked for more: that a commit
// survive the loss of the primary. An asynchronous commit defeats that,
// since a failover promotes the standby, which never received it: killing
// a Patroni primary under client_credentials load lost 83 to 434 answered
// tokens (issue 18). So while a synchronous standby is named, issuance
// commits with the database's own synchronous_commit, as every other
// write does, and waits for the standby (docs/scale-out.md measures what
// that costs).
//
// Each new connection of the issuance pool looks for itself, in the same
// round trip that sets its synchronous_commit, so that after a failover
// every connection, being new, is right from its first commit. A
// connection that lives on while the setting changes on the server
// (Patroni names a standby when one joins and clears it when the last
// leaves) is set again before its next use once the watcher has seen the
// change, within standbyCheckInterval.
type standbyWatch struct {
	// standby: the primary named a synchronous standby when last asked.
	standby atomic.Bool
	// conns holds, for each open connection of the issuance pool, whether
	// it commits waiting for the standby (true) or asynchronously.
	conns sync.Map // *pgx.Conn → bool
	stop  context.CancelFunc
	done  chan struct{}
}

// standbyCheckInterval is how often the watcher asks the primary; it bounds
// how long issuance may stay asynchronous after a standby is named on a
// live primary. The question is a SHOW on a pooled connection.
const standbyCheckInterval = time.Second

// lookAndSet is one round trip: whether a synchronous standby is named,
// and synchronous_commit set to off when none is (otherwise left at the
// database's setting).
const lookAndSet = `SELECT current_setting('synchronous_standby_names') <> '',
	set_config('synchronous_commit', CASE WHEN current_setting('synchronous_standby_names') = ''
		THEN 'off' ELSE current_setting('synchronous_commit') END, false)`

// configure hooks the issuance pool's connections to w.
func (w *standbyWatch) configure(cfg *pgxpool.Config) {
	// SET after connecting rather than a startup parameter, which a
	// pooler such as PgBouncer may refuse or drop.
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		var standby bool
		var setting string
		if err := c.QueryRow(ctx, lookAndSet).Scan(&standby, &setting); err != nil {
			return err
		}
		// The newest look at the server wins; the pool's other
		// connections follow in PrepareConn.
		w.standby.Store(standby)
		w.conns.Store(c, standby)
		return nil
	}
	cfg.PrepareConn = func(ctx context.Context, c *pgx.Conn) (bool, error) {
		want := w.standby.Load()
		if got, ok := w.conns.Load(c); ok && got.(bool) == want {
			return true, nil
		}
		q := "SET synchronous_commit = off"
		if want {
			q = "RESET synchronous_commit"
		}
		if _, err := c.Exec(ctx, q); err != nil {
			// Destroyed, and the pool tries another (at most its size
			// plus one, the last a new connection): a connection that
			// sat idle through a failover is dead, and must not fail the
			// operation that found it.
			return false, nil
		}
		w.conns.Store(c, want)
		return true, nil
	}
	cfg.BeforeClose = func(c *pgx.Conn) { w.conns.Delete(c) }
}

// watch asks the primary through pool every standbyCheckInterval until
// close. A failed look changes nothing: the database is unreachable, and
// the connections made when it returns look for themselves.
func (w *standbyWatch) watch(pool *pgxpool.Pool) {
	ctx, cancel := context.WithCancel(context.Background())
	w.stop, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		tick := time.NewTicker(standbyCheckInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			qctx, cancel := context.WithTimeout(ctx, standbyCheckInterval)
			var names string
			err := pool.QueryRow(qctx, "SHOW synchronous_standby_names").Scan(&names)
			cancel()
			if err == nil {
				w.standby.Store(names != "")
			}
		}
	}()
}

// close stops the watcher and waits for it.
func (w *standbyWatch) close() {
	if w.stop != nil {
		w.stop()
		<-w.done
	}
}
