package httpx_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/metrics"
)

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// panicky panics in several ways depending on the path.
func panicky() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "fine") })
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("secret-panic-value") })
	mux.HandleFunc("GET /panic-error", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		m["x"]++ // a runtime error, not a string
	})
	mux.HandleFunc("GET /panic-after-header", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "partial")
		panic("late")
	})
	mux.HandleFunc("GET /abort", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	return mux
}

// TestRecover: a panicking handler gives a 500 JSON error without the
// panic value, is logged with its request id and stack, and the server
// keeps serving.
func TestRecover(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	srv := httptest.NewServer(httpx.Chain(panicky(), httpx.WithRequestID, httpx.AccessLog(log), httpx.Recover(log)))
	t.Cleanup(srv.Close)
	srv.Config.ErrorLog = slog.NewLogLogger(slog.NewTextHandler(io.Discard, nil), slog.LevelError)

	get := func(path string) (*http.Response, string, error) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}

	for _, path := range []string{"/panic", "/panic-error", "/panic", "/ok", "/panic-error"} {
		t.Run(path, func(t *testing.T) {
			resp, body, err := get(path)
			if err != nil {
				t.Fatal(err)
			}
			if path == "/ok" {
				if resp.StatusCode != 200 || body != "fine" {
					t.Errorf("after panics: %d %q", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d %q, want 500 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var e map[string]string
			if err := json.Unmarshal([]byte(body), &e); err != nil || e["error"] != "server_error" {
				t.Errorf("body %q, want a JSON error", body)
			}
			if strings.Contains(body, "secret-panic-value") || strings.Contains(body, "goroutine") || strings.Contains(body, "nil map") {
				t.Errorf("the panic leaks to the client: %q", body)
			}
			id := resp.Header.Get("X-Request-Id")
			l := logs.String()
			if !strings.Contains(l, `msg="panic serving request" request_id=`+id) || !strings.Contains(l, "stack=") {
				t.Errorf("panic of request %s not logged with its id and stack", id)
			}
			if !strings.Contains(l, "request_id="+id+" method=GET path="+path+" status=500") {
				t.Errorf("access log does not record the 500 of request %s", id)
			}
		})
	}

	t.Run("panic after the header keeps the status", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL + "/panic-after-header")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("status %d, want the 202 already sent", resp.StatusCode)
		}
	})

	t.Run("ErrAbortHandler aborts the response", func(t *testing.T) {
		if resp, body, err := get("/abort"); err == nil {
			t.Errorf("/abort answered %d %q, want the connection aborted", resp.StatusCode, body)
		}
		if strings.Contains(logs.String(), "path=/abort status=500") {
			t.Errorf("an aborted response was logged as a 500 it never sent")
		}
	})

	if resp, body, err := get("/ok"); err != nil || resp.StatusCode != 200 || body != "fine" {
		t.Errorf("server stopped serving after panics: %v", err)
	}
}

// TestRecoverCountsPanicsAs500: the metrics middleware, which sits inside
// Recover in the server's chain, must count a panic as the 500 the client
// gets, not as a 200.
func TestRecoverCountsPanicsAs500(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New()
	h := httpx.Chain(m.Instrument(panicky()), httpx.WithRequestID, httpx.AccessLog(log), httpx.Recover(log))
	for _, p := range []string{"/panic", "/panic-error", "/ok"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`tolk_http_requests_total{code="500",method="GET",route="GET /panic"} 1`,
		`tolk_http_requests_total{code="500",method="GET",route="GET /panic-error"} 1`,
		`tolk_http_requests_total{code="200",method="GET",route="GET /ok"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, `code="200",method="GET",route="GET /panic`) {
		t.Errorf("a panic was counted as 200")
	}
}
