// Package loadgen drives HTTP load against servers on this machine: a fixed
// number of keep-alive connections, each sending requests back to back,
// bounded by a duration and a request count. It refuses any target that is
// not a loopback address, so a load test can never leave the machine.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Request builds one request; i counts requests of this worker.
type Request func(worker, i int) (*http.Request, error)

// Options bound a run.
type Options struct {
	Connections int           // concurrent connections (default 16)
	Duration    time.Duration // wall-clock bound (default 5s)
	MaxRequests int64         // total request bound (default 1e7)
	Warmup      time.Duration // run, then discard, before measuring
	// OK decides whether a response counts as a success (default: 2xx).
	OK func(status int) bool
	// OnResponse, when set, receives every response body (read in full)
	// with its worker, e.g. to chain rotating credentials per connection.
	OnResponse func(worker, status int, body []byte)
}

// Result summarizes a run.
type Result struct {
	Requests int64
	Errors   int64
	Elapsed  time.Duration
	P50, P99 time.Duration
	FirstErr string

	lat *hist // the latencies, for Merge
}

// Merge combines the results of several runs of the same load (e.g. runs
// interleaved with a baseline's): counts and elapsed times add up, and the
// percentiles are those of all the latencies together.
func Merge(rs ...Result) Result {
	if len(rs) == 1 {
		return rs[0]
	}
	var m Result
	lat := new(hist)
	for _, r := range rs {
		m.Requests += r.Requests
		m.Errors += r.Errors
		m.Elapsed += r.Elapsed
		if m.FirstErr == "" {
			m.FirstErr = r.FirstErr
		}
		if r.lat != nil {
			lat.merge(r.lat)
		}
	}
	m.lat = lat
	if lat.n > 0 {
		m.P50, m.P99 = lat.quantile(0.5), lat.quantile(0.99)
	}
	return m
}

// ErrNoneCompleted is Run's error when no request completed within the
// duration; its Result still holds the elapsed time and the errors.
var ErrNoneCompleted = errors.New("loadgen: no request completed")

// RPS is requests per second.
func (r Result) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// CheckLoopback refuses any URL whose host is not a loopback address.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("loadgen: refusing non-loopback target %q", host)
	}
	return nil
}

// Run sends load until the duration or request bound is reached.
func Run(ctx context.Context, target string, build Request, o Options) (Result, error) {
	if err := CheckLoopback(target); err != nil {
		return Result{}, err
	}
	if o.Connections <= 0 {
		o.Connections = 16
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = 10_000_000
	}
	if o.OK == nil {
		o.OK = func(s int) bool { return s >= 200 && s < 300 }
	}
	tr := &http.Transport{MaxIdleConnsPerHost: o.Connections, MaxConnsPerHost: o.Connections, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	if o.Warmup > 0 {
		if _, err := run(ctx, client, build, o.Connections, o.Warmup, o.MaxRequests, o.OK, o.OnResponse); err != nil {
			return Result{}, err
		}
	}
	return run(ctx, client, build, o.Connections, o.Duration, o.MaxRequests, o.OK, o.OnResponse)
}

func run(ctx context.Context, client *http.Client, build Request, conns int, d time.Duration, max int64, ok func(int) bool, onResp func(int, int, []byte)) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		count, errs atomic.Int64
		mu          sync.Mutex
		lat         hist
		firstErr    string
		wg          sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := new(hist)
			for i := 0; ctx.Err() == nil; i++ {
				if count.Add(1) > max {
					break
				}
				req, err := build(w, i)
				if err != nil {
					// This worker cannot go on (a pool of one-time
					// credentials ran out, say): retrying would spin.
					count.Add(-1)
					errs.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = "build request: " + err.Error()
					}
					mu.Unlock()
					break
				}
				t0 := time.Now()
				resp, err := client.Do(req.WithContext(ctx))
				if err != nil {
					if ctx.Err() != nil {
						count.Add(-1)
						break
					}
					errs.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				if onResp != nil {
					body, _ := io.ReadAll(resp.Body)
					onResp(w, resp.StatusCode, body)
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
				}
				resp.Body.Close()
				local.record(time.Since(t0))
				if !ok(resp.StatusCode) {
					errs.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = fmt.Sprintf("status %d", resp.StatusCode)
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			lat.merge(local)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	r := Result{Elapsed: time.Since(start), Errors: errs.Load(), FirstErr: firstErr, lat: &lat}
	r.Requests = lat.n
	if lat.n == 0 {
		return r, ErrNoneCompleted
	}
	r.P50, r.P99 = lat.quantile(0.5), lat.quantile(0.99)
	return r, nil
}
