package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/httpbench"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// The benchmarks below send real HTTP over loopback with 16 goroutines
// (b.SetParallelism), so that BenchmarkBareHandler, run in the same
// invocation, is the baseline the others are read against:
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/server/

func BenchmarkBareHandler(b *testing.B) { httpbench.BenchmarkBare(b) }

func ccClient(b testing.TB, s *tolktest.Server) (string, string) {
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		b.Fatal(err)
	}
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "bench", GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}})
	if err != nil {
		b.Fatal(err)
	}
	return c.ID, sec
}

func formRequest(url, id, sec, body string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(id, sec)
	return r
}

func BenchmarkClientCredentials(b *testing.B) {
	// One client makes every request: lift its per-client request limit
	// (600, then 10/s), as tolkbench does, or longer runs measure 429s.
	// Logging at info, as in production: the test log keeps Debug lines.
	s := tolktest.New(b, tolktest.Options{LogTo: io.Discard, Config: func(c *config.Config) { c.ClientRequestBurst = 1 << 30 }})
	id, sec := ccClient(b, s)
	c := httpbench.Client()
	httpbench.Parallel(b, c, func() *http.Request {
		return formRequest(s.URL+"/oauth/token", id, sec, "grant_type=client_credentials&scope=read")
	})
}

func BenchmarkIntrospection(b *testing.B) {
	s := tolktest.New(b, tolktest.Options{LogTo: io.Discard})
	id, sec := ccClient(b, s)
	c := httpbench.Client()
	resp, err := c.Do(formRequest(s.URL+"/oauth/token", id, sec, "grant_type=client_credentials&scope=read"))
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	body := url.Values{"token": {tok.AccessToken}}.Encode()
	httpbench.Parallel(b, c, func() *http.Request { return formRequest(s.URL+"/oauth/introspect", id, sec, body) })
}

// backlogRows is how many expired access tokens
// BenchmarkClientCredentialsSweeping starts with: more than its sweeper
// deletes while a run lasts, so that it sweeps in every sweeping window.
const backlogRows = 200_000

// sweepWindow is how long each window of BenchmarkClientCredentialsSweeping
// lasts.
const sweepWindow = 500 * time.Millisecond

// BenchmarkClientCredentialsSweeping is BenchmarkClientCredentials, on
// SQLite and on PostgreSQL, over a table holding backlogRows expired
// access tokens, in windows of sweepWindow that alternate between the
// retention sweeper idle and sweeping the backlog (with its own batches
// and pauses, as serve runs it): idle, sweeping, idle, sweeping, …. It
// reports the token endpoint's
// rate in each kind of window (their ratios to BenchmarkBareHandler, run
// in the same invocation, are the figures of docs/performance.md),
// sweeping/idle, and, for the noise that ratio is read against, the
// ratio of every other idle window to the rest (idle/idle).
//
//	go test -run '^$' -bench 'BareHandler|ClientCredentialsSweeping' -benchtime 10s ./internal/server/
func BenchmarkClientCredentialsSweeping(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkSweeping(b, false) })
	b.Run("postgres", func(b *testing.B) { benchmarkSweeping(b, true) })
}

func benchmarkSweeping(b *testing.B, postgres bool) {
	s := tolktest.New(b, tolktest.Options{Postgres: postgres, LogTo: io.Discard,
		Config: func(c *config.Config) { c.ClientRequestBurst = 1 << 30 }})
	id, sec := ccClient(b, s)
	seedExpired(b, s, id, backlogRows)
	w := startSweepWindows(s)
	c := httpbench.Client()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Do(formRequest(s.URL+"/oauth/token", id, sec, "grant_type=client_credentials&scope=read"))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			w.done[w.phase.Load()].Add(1)
		}
	})
	b.StopTimer()
	w.stop()
	if w.spent[0] == 0 || w.spent[3] == 0 {
		return // shorter than the warm-up and one cycle: nothing measured (b.N calibration)
	}
	idle, sweeping := w.rate(0, 2), w.rate(1, 3)
	b.ReportMetric(idle, "idle-req/s")
	b.ReportMetric(sweeping, "sweeping-req/s")
	b.ReportMetric(sweeping/idle, "sweeping/idle")
	b.ReportMetric(w.rate(2)/w.rate(0), "idle/idle")
	b.ReportMetric(float64(w.swept.Load())/float64(b.N), "swept/op")
	if w.ranOut.Load() {
		b.Errorf("the backlog of %d rows ran out while measuring: raise backlogRows", backlogRows)
	}
}

// sweepWindows cycles through four windows of sweepWindow: 0 and 2 idle,
// 1 and 3 sweeping, after warming up for as long as one cycle (window 4,
// not counted: the first seconds of a run are faster or slower than the
// rest, which would favour one kind of window). It counts the requests
// done in each window and their time.
type sweepWindows struct {
	phase  atomic.Int32
	done   [5]atomic.Int64
	spent  [5]time.Duration // written by the cycling goroutine, read after stop
	swept  atomic.Int64
	ranOut atomic.Bool

	stopAt atomic.Int64 // UnixNano of stop; 0 while running
	cancel context.CancelFunc
	ended  chan struct{}
}

func startSweepWindows(s *tolktest.Server) *sweepWindows {
	ctx, cancel := context.WithCancel(context.Background())
	w := &sweepWindows{cancel: cancel, ended: make(chan struct{})}
	go func() {
		defer close(w.ended)
		for p := 4; ctx.Err() == nil; p = (p + 1) % 4 {
			w.phase.Store(int32(p))
			start, length := time.Now(), sweepWindow
			if p == 4 {
				length = 4 * sweepWindow
			}
			wctx, wcancel := context.WithDeadline(ctx, start.Add(length))
			for p%2 == 1 && wctx.Err() == nil {
				r, _ := s.Tolk.Sweeper.Sweep(wctx) // an error is the window ending
				n := r.Deleted[string(store.ExpiredAccessTokens)]
				w.swept.Add(int64(n))
				if n == 0 && wctx.Err() == nil {
					w.ranOut.Store(true)
					break
				}
			}
			<-wctx.Done()
			wcancel()
			end := start.Add(length)
			if at := w.stopAt.Load(); at != 0 && at < end.UnixNano() {
				end = time.Unix(0, at)
			}
			w.spent[p] += end.Sub(start)
		}
	}()
	return w
}

func (w *sweepWindows) stop() {
	w.stopAt.Store(time.Now().UnixNano())
	w.cancel()
	<-w.ended
}

// rate is the requests per second done in the windows of phases ps.
func (w *sweepWindows) rate(ps ...int) float64 {
	var n int64
	var d time.Duration
	for _, p := range ps {
		n += w.done[p].Load()
		d += w.spent[p]
	}
	return float64(n) / d.Seconds()
}

// seedExpired stores n access tokens of client id that expired an hour ago.
func seedExpired(b *testing.B, s *tolktest.Server, id string, n int) {
	b.Helper()
	ctx := context.Background()
	expired := s.Clock.Now().Add(-time.Hour)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				err := s.Store.CreateAccessToken(ctx, store.AccessToken{
					Hash: fmt.Sprintf("%064x", i), ClientID: id, Scopes: []string{"read"},
					CreatedAt: expired.Add(-time.Hour), ExpiresAt: expired,
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
