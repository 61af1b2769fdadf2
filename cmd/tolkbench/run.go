package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/pat"
	"github.com/tolk-project/tolk/internal/core/platform"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/gctune"
	"github.com/tolk-project/tolk/internal/kit/loadgen"
	"github.com/tolk-project/tolk/internal/kit/password"
	"github.com/tolk-project/tolk/internal/server"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/storeopen"
	"github.com/tolk-project/tolk/verify"
)

type options struct {
	cpuprofile      string
	rounds          int
	dsn             string
	conns, idle     int
	dur, warm, soak time.Duration
	only            string
	syncIssuance    bool
	exchangeAlg     string
}

const (
	adminPassword = "bench-admin-password"
	redirectURI   = "http://127.0.0.1/cb"
)

func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

var bareHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}`))
})

// scenario is one measured path. Either build (HTTP load) or op (an
// in-process function called by conns goroutines) is set.
type scenario struct {
	name, target string
	build        loadgen.Request
	onResp       func(worker, status int, body []byte)
	op           func(ctx context.Context) error
	// prepare, when set, rebuilds build and onResp before the warm-up and
	// again before the measurement (rotating chains cut off at the end of
	// the warm-up would otherwise be replayed).
	prepare func() (loadgen.Request, func(int, int, []byte), error)
	note    string
	// single: measured in one window, without the bare handler's. Its
	// requests take hundreds of milliseconds; the end of each window
	// would cut off one per connection, work done for nothing.
	single bool
}

type bench struct {
	o       options
	ctx     context.Context
	srv     *server.Server
	st      store.Store
	tolkURL string
	admin   store.User
	cc      store.Client // client_credentials
	ccSec   string
	web     store.Client // authorization_code + refresh_token
	webSec  string
}

func run(o options) error {
	ctx := context.Background()
	st, err := storeopen.OpenWith(ctx, o.dsn, storeopen.Options{SyncIssuance: o.syncIssuance})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	cfg := config.Defaults()
	cfg.DB = o.dsn
	cfg.AdminPassword = adminPassword
	cfg.SecretKey = "tolkbench-secret-key-0123456789abcdef"
	// The per-client request limit (client_request_burst, default 600 then
	// 10/s) would answer 429 to a load test; every other setting is the
	// default.
	cfg.ClientRequestBurst = 1 << 30
	if o.exchangeAlg != "" {
		cfg.ExchangeAlg = o.exchangeAlg
	}
	// The collector's target tolk serve sets (gc_percent), for the whole
	// process: tolk, the bare handler and the load generator alike.
	var gcTarget string
	switch gogc := os.Getenv("GOGC"); {
	case gctune.Apply(cfg.GCPercent, os.Getenv):
		gcTarget = fmt.Sprintf("GC target %d (gc_percent)", cfg.GCPercent)
	case gogc != "":
		gcTarget = "GOGC=" + gogc + " from the environment"
	default:
		gcTarget = "GC target 100 (Go's default)"
	}
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
	bareURL, stopBare, err := listen(bareHandler)
	if err != nil {
		return err
	}
	defer stopBare()
	// A service using the verify package in-process, with tolk's resolver
	// and /auth/verify's verification cache.
	cached := *srv.Resolver
	cached.Cache = srv.VerifyCache
	inproc, err := verify.New(verify.Config{Resolver: &cached})
	if err != nil {
		return err
	}
	inprocURL, stopInproc, err := listen(inproc.Middleware(verify.Require{Scopes: []string{"read"}})(bareHandler))
	if err != nil {
		return err
	}
	defer stopInproc()

	b := &bench{o: o, ctx: ctx, srv: srv, st: st, tolkURL: tolkURL}
	org, err := st.DefaultOrganization(ctx)
	if err != nil {
		return err
	}
	if b.admin, err = st.GetUserByUserName(ctx, "admin"); err != nil {
		return err
	}
	if b.cc, b.ccSec, err = srv.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "bench", GrantTypes: []string{"client_credentials"}, Scopes: []string{"read", "public"}}); err != nil {
		return err
	}
	if b.web, b.webSec, err = srv.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "bench-web", RedirectURIs: []string{redirectURI},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"read", "offline_access"}}); err != nil {
		return err
	}

	// Credentials for the verification paths, one per dialect.
	ccTok, err := b.tokenRequest(b.cc.ID, b.ccSec, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	if err != nil {
		return err
	}
	codes, err := b.mintCodes(1, []string{"read"})
	if err != nil {
		return err
	}
	bearer, err := b.tokenRequest(b.web.ID, b.webSec, url.Values{"grant_type": {"authorization_code"}, "code": {codes[0]}, "redirect_uri": {redirectURI}})
	if err != nil {
		return err
	}
	apiToken, err := b.login()
	if err != nil {
		return err
	}
	pt, err := srv.Platform.Create(ctx, b.admin, "bench", time.Time{})
	if err != nil {
		return err
	}
	ex, err := srv.Platform.Exchange(ctx, platform.ExchangeRequest{SubjectToken: pt.Secret})
	if err != nil {
		return err
	}
	note, scopes := "bench", []string{"read"}
	_, patTok, err := srv.PATs.Create(ctx, b.admin, pat.Changes{Note: &note, Scopes: &scopes})
	if err != nil {
		return err
	}
	_, apiKey, err := srv.APIKeys.Create(ctx, b.admin, "bench")
	if err != nil {
		return err
	}
	dialects := []struct{ name, header, value string }{
		{"apitoken", "Authorization", "ApiToken " + apiToken},
		{"bearer (opaque)", "Authorization", "Bearer " + bearer},
		{"jwt (" + cfg.ExchangeAlg + ")", "Authorization", "Bearer " + ex.JWT},
		{"pat", "Authorization", "token " + patTok},
		{"apikey", cfg.APIKeyHeader, apiKey},
	}

	hasher := password.NewHasher(password.OWASP, cfg.PasswordWorkers, rand.Reader)
	pwHash, err := hasher.Hash(ctx, adminPassword)
	if err != nil {
		return err
	}

	scenarios := []scenario{
		{name: "bare net/http handler", target: bareURL, build: get(bareURL+"/", "", "")},
		{name: "client_credentials", target: tolkURL, build: b.form("/oauth/token", b.cc.ID, b.ccSec, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})},
		{name: "authorization_code", target: tolkURL, note: "codes minted before the measurement"},
		{name: "refresh_token", target: tolkURL, note: "one rotating chain per connection"},
		{name: "token exchange (" + cfg.ExchangeAlg + ")", target: tolkURL, build: b.form("/oauth/token", "", "", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {pt.Secret}})},
		{name: "introspection", target: tolkURL, build: b.form("/oauth/introspect", b.cc.ID, b.ccSec, url.Values{"token": {ccTok}})},
		{name: "raw argon2id (OWASP)", op: func(ctx context.Context) error { _, err := hasher.Verify(ctx, adminPassword, pwHash); return err },
			note: fmt.Sprintf("password.Hasher, %d workers", max(cfg.PasswordWorkers, runtime.GOMAXPROCS(0)))},
		{name: "ApiToken login", target: tolkURL, build: b.loginRequest(), single: true},
	}
	for _, d := range dialects {
		scenarios = append(scenarios, scenario{name: "/auth/verify " + d.name, target: tolkURL, build: get(tolkURL+"/auth/verify?scope=read", d.header, d.value)})
	}
	for _, d := range dialects {
		scenarios = append(scenarios, scenario{name: "in-process " + d.name, target: inprocURL, build: get(inprocURL+"/", d.header, d.value)})
	}

	fmt.Printf("tolkbench: %s, %s\n", machine(), gcTarget)
	fmt.Printf("tolkbench: %s, %d connections, %s per scenario (after %s warm-up) in %d windows, each after a window of the bare handler as long, load generator in the same process\n",
		strings.SplitN(o.dsn, ":", 2)[0], o.conns, o.dur, o.warm, max(o.rounds, 1))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, tableHeader)
	var argon float64
	bareSc := &scenarios[0]
	for _, sc := range scenarios {
		if o.only != "" && sc.name != bareSc.name && !strings.Contains(","+o.only+",", ","+sc.name+",") {
			continue
		}
		switch sc.name {
		case "authorization_code":
			sc.prepare = b.codeScenario
		case "refresh_token":
			sc.prepare = b.refreshScenario
		}
		var m measurement
		if sc.name == bareSc.name {
			m, err = b.measure(sc, nil)
			m.bare, m.bareCPU = m.Result, m.cpu
		} else {
			m, err = b.measure(sc, bareSc)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		if sc.op != nil {
			argon = m.RPS()
		}
		bareRPS, ratio, serverCPU := "", "", ""
		if m.bare.Requests > 0 {
			bareRPS, ratio, serverCPU = fmt.Sprintf("%.0f", m.bare.RPS()), fmt.Sprintf("%.2f", m.RPS()/m.bare.RPS()), us(m.cpu-m.bareCPU)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", sc.name, m.RPS(), m.P50.Round(time.Microsecond), m.P99.Round(time.Microsecond), m.Errors,
			us(m.cpu), serverCPU, mib(m.rss), bareRPS, ratio)
		if m.Errors > 0 {
			fmt.Fprintf(tw, "  first error: %s"+noteCells, m.FirstErr)
		}
		if m.stalled > 0 {
			fmt.Fprintf(tw, "  %d of %d windows completed no request"+noteCells, m.stalled, max(b.o.rounds, 1))
		}
		if sc.name == "ApiToken login" && argon > 0 {
			fmt.Fprintf(tw, "  ratio to raw argon2id: %.2f"+noteCells, m.RPS()/argon)
		}
		if sc.note != "" {
			fmt.Fprintf(tw, "  (%s)"+noteCells, sc.note)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if o.idle > 0 {
		if err := idleConns(tolkURL, o.idle); err != nil {
			return err
		}
	}
	if o.soak > 0 {
		return b.soakRun(b.form("/oauth/token", b.cc.ID, b.ccSec, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}))
	}
	return nil
}

// tableHeader names the table's columns; noteCells ends a note line
// (text in the first column) with the others empty.
const tableHeader = "scenario\treq/s\tp50\tp99\terrors\tCPU/req\tserver CPU/req\tmax RSS\tbare req/s\tratio to bare\t"

var noteCells = strings.Repeat("\t", strings.Count(tableHeader, "\t")) + "\n"

func us(sec float64) string { return fmt.Sprintf("%.0fµs", sec*1e6) }
func mib(b int64) string    { return fmt.Sprintf("%.0fMiB", float64(b)/(1<<20)) }

func get(u, header, value string) loadgen.Request {
	return func(int, int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		if header != "" {
			req.Header.Set(header, value)
		}
		return req, nil
	}
}

// form posts v to path, with client credentials when id is set.
func (b *bench) form(path, id, sec string, v url.Values) loadgen.Request {
	body := v.Encode()
	return func(int, int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, b.tolkURL+path, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if id != "" {
			req.SetBasicAuth(id, sec)
		}
		return req, nil
	}
}

func (b *bench) loginRequest() loadgen.Request {
	body, _ := json.Marshal(map[string]string{"userName": "admin", "password": adminPassword})
	return func(int, int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, b.tolkURL+"/api2/v1/auth/login", strings.NewReader(string(body)))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}
}

func (b *bench) login() (string, error) {
	req, _ := b.loginRequest()(0, 0)
	var out struct {
		Token string `json:"token"`
	}
	if err := do(req, &out); err != nil || out.Token == "" {
		return "", fmt.Errorf("login: %v", err)
	}
	return out.Token, nil
}

func do(req *http.Request, out any) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (b *bench) tokenResponse(id, sec string, v url.Values) (tokenResponse, error) {
	req, _ := b.form("/oauth/token", id, sec, v)(0, 0)
	var out tokenResponse
	err := do(req, &out)
	return out, err
}

func (b *bench) tokenRequest(id, sec string, v url.Values) (string, error) {
	out, err := b.tokenResponse(id, sec, v)
	if err == nil && out.AccessToken == "" {
		err = errors.New("no access token")
	}
	return out.AccessToken, err
}

// mintCodes issues n authorization codes for the admin through
// authz.Service.Issue (what the consent page calls), concurrently.
func (b *bench) mintCodes(n int, scopes []string) ([]string, error) {
	codes := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ar := &authz.AuthRequest{Client: b.web, RedirectURI: redirectURI, RedirectGiven: true, ResponseType: []string{"code"}, Scopes: scopes}
				v, err := b.srv.Authz.Issue(b.ctx, ar, b.admin, time.Now())
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				codes[i] = v.Get("code")
			}
		}()
	}
	wg.Wait()
	return codes, firstErr
}

// codeRate bounds how many codes a second the authorization_code scenario
// can redeem, with a margin over what 2 cores reach (docs/performance.md):
// a pool that runs dry ends its workers with "code pool exhausted" in the
// table.
const codeRate = 15000

// codeScenario pre-mints enough codes for the warm-up or one window, and
// redeems each once. It is a prepare, run before each of them: codes live
// 30 s, so a pool minted once for the whole measurement expired under a
// long -d (every redemption then failed).
func (b *bench) codeScenario() (loadgen.Request, func(int, int, []byte), error) {
	window := b.o.dur / time.Duration(max(b.o.rounds, 1))
	n := int(max(window, b.o.warm).Seconds() * codeRate)
	codes, err := b.mintCodes(n, []string{"read"})
	if err != nil {
		return nil, nil, err
	}
	var next atomic.Int64
	return func(int, int) (*http.Request, error) {
		i := int(next.Add(1)) - 1
		if i >= len(codes) {
			return nil, errors.New("code pool exhausted")
		}
		v := url.Values{"grant_type": {"authorization_code"}, "code": {codes[i]}, "redirect_uri": {redirectURI}}
		return b.form("/oauth/token", b.web.ID, b.webSec, v)(0, 0)
	}, nil, nil
}

// refreshScenario gives every connection its own refresh token chain: each
// request rotates the connection's current token and keeps the new one.
func (b *bench) refreshScenario() (loadgen.Request, func(int, int, []byte), error) {
	codes, err := b.mintCodes(b.o.conns, []string{"read", "offline_access"})
	if err != nil {
		return nil, nil, err
	}
	cur := make([]string, b.o.conns)
	for i, c := range codes {
		out, err := b.tokenResponse(b.web.ID, b.webSec, url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {redirectURI}})
		if err != nil {
			return nil, nil, err
		}
		if out.RefreshToken == "" {
			return nil, nil, errors.New("no refresh token")
		}
		cur[i] = out.RefreshToken
	}
	build := func(w, _ int) (*http.Request, error) {
		v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {cur[w]}}
		return b.form("/oauth/token", b.web.ID, b.webSec, v)(0, 0)
	}
	onResp := func(w, status int, body []byte) {
		var out tokenResponse
		if status == http.StatusOK && json.Unmarshal(body, &out) == nil && out.RefreshToken != "" {
			cur[w] = out.RefreshToken
		}
	}
	return build, onResp, nil
}

type measurement struct {
	loadgen.Result
	cpu float64 // process CPU seconds per request
	rss int64   // highest RSS sampled during the measurement
	// The bare handler measured in windows interleaved with this
	// scenario's (zero for the bare row and for in-process operations).
	bare    loadgen.Result
	bareCPU float64
	stalled int // windows in which no request completed
}

// measure runs sc for the measurement duration, after a warm-up. An HTTP
// scenario's measurement is split into o.rounds windows, each right after
// a window of the bare handler as long: on a shared machine whose speed
// drifts by tens of percent within a minute, the ratio of two rates taken
// side by side holds still where a ratio to one bare run at the start of
// the table does not.
func (b *bench) measure(sc scenario, bare *scenario) (measurement, error) {
	var m measurement
	prepare := func() error {
		if sc.prepare == nil {
			return nil
		}
		var err error
		sc.build, sc.onResp, err = sc.prepare()
		return err
	}
	runOnce := func(sc scenario, d time.Duration) (loadgen.Result, error) {
		if sc.op != nil {
			return runOp(b.ctx, sc.op, b.o.conns, d)
		}
		return loadgen.Run(b.ctx, sc.target, sc.build, loadgen.Options{Connections: b.o.conns, Duration: d, OnResponse: sc.onResp})
	}
	// Start from a quiet runtime: the argon2id scenarios leave memory
	// that the background scavenger would otherwise return to the OS
	// during the next scenario, on its CPU.
	debug.FreeOSMemory() // a collection first, then the release
	if b.o.warm > 0 {
		if err := prepare(); err != nil {
			return m, err
		}
		if _, err := runOnce(sc, b.o.warm); err != nil {
			return m, err
		}
	}
	rounds := b.o.rounds
	if bare == nil || sc.op != nil || sc.single || rounds < 1 {
		bare, rounds = nil, 1
	}
	window := b.o.dur / time.Duration(rounds)
	var runs, bares []loadgen.Result
	var cpu, bareCPU time.Duration
	stopRSS := sampleRSS(&m.rss)
	defer stopRSS()
	prof := b.profile(sc.name)
	for range rounds {
		if bare != nil {
			cpu0 := cpuTime()
			r, err := runOnce(*bare, window)
			if err != nil {
				return m, fmt.Errorf("bare handler: %w", err)
			}
			bareCPU += cpuTime() - cpu0
			bares = append(bares, r)
		}
		// A rotating chain cut off at the end of the last window would be
		// replayed: each window starts new chains.
		if err := prepare(); err != nil {
			return m, err
		}
		if err := prof.start(); err != nil {
			return m, err
		}
		cpu0 := cpuTime()
		r, err := runOnce(sc, window)
		cpu += cpuTime() - cpu0
		prof.stop()
		stalled, err := windowStalled(err, rounds)
		if err != nil {
			return m, err
		}
		if stalled {
			m.stalled++
		}
		runs = append(runs, r)
	}
	m.Result = loadgen.Merge(runs...)
	if m.Requests == 0 {
		return m, loadgen.ErrNoneCompleted
	}
	m.cpu = cpu.Seconds() / float64(max(m.Requests, 1))
	if bare != nil {
		m.bare = loadgen.Merge(bares...)
		m.bareCPU = bareCPU.Seconds() / float64(max(m.bare.Requests, 1))
	}
	return m, nil
}

// windowStalled tells whether a window that ended with err completed no
// request, which is a measurement (of a server that stalled, or of this
// shared machine: PostgreSQL logged 1 s statements here while nothing held
// a lock) when it is one of several windows; any other error is returned.
func windowStalled(err error, rounds int) (bool, error) {
	if errors.Is(err, loadgen.ErrNoneCompleted) && rounds > 1 {
		return true, nil
	}
	return false, err
}

// scenarioProfile profiles one scenario's measured windows, one file per
// window (a profile covers one interval): PREFIX.<scenario>.<window>.prof,
// which go tool pprof reads merged when given them all. A no-op without
// -cpuprofile.
type scenarioProfile struct {
	prefix string
	n      int
	f      *os.File
}

func (b *bench) profile(name string) *scenarioProfile {
	if b.o.cpuprofile == "" {
		return &scenarioProfile{}
	}
	slug := strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(name)), "-")
	return &scenarioProfile{prefix: b.o.cpuprofile + "." + slug}
}

func (p *scenarioProfile) start() error {
	if p.prefix == "" {
		return nil
	}
	p.n++
	f, err := os.Create(fmt.Sprintf("%s.%d.prof", p.prefix, p.n))
	if err != nil {
		return err
	}
	p.f = f
	return pprof.StartCPUProfile(f)
}

func (p *scenarioProfile) stop() {
	if p.f != nil {
		pprof.StopCPUProfile()
		p.f.Close()
		p.f = nil
	}
}

// runOp calls op from conns goroutines for d.
func runOp(ctx context.Context, op func(context.Context) error, conns int, d time.Duration) (loadgen.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n, errs atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	start := time.Now()
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := op(ctx); err != nil {
					if ctx.Err() != nil {
						break
					}
					errs.Add(1)
				}
				local = append(local, time.Since(t0))
				n.Add(1)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := loadgen.Result{Requests: n.Load(), Errors: errs.Load(), Elapsed: time.Since(start)}
	if len(lat) == 0 {
		return r, errors.New("no operation completed")
	}
	sortDurations(lat)
	r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	return r, nil
}
