// Command tolkbench measures tolk's hot paths on loopback against a bare
// net/http handler started in the same run, and prints requests per second,
// latency percentiles, CPU per request and the ratio to the bare handler.
// Every run is bounded in time and sends traffic only to 127.0.0.1.
//
//	go run ./cmd/tolkbench                 # SQLite in a temporary directory
//	go run ./cmd/tolkbench -pg postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
//	go run ./cmd/tolkbench -db postgres://postgres@127.0.0.1:5432/bench?sslmode=disable
//
// The load generator runs in the same process as the server, so "CPU/req"
// (process user+system CPU time over the measured interval, divided by the
// requests answered) includes the client's share; the bare handler's row is
// that baseline, and "server CPU/req" subtracts it. Each HTTP scenario is
// measured in -rounds windows, each right after a window of the bare
// handler as long; "bare req/s" and the ratio come from those windows.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	var o options
	flag.StringVar(&o.dsn, "db", "", "database DSN (default: SQLite in a temporary directory)")
	pg := flag.String("pg", "", "PostgreSQL admin DSN: create a fresh database for the run and drop it afterwards")
	flag.IntVar(&o.conns, "c", 16, "connections")
	flag.DurationVar(&o.dur, "d", 6*time.Second, "duration of each measurement")
	// Half-second windows by default (with -d 6s): a shared VM's speed
	// moves within seconds, and short interleaved windows keep the ratios
	// steady (docs/performance.md).
	flag.IntVar(&o.rounds, "rounds", 12, "windows each measurement is split into, each after a window of the bare handler as long")
	flag.DurationVar(&o.warm, "warmup", time.Second, "warm-up before each measurement")
	flag.StringVar(&o.only, "only", "", "comma-separated scenario names to run (default all)")
	flag.StringVar(&o.exchangeAlg, "exchange-alg", "", "exchange_alg of the run (ES256, the default; RS256; EdDSA): signs the token exchange's and the jwt verification rows' JWTs, named in their rows")
	flag.BoolVar(&o.syncIssuance, "sync-issuance", false, "issue with sync_issuance: true (on PostgreSQL, commits wait like every other write even without a synchronous standby)")
	flag.DurationVar(&o.soak, "soak", 0, "after the table, run client_credentials this long and report RSS growth (0: skip)")
	flag.IntVar(&o.idle, "idle", 1000, "idle keep-alive connections to open for the per-connection memory figure (0: skip)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of each scenario's measured windows (server and load generator together, no warm-up, no bare handler) to `prefix`.<scenario>.<window>.prof")
	serveBare := flag.String("serve-bare", "", "serve the bare handler on `addr` (a loopback address) for the given -d, then exit: the baseline of an external load tool such as wrk (.ci/wrk.sh)")
	flag.Parse()
	if *serveBare != "" {
		if err := serveBareFor(*serveBare, o.dur); err != nil {
			fail(err)
		}
		return
	}
	if err := runIn(o, *pg); err != nil {
		fail(err)
	}
}

// runIn runs o on a fresh PostgreSQL database made through pg, or, with
// neither pg nor o.dsn, on SQLite in a temporary directory; either is
// removed when the run ends, failed or not.
func runIn(o options, pg string) error {
	if pg != "" {
		dsn, drop, err := freshPostgres(pg)
		if err != nil {
			return err
		}
		defer drop()
		o.dsn = dsn
	}
	if o.dsn == "" {
		dir, err := os.MkdirTemp("", "tolkbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.dsn = "sqlite:" + filepath.Join(dir, "bench.db")
	}
	return run(o)
}

// serveBareFor serves bareHandler on addr for d, so that an external load
// tool measures tolk against the same baseline tolkbench uses. Loopback
// only: it is a measuring aid, not a server.
func serveBareFor(addr string, d time.Duration) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-serve-bare %s: a loopback address is required", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: bareHandler, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintln(os.Stderr, "tolkbench: bare handler listening on", ln.Addr())
	time.AfterFunc(d, func() { srv.Close() })
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tolkbench:", err)
	os.Exit(1)
}

// freshPostgres creates tolkbench_<random hex> like pgtest does and returns
// its DSN and a function that drops it.
func freshPostgres(adminDSN string) (string, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	defer admin.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "tolkbench_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(adminDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("-pg wants a postgres:// URL")
	}
	u.Path, u.RawPath = "/"+name, ""
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, adminDSN); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
			c.Close(context.Background())
		}
	}
	return u.String(), drop, nil
}
