package cli_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/cli"
)

// TestServeMetricsListener: with metrics_addr, tolk serve answers
// /metrics on that listener (a real one, bound by serve) and 404 on the
// public one, which keeps serving everything else; the metrics listener
// closes when serve stops.
func TestServeMetricsListener(t *testing.T) {
	dir := t.TempDir()
	var (
		mu      sync.Mutex
		metrics string // the address serve bound for metrics_addr
	)
	ready := make(chan string, 1)
	done := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuf
	p := cheap
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password", "TOLK_METRICS_ADDR": "localhost:0"}
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--db", "sqlite:" + filepath.Join(dir, "tolk.db"), "--addr", "127.0.0.1:0"}, cli.IO{
			Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr,
			Env: func(k string) string { return env[k] }, Params: &p,
			Listen: func(addr string) (net.Listener, error) {
				ln, err := net.Listen("tcp", addr)
				if err == nil && addr == "localhost:0" {
					mu.Lock()
					metrics = ln.Addr().String()
					mu.Unlock()
				}
				return ln, err
			},
			Ready: func(a string) { ready <- a },
		})
	}()
	var public string
	select {
	case public = <-ready:
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	mu.Lock()
	maddr := metrics
	mu.Unlock()
	if maddr == "" || maddr == public {
		t.Fatalf("metrics listener %q (public %q)", maddr, public)
	}

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("http://" + public + "/healthz"); code != http.StatusOK {
		t.Errorf("public /healthz: %d", code)
	}
	if code, _ := get("http://" + public + "/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics: %d, want 404 with metrics_addr", code)
	}
	code, body := get("http://" + maddr + "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "tolk_http_requests_total") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics listener /metrics: %d\n%.500s", code, body)
	}
	// The public request above was counted, and the 404 for /metrics too.
	if !strings.Contains(body, `tolk_http_requests_total{code="404",method="GET",route="unmatched"} 1`) {
		t.Errorf("the public 404 for /metrics is not counted as unmatched:\n%s", grepLines(body, "tolk_http_requests_total"))
	}
	if code, _ := get("http://" + maddr + "/healthz"); code != http.StatusNotFound {
		t.Errorf("metrics listener /healthz: %d, want 404 (it serves /metrics alone)", code)
	}

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	}
	if c, err := net.DialTimeout("tcp", maddr, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("the metrics listener %s still accepts after serve returned", maddr)
	}
}

// TestServeOnBusyMetricsPortLeavesNothing: metrics_addr is bound with the
// public address, before the database exists, so a busy one fails naming
// the setting and leaves nothing behind.
func TestServeOnBusyMetricsPortLeavesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	var errb bytes.Buffer
	p := cheap
	env := map[string]string{"TOLK_METRICS_ADDR": busy.Addr().String()}
	code := cli.Run(context.Background(), []string{"serve", "--db", "sqlite:" + filepath.Join(dir, "fresh.db"), "--addr", "127.0.0.1:0"}, cli.IO{
		Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &errb,
		Env: func(k string) string { return env[k] }, Params: &p,
	})
	if code == 0 {
		t.Fatalf("serve with a busy metrics_addr exited 0: %s", errb.String())
	}
	if !strings.Contains(errb.String(), "metrics_addr") || !strings.Contains(errb.String(), busy.Addr().String()) {
		t.Errorf("the error does not name metrics_addr and its address: %s", errb.String())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
