// Package postgres is the PostgreSQL backend of store.Store, built on pgx v5
// and its connection pool.
//
// Encoding: times are timestamptz (microsecond precision; pgx truncates
// finer parts) and come back in UTC; a zero User.LastInvalidateAll is NULL.
// User names and emails are unique by their strings.ToLower fold, kept in
// *_key columns, so the rule does not depend on the database's locale and
// matches the SQLite backend.
//
// Errors: unique violations wrap store.ErrConflict, missing rows
// store.ErrNotFound; transactions are retried a few times on serialization
// failures and deadlocks.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlstore"
)

// Store is a store.Store on one PostgreSQL database. It is safe for
// concurrent use, also by several processes on the same database.
type Store struct {
	*sqlstore.Store // the queries both engines share, run through engine

	pool *pgxpool.Pool
	// issue carries issuance writes (new tokens, codes, sessions, audit
	// batches written behind the response) and rate-limit takes on
	// connections with synchronous_commit off: the commit returns before
	// its WAL flush, durable against a crash of tolk at once and against a
	// crash of the database server within three wal_writer_delay. Losing
	// an issuance write fails closed (a token the server lost is refused),
	// like SQLite's; losing a rate-limit take lets a few requests through
	// once. Revocations and every other write keep synchronous_commit on.
	// It is pool itself with Options.SyncIssuance; a DSN's pool_max_conns
	// sizes each pool. While the primary names a synchronous standby its
	// commits wait like pool's (standby.go).
	issue *pgxpool.Pool
	// standby follows whether the primary names a synchronous standby
	// and sets issue's connections accordingly (standby.go).
	standby standbyWatch
	// limits carries rate-limit takes, always with synchronous_commit off
	// (ratelimits.go); pool itself with Options.SyncIssuance.
	limits *pgxpool.Pool
	// tokens batches CreateAccessToken on issue (tokenbatch.go).
	tokens *batcher[store.AccessToken]
	// claims batches the redemption of codes and refresh tokens on pool
	// (claimbatch.go).
	claims *batcher[claim]
	// reads batches the token endpoint's reads on pool (readbatch.go).
	reads *batcher[rowRead]
	// health retries operations across a short outage of the database
	// and logs the outage once (outage.go).
	health *health
}

// Options tune a Store.
type Options struct {
	// SyncIssuance commits issuance writes with synchronous_commit on too.
	SyncIssuance bool
	// Log receives "database unreachable" and "database reachable again",
	// once per outage; nil logs nothing.
	Log *slog.Logger
	// OutageWait bounds how long an operation retries while the database
	// is unreachable before it fails with store.ErrUnavailable; zero means
	// DefaultOutageWait.
	OutageWait time.Duration
}

// Pool sizes when the DSN sets no pool_max_conns. pgx's default, four on
// a small machine, queued a busy token endpoint behind four commits in
// flight; PostgreSQL flushes the WAL of concurrent commits together, so
// more of them in flight is more tokens per flush. Three instances at
// these sizes stay within PostgreSQL's default max_connections (100).
const (
	defaultMaxConns      = 16
	defaultIssueMaxConns = 8
	// Rate-limit takes are single short statements.
	defaultLimitsMaxConns = 4
)

// Open connects to the database named by dsn (a postgres:// URL or a
// keyword/value string, as pgx accepts) with the default Options. It does
// not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included.
		return nil, errors.New("postgres: invalid DSN")
	}
	sized := strings.Contains(dsn, "pool_max_conns")
	if !sized {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool, issue: pool, limits: pool}
	if !o.SyncIssuance {
		icfg := cfg.Copy()
		s.standby.configure(icfg)
		lcfg := cfg.Copy()
		// SET after connecting rather than a startup parameter, which a
		// pooler such as PgBouncer may refuse or drop.
		lcfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "SET synchronous_commit = off")
			return err
		}
		if !sized {
			icfg.MaxConns = defaultIssueMaxConns
			lcfg.MaxConns = defaultLimitsMaxConns
		}
		if s.issue, err = connect(ctx, icfg); err != nil {
			pool.Close()
			return nil, err
		}
		if s.limits, err = connect(ctx, lcfg); err != nil {
			s.issue.Close()
			pool.Close()
			return nil, err
		}
		s.standby.watch(pool)
	}
	s.Store = sqlstore.New(engine{s: s}, "postgres")
	s.health = &health{log: o.Log, wait: o.OutageWait, pools: []*pgxpool.Pool{s.pool}}
	if s.health.wait <= 0 {
		s.health.wait = DefaultOutageWait
	}
	if s.issue != s.pool {
		s.health.pools = append(s.health.pools, s.issue, s.limits)
	}
	s.tokens = newTokenBatcher(s.health, s.issue)
	s.claims = newClaimBatcher(s.health, s.pool)
	s.reads = newReadBatcher(s.health, s.pool)
	return s, nil
}

func connect(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return pool, nil
}

// SyncIssuance reports whether issuance writes commit with the database's
// own synchronous_commit now: always with Options.SyncIssuance, otherwise
// while the primary names a synchronous standby (standby.go).
func (s *Store) SyncIssuance() bool {
	return s.issue == s.pool || s.standby.standby.Load()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pools, waiting for connections in use to be released.
func (s *Store) Close() error {
	s.standby.close()
	if s.issue != s.pool {
		s.issue.Close()
		s.limits.Close()
	}
	s.pool.Close()
	return nil
}

// maxTxAttempts bounds inTx's retries.
const maxTxAttempts = 5

// inTx runs fn in a transaction, committing if fn returns nil. On a
// serialization failure or deadlock, where PostgreSQL asks the client to
// retry, it runs fn again after a short random pause, a bounded number of
// times; fn must therefore be safe to repeat.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.health.txOn(ctx, s.pool, fn)
}

// inIssueTx is inTx for issuance writes (see Store.issue).
func (s *Store) inIssueTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.health.txOn(ctx, s.issue, fn)
}

// txOn runs fn in a transaction on pool: again on a serialization failure
// or deadlock (retrying), and across a short outage (health.do) as long as
// the attempt certainly rolled back; a commit whose answer was lost is not
// run again.
func (h *health) txOn(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return retrying(ctx, func() error {
		return h.do(ctx, writeOp, func() error {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return rolledBackError{err}
			}
			if err := fn(tx); err != nil {
				_ = tx.Rollback(ctx)
				return rolledBackError{err}
			}
			return tx.Commit(ctx)
		})
	})
}

// rolledBackError is an error met before the commit was sent: the
// transaction certainly did not commit (notRun).
type rolledBackError struct{ err error }

func (e rolledBackError) Error() string     { return e.err.Error() }
func (e rolledBackError) Unwrap() error     { return e.err }
func (e rolledBackError) SafeToRetry() bool { return true }

// retrying runs write (a transaction, or one statement that is its own)
// again when it fails with a serialization failure or a deadlock, a few
// times.
func retrying(ctx context.Context, write func() error) error {
	for attempt := 1; ; attempt++ {
		err := write()
		if err == nil || attempt == maxTxAttempts || !retryable(err) {
			return err
		}
		// Jitter so that the transactions that collided do not collide
		// again in lockstep.
		pause := time.Duration(attempt) * (5*time.Millisecond + rand.N(10*time.Millisecond))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(pause):
		}
	}
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) &&
		(pe.Code == "40001" || pe.Code == "40P01") // serialization_failure, deadlock_detected
}

// wrap maps pgx errors onto the store sentinels, keeping the original
// error in the chain.
func wrap(op string, err error) error { return sqlstore.Wrap("postgres", codec{}, op, err) }

// nullTime encodes the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
