// Package tolktest starts a complete tolk server for tests: a real store
// (a fresh SQLite file, or PostgreSQL), a controllable clock, cheap
// argon2id parameters, and an admin with a known password.
package tolktest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/password"
	"github.com/tolk-project/tolk/internal/server"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/storeopen"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// AdminPassword is the password of the bootstrapped "admin".
const AdminPassword = "admin-password-for-tests"

// Cheap argon2id parameters keep tests fast; production uses OWASP.
var Cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Options tune a test server.
type Options struct {
	Postgres bool // run on a fresh PostgreSQL database instead of SQLite
	// DSN, if set, runs on this existing database instead of a fresh one:
	// a second server with another's DSN is a second instance of it
	// (several tolk processes on one PostgreSQL database).
	DSN    string
	Config func(*config.Config) // adjust the configuration before start
	// ClockStart is the test clock's initial time; zero means a fixed
	// date. Tests with third-party verifiers that read the wall clock
	// (go-oidc) pass time.Now().
	ClockStart time.Time
	// LogTo, if set, receives the server's log instead of Logs, at info
	// level, as in production (benchmarks pass io.Discard so that the log
	// is formatted but not kept).
	LogTo io.Writer
	// WrapStore, if set, wraps the opened store before the server gets it
	// (a test watching which store methods the server calls).
	WrapStore func(store.Store) store.Store
}

// Server is a running test server.
type Server struct {
	*httptest.Server
	Tolk  *server.Server
	Store store.Store
	Clock *Clock
	Logs  *SyncBuffer // everything the server logged
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *SyncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// New starts a server; it is closed when the test ends.
func New(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "tolk.db")
	if o.Postgres {
		dsn = pgtest.NewMigrated(t)
	}
	if o.DSN != "" {
		dsn = o.DSN
	}
	ctx := context.Background()
	logs := &SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.LogTo != nil {
		log = slog.New(slog.NewTextHandler(o.LogTo, nil))
	}
	// The store logs a database outage (once) to the server's log.
	st, err := storeopen.OpenWith(ctx, dsn, storeopen.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if o.WrapStore != nil {
		st = o.WrapStore(st)
	}
	clock := &Clock{t: time.Date(2026, 11, 23, 9, 31, 23, 0, time.UTC)}
	if !o.ClockStart.IsZero() {
		clock.t = o.ClockStart
	}

	ts := httptest.NewUnstartedServer(nil)
	cfg := config.Defaults()
	cfg.DB = dsn
	cfg.Addr = ts.Listener.Addr().String()
	cfg.Issuer = "http://" + cfg.Addr
	cfg.AdminPassword = AdminPassword
	cfg.SecretKey = "tolktest-secret-key-0123456789abcdefghij"
	if o.Config != nil {
		o.Config(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p := Cheap
	srv, err := server.New(cfg, st, server.Deps{Log: log, Now: clock.Now, Params: &p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.RateLimits.Close() })
	if err := srv.Bootstrap(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Drain queued audit events before the store closes (cleanups run in
	// reverse order, so this runs before the store's Close).
	t.Cleanup(srv.Audit.Close)
	t.Cleanup(srv.CloseMailer) // runs first: its outcomes go to the audit log
	ts.Config.Handler = srv.Handler
	ts.Start()
	t.Cleanup(ts.Close)
	return &Server{Server: ts, Tolk: srv, Store: st, Clock: clock, Logs: logs}
}

// CreateUser adds a user with the given name, role and password.
func (s *Server) CreateUser(t testing.TB, userName string, role store.Role, pw string) store.User {
	t.Helper()
	u, err := s.Tolk.Identity.CreateUser(context.Background(), identity.NewUser{
		UserName: userName, Email: userName + "@example.com", Role: role, Password: pw,
		FirstName: "First " + userName, LastName: "Last",
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Do sends a request and returns the response with its body read.
func (s *Server) Do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}
