package cli_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/cli"
	"github.com/tolk-project/tolk/internal/core/retention"
	"github.com/tolk-project/tolk/internal/store/storeopen"
)

// TestServeSweepsAndFreesTheLease: serve runs the retention sweeper (its
// first sweep at start shows in /metrics) and stops it on shutdown,
// freeing the sweep lease so that another instance can sweep at once
// instead of waiting two cleanup intervals for it to run out.
func TestServeSweepsAndFreesTheLease(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tolk.db")
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password", "TOLK_CLEANUP_INTERVAL": "1h"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan int, 1)
	var stderr syncBuf
	p := cheap
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--db", db, "--addr", "127.0.0.1:0"}, cli.IO{
			Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr,
			Env: func(k string) string { return env[k] }, Params: &p,
			Listen: func(string) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") },
			Ready:  func(a string) { ready <- a },
		})
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	}

	const done1 = `tolk_retention_sweeps_total{result="done"} 1`
	var metrics string
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(metrics, done1); {
		if time.Now().After(deadline) {
			t.Fatalf("no sweep in /metrics after 30 s:\n%s", metrics)
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		time.Sleep(10 * time.Millisecond) // polling: the sweep runs beside the server
	}

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	}
	st, err := storeopen.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	if ok, err := st.TakeLease(t.Context(), retention.LeaseName, "next instance", now, now.Add(time.Minute)); err != nil || !ok {
		t.Errorf("TakeLease after serve stopped = %v, %v; want the lease free", ok, err)
	}
}
