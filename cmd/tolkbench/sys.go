package main

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tolk-project/tolk/internal/kit/loadgen"
)

func sortDurations(d []time.Duration) { slices.Sort(d) }

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss is the resident set size from /proc/self/status (0 if unavailable).
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// sampleRSS records the highest RSS into *peak every 100 ms until stopped.
func sampleRSS(peak *int64) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if r := rss(); r > *peak {
				*peak = r
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// machine is the line docs/performance.md quotes: CPU model, cores, Go
// version, kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d cores, GOMAXPROCS %d, %s, %s/%s, Linux %s", model, runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, kernel)
}

// idleConns opens n keep-alive connections to tolk, sends one request on
// each, leaves them idle and reports the RSS they cost per connection. The
// client side is a bare net.Conn (a file descriptor and a few hundred
// bytes), so nearly all of the difference is the server's.
func idleConns(base string, n int) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	runtime.GC()
	time.Sleep(200 * time.Millisecond)
	before := rss()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if _, err := fmt.Fprintf(c, "GET /health/alive HTTP/1.1\r\nHost: %s\r\n\r\n", u.Host); err != nil {
			return err
		}
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	after := rss()
	fmt.Printf("idle keep-alive connections: %d held open, RSS %s -> %s, %.1f KiB per connection\n",
		n, mib(before), mib(after), float64(after-before)/1024/float64(n))
	return nil
}

// soakRun drives build for o.soak and prints RSS and heap every tenth of
// the run; growth is measured from the first sample (after warm-up).
func (b *bench) soakRun(build loadgen.Request) error {
	done := make(chan struct{})
	var samples []string
	var rssAt, heapAt []int64
	go func() {
		step := b.o.soak / 10
		t := time.NewTicker(step)
		defer t.Stop()
		for i := 1; ; i++ {
			select {
			case <-done:
				return
			case <-t.C:
			}
			// Live heap: what a collection leaves, so that garbage not yet
			// collected does not look like growth.
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			r := rss()
			rssAt, heapAt = append(rssAt, r), append(heapAt, int64(ms.HeapAlloc))
			samples = append(samples, fmt.Sprintf("%3ds %s (live heap %s, %d goroutines)", int((step*time.Duration(i)).Seconds()), mib(r),
				mibf(int64(ms.HeapAlloc)), runtime.NumGoroutine()))
		}
	}()
	r, err := loadgen.Run(b.ctx, b.tolkURL, build, loadgen.Options{Connections: b.o.conns, Duration: b.o.soak})
	close(done)
	time.Sleep(10 * time.Millisecond)
	if err != nil {
		return err
	}
	fmt.Printf("soak: client_credentials for %s, %d connections: %.0f req/s, %d errors\n", b.o.soak, b.o.conns, r.RPS(), r.Errors)
	for _, s := range samples {
		fmt.Println("  RSS at", s)
	}
	if n := len(rssAt); n >= 2 {
		// The first half includes warming caches (Go heap, SQLite's page
		// cache, the WAL up to its checkpoint size); steady state is
		// judged on the second half.
		h := n / 2
		fmt.Printf("soak: RSS growth first to last sample %+.1f MiB; over the second half %+.1f MiB (live heap %+.2f MiB)\n",
			float64(rssAt[n-1]-rssAt[0])/(1<<20), float64(rssAt[n-1]-rssAt[h])/(1<<20), float64(heapAt[n-1]-heapAt[h])/(1<<20))
	}
	return nil
}

func mibf(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
