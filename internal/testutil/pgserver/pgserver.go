// Package pgserver runs a private PostgreSQL cluster for a test that stops,
// kills or restarts its database: the machine's shared server (pgtest)
// serves other tests at the same time and must never go down. The cluster
// is made with initdb in a temporary directory and served by pg_ctl on a
// free loopback port, trust authentication, user postgres.
//
// PostgreSQL refuses to run as root; when the test runs as root (CI does),
// the cluster belongs to the postgres OS user and every command runs as it
// (runuser). The binaries are PostgreSQL 15's in Debian's place, or those
// of the directory in TOLK_TEST_PG_BIN. When they are missing a test is
// skipped, but fails under CI=true, so that CI never passes by testing
// nothing.
package pgserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBin is where Debian installs PostgreSQL 15's server binaries.
const DefaultBin = "/usr/lib/postgresql/15/bin"

// EnvBin names the environment variable that overrides DefaultBin.
const EnvBin = "TOLK_TEST_PG_BIN"

// Server is a private PostgreSQL cluster.
type Server struct {
	Port int
	dir  string // the temporary directory: data/ and the log
	bin  string
	as   string // the OS user to run as, "" for the current one
	t    testing.TB
}

// Start makes a cluster and starts it; t.Cleanup stops it at once and
// removes it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv(EnvBin)
	if bin == "" {
		bin = DefaultBin
	}
	unusable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgserver: a private PostgreSQL is required under CI=true: %s", msg)
		}
		t.Skipf("pgserver: no private PostgreSQL: %s", msg)
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			unusable("%v (install postgresql-15 or set %s)", err, EnvBin)
		}
	}
	s := &Server{bin: bin, t: t}
	base := ""
	if os.Geteuid() == 0 {
		// The postgres user must reach the directory: not a TMPDIR under
		// root's home.
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "tolk-pgserver-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unusable("running as root and no postgres OS user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		s.as = "postgres"
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync"); err != nil {
		unusable("initdb: %v\n%s", err, out)
	}
	s.Port = freePort(t)
	// Cleanups run last-registered first: the cluster stops before its
	// directory goes.
	t.Cleanup(func() { _, _ = s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop") })
	s.Start()
	return s
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// run runs a PostgreSQL binary as the cluster's OS user, bounded in time.
func (s *Server) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if s.as != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", s.as, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

// Start starts the (stopped) cluster and waits until it accepts
// connections.
func (s *Server) Start() {
	s.t.Helper()
	// Loopback TCP only, its socket in its own directory (none in
	// /var/run/postgresql next to the machine's server); fsync off: the
	// tests stop and kill the server, never the machine.
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=100",
		s.Port, s.dir)
	if out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-o", opts, "-w", "-t", "30", "start"); err != nil {
		s.t.Fatalf("pgserver: start: %v\n%s\n%s", err, out, s.Log())
	}
}

// Stop shuts the cluster down as an operator's restart does (pg_ctl's fast
// mode: sessions are ended with admin_shutdown, 57P01) and waits for it.
func (s *Server) Stop() {
	s.t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "-t", "30", "stop"); err != nil {
		s.t.Fatalf("pgserver: stop: %v\n%s", err, out)
	}
}

// Kill stops the cluster as a crash does (pg_ctl's immediate mode: no
// shutdown checkpoint, crash recovery at the next start).
func (s *Server) Kill() {
	s.t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
		s.t.Fatalf("pgserver: kill: %v\n%s", err, out)
	}
}

// Restart is Stop then Start.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// Log is the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	return string(b)
}

// DSN is a URL for database db as user postgres.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// CreateDatabase creates database name and returns its DSN.
func (s *Server) CreateDatabase(name string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		s.t.Fatalf("pgserver: %v", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		s.t.Fatalf("pgserver: create database %s: %v", name, err)
	}
	return s.DSN(name)
}

// freePort is a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := strings.Cut(ln.Addr().String(), ":")
	p, _ := strconv.Atoi(port)
	return p
}
