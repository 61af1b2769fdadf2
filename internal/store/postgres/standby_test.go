package postgres

import (
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestStandbyWatchSetsIssuanceConnections: on a server that names no
// synchronous standby (the test server) a new issuance connection commits
// asynchronously; once the watch has seen a standby, the same connection
// commits with the server's synchronous_commit before its next use, and
// asynchronously again when the standby is gone. (A real synchronous
// standby: cmd/tolk TestFailoverLosesNoAnsweredToken.)
func TestStandbyWatchSetsIssuanceConnections(t *testing.T) {
	// pgtest's server, read only (pgtest imports this package, so an
	// internal test cannot use it).
	dsn := os.Getenv("TOLK_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // one connection, reused by every step
	var w standbyWatch
	w.configure(cfg)
	pool, err := connect(t.Context(), cfg)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		t.Skipf("PostgreSQL not reachable: %v", err)
	}
	defer pool.Close()
	show := func() string {
		t.Helper()
		var v string
		if err := pool.QueryRow(t.Context(), "SHOW synchronous_commit").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := show(); got != "off" || w.standby.Load() {
		t.Fatalf("no standby named: synchronous_commit %s, standby %v; want off, false", got, w.standby.Load())
	}
	w.standby.Store(true)
	if got := show(); got != "on" {
		t.Fatalf("with a synchronous standby: synchronous_commit %s, want on (the server's)", got)
	}
	w.standby.Store(false)
	if got := show(); got != "off" {
		t.Fatalf("standby gone: synchronous_commit %s, want off", got)
	}

	// The watcher asks the server: no standby here, so it clears a stale
	// "standby" within its interval.
	w.standby.Store(true)
	w.watch(pool)
	defer w.close()
	deadline := time.Now().Add(10 * standbyCheckInterval)
	for w.standby.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if w.standby.Load() {
		t.Fatal("the watcher did not see that no standby is named")
	}
}
