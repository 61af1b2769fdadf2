package loadgen

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.0.0.1:8080/x": true, "http://[::1]:1/": true, "http://localhost:9/": true, "http://127.5.6.7/": true,
		"http://10.0.0.1/": false, "http://192.168.1.1/": false, "http://example.com/": false, "http://8.8.8.8/": false,
	} {
		if err := CheckLoopback(u); (err == nil) != ok {
			t.Errorf("CheckLoopback(%s) = %v", u, err)
		}
	}
	if _, err := Run(context.Background(), "http://10.1.2.3/", nil, Options{}); err == nil {
		t.Fatal("Run accepted a non-loopback target")
	}
}

func TestRunIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	build := func(path string) Request {
		return func(int, int) (*http.Request, error) { return http.NewRequest("GET", srv.URL+path, nil) }
	}
	r, err := Run(context.Background(), srv.URL, build("/"), Options{Connections: 4, Duration: 5 * time.Second, MaxRequests: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 200 || r.Errors != 0 {
		t.Fatalf("requests=%d errors=%d, want 200 and 0", r.Requests, r.Errors)
	}
	r, err = Run(context.Background(), srv.URL, build("/bad"), Options{Connections: 2, Duration: 100 * time.Millisecond})
	if err != nil || r.Errors == 0 || r.Errors != r.Requests || r.FirstErr != "status 500" {
		t.Fatalf("errors not counted: %+v %v", r, err)
	}
}

// TestBuildErrorEndsWorker: a builder that fails (its pool of one-time
// credentials ran out) ends that worker with the reason, instead of
// spinning on errors that would eat the CPU the measurement is about.
func TestBuildErrorEndsWorker(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	var left atomic.Int64
	left.Store(50)
	build := func(int, int) (*http.Request, error) {
		if left.Add(-1) < 0 {
			return nil, errors.New("pool exhausted")
		}
		return http.NewRequest("GET", srv.URL, nil)
	}
	r, err := Run(context.Background(), srv.URL, build, Options{Connections: 4, Duration: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// A spinning worker would count an error per attempt.
	if r.Requests != 50 || r.Errors != 4 || r.FirstErr != "build request: pool exhausted" {
		t.Fatalf("requests=%d errors=%d first=%q, want 50, one error per worker, the builder's error", r.Requests, r.Errors, r.FirstErr)
	}
}

// TestNoneCompleted: when no request completes within the duration (the
// server stalls), Run stops on time with ErrNoneCompleted and a Result
// that still holds the elapsed time, so that a caller can count the window.
func TestNoneCompleted(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	build := func(int, int) (*http.Request, error) { return http.NewRequest("GET", srv.URL, nil) }
	r, err := Run(context.Background(), srv.URL, build, Options{Connections: 2, Duration: 100 * time.Millisecond})
	if !errors.Is(err, ErrNoneCompleted) || r.Requests != 0 || r.Elapsed < 100*time.Millisecond {
		t.Fatalf("Run against a stalled server: %+v, %v; want ErrNoneCompleted, no request, the elapsed time", r, err)
	}
}
