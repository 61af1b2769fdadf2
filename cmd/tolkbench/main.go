// Command tolkbench measures tolk's hot paths on loopback against a bare
// net/http handler started in the same run, and prints requests per second,
// latency percentiles and the ratio to the bare handler. Every run is
// bounded in time and sends traffic only to 127.0.0.1.
//
//	go run ./cmd/tolkbench                 # SQLite in a temporary directory
//	go run ./cmd/tolkbench -db postgres://postgres@127.0.0.1:5432/bench?sslmode=disable
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tolk-project/tolk/internal/authz"
	"github.com/tolk-project/tolk/internal/config"
	"github.com/tolk-project/tolk/internal/loadgen"
	"github.com/tolk-project/tolk/internal/pat"
	"github.com/tolk-project/tolk/internal/platform"
	"github.com/tolk-project/tolk/internal/server"
	"github.com/tolk-project/tolk/internal/store/storeopen"
)

func main() {
	db := flag.String("db", "", "database DSN (default: SQLite in a temporary directory)")
	conns := flag.Int("c", 16, "connections")
	dur := flag.Duration("d", 5*time.Second, "duration of each measurement")
	warm := flag.Duration("warmup", time.Second, "warm-up before each measurement")
	only := flag.String("only", "", "comma-separated scenario names to run (default all)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (server and load generator share the process)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tolkbench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*db, *conns, *dur, *warm, *only); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "tolkbench:", err)
		os.Exit(1)
	}
}

func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func run(dsn string, conns int, dur, warm time.Duration, only string) error {
	ctx := context.Background()
	if dsn == "" {
		dir, err := os.MkdirTemp("", "tolkbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dsn = "sqlite:" + filepath.Join(dir, "bench.db")
	}
	st, err := storeopen.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	cfg := config.Defaults()
	cfg.DB = dsn
	cfg.AdminPassword = "bench-admin-password"
	cfg.SecretKey = "tolkbench-secret-key-0123456789abcdef"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(cfg, st, server.Deps{Log: log})
	if err != nil {
		return err
	}
	if err := srv.Bootstrap(ctx, io.Discard); err != nil {
		return err
	}
	tolkURL, stop, err := listen(srv.Handler)
	if err != nil {
		return err
	}
	defer stop()
	bareURL, stopBare, err := listen(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	if err != nil {
		return err
	}
	defer stopBare()

	org, err := st.DefaultOrganization(ctx)
	if err != nil {
		return err
	}
	c, sec, err := srv.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "bench", GrantTypes: []string{"client_credentials"}, Scopes: []string{"read", "public"}})
	if err != nil {
		return err
	}
	// One token to introspect.
	tok, err := fetchToken(tolkURL, c.ID, sec)
	if err != nil {
		return err
	}

	form := func(v url.Values) loadgen.Request {
		body := v.Encode()
		return func(int, int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, tolkURL+pathOf(v), strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(c.ID, sec)
			return req, nil
		}
	}
	// An API token to exchange (SPEC §3.5); the exchange sends no client
	// credentials.
	admin, err := st.GetUserByUserName(ctx, "admin")
	if err != nil {
		return err
	}
	pt, err := srv.Platform.Create(ctx, admin, "bench", time.Time{})
	if err != nil {
		return err
	}
	exchangeBody := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {pt.Secret}}.Encode()
	exchange := func(int, int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, tolkURL+"/oauth/token", strings.NewReader(exchangeBody))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, nil
	}
	// SPEC §4 forward-auth: an exchanged Platform JWT and a PAT, checked
	// through GET /auth/verify (the second and later answers of each come
	// from the verification cache, verify_cache_ttl).
	ex, err := srv.Platform.Exchange(ctx, platform.ExchangeRequest{SubjectToken: pt.Secret})
	if err != nil {
		return err
	}
	note, scopes := "bench", []string{"read"}
	_, patTok, err := srv.PATs.Create(ctx, admin, pat.Changes{Note: &note, Scopes: &scopes})
	if err != nil {
		return err
	}
	forward := func(auth string) loadgen.Request {
		return func(int, int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodGet, tolkURL+"/auth/verify?scope=read", nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", auth)
			return req, nil
		}
	}
	type scenario struct {
		name, target string
		build        loadgen.Request
	}
	scenarios := []scenario{
		{"bare net/http handler", bareURL, func(int, int) (*http.Request, error) { return http.NewRequest(http.MethodGet, bareURL+"/", nil) }},
		{"client_credentials", tolkURL, form(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}, "_path": {"/oauth/token"}})},
		{"introspection", tolkURL, form(url.Values{"token": {tok}, "_path": {"/oauth/introspect"}})},
		{"token exchange", tolkURL, exchange},
		{"verify jwt", tolkURL, forward("Bearer " + ex.JWT)},
		{"verify opaque (cached)", tolkURL, forward("token " + patTok)},
	}
	fmt.Printf("tolkbench: %s, %d CPUs, GOMAXPROCS %d, %s, %d connections, %s per scenario (after %s warm-up)\n",
		runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0), strings.SplitN(dsn, ":", 2)[0], conns, dur, warm)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tp50\tp99\terrors\tratio to bare\t")
	var bare float64
	for _, sc := range scenarios {
		if only != "" && sc.name != "bare net/http handler" && !strings.Contains(","+only+",", ","+sc.name+",") {
			continue
		}
		r, err := loadgen.Run(ctx, sc.target, sc.build, loadgen.Options{Connections: conns, Duration: dur, Warmup: warm})
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		if bare == 0 {
			bare = r.RPS()
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%.2f\t\n", sc.name, r.RPS(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors, r.RPS()/bare)
		if r.Errors > 0 {
			fmt.Fprintf(tw, "  first error: %s\t\t\t\t\t\t\n", r.FirstErr)
		}
	}
	return tw.Flush()
}

// pathOf takes the target path out of the form (a bench-only convention
// that keeps scenarios one-liners); tolk ignores unknown parameters anyway.
func pathOf(v url.Values) string { return v.Get("_path") }

func fetchToken(base, id, sec string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader("grant_type=client_credentials&scope=read"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, sec)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("no token (status %d): %v", resp.StatusCode, err)
	}
	return out.AccessToken, nil
}
