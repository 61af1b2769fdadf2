package forwardauth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/httpbench"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
	"github.com/tolk-project/tolk/verify"
)

// The benchmarks send real HTTP over loopback with 16 concurrent requests;
// BenchmarkBareHandler, run in the same invocation, is the baseline:
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/handler/forwardauth/
//
// BenchmarkAnswerFloor is a handler answering the same headers as tolk
// and doing nothing else. BenchmarkAuthVerify goes through tolk's GET
// /auth/verify (what nginx,
// Traefik, Caddy and Envoy call); BenchmarkMiddleware through the verify
// middleware mounted on a handler (a service behind tolk): JWTs locally,
// opaque credentials through /auth/verify, with and without the cache.

func parallelHTTP(b *testing.B, url string, hdr map[string]string) {
	b.Helper()
	httpbench.Parallel(b, httpbench.Client(), func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return req
	})
}

func BenchmarkBareHandler(b *testing.B) { httpbench.BenchmarkBare(b) }

// credentials returns a tolk (cache on or off) and a JWT and a PAT of one
// user.
func credentials(b *testing.B, ttl time.Duration) (*tolktest.Server, string, string) {
	s := tolktest.New(b, tolktest.Options{ClockStart: time.Now(), LogTo: io.Discard, Config: func(c *config.Config) { c.VerifyCacheTTL = ttl }})
	u := s.CreateUser(b, "bench", store.RoleLinguist, "bench-password-1")
	jwt, _ := verifytest.PlatformJWT(b, s, u, "strings", "read")
	return s, jwt, verifytest.PAT(b, s, u, "read")
}

func BenchmarkAuthVerify(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		jwt  bool
	}{
		{"jwt", 5 * time.Second, true},
		{"opaque-cached", 5 * time.Second, false},
		{"opaque-uncached", 0, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, jwt, pat := credentials(b, tc.ttl)
			hdr := map[string]string{"Authorization": "token " + pat}
			if tc.jwt {
				hdr = map[string]string{"Authorization": "Bearer " + jwt}
			}
			parallelHTTP(b, s.URL+"/auth/verify?audience=strings&scope=read", hdr)
		})
	}
}

// BenchmarkAnswerFloor is the floor under BenchmarkAuthVerify: a handler
// that does nothing but answer the headers tolk's /auth/verify answers
// (captured from one real answer: X-Auth-*, Remote-*, the security
// headers, X-Request-Id, Cache-Control, Pragma), to the same request. Its
// distance from BenchmarkBareHandler is what net/http (server and client)
// spends on those headers, whatever tolk does; BenchmarkAuthVerify's
// distance from it is tolk's own work.
func BenchmarkAnswerFloor(b *testing.B) {
	for _, tc := range []struct {
		name string
		jwt  bool
	}{{"jwt", true}, {"opaque", false}} {
		b.Run(tc.name, func(b *testing.B) {
			s, jwt, pat := credentials(b, 5*time.Second)
			hdr := map[string]string{"Authorization": "token " + pat}
			if tc.jwt {
				hdr = map[string]string{"Authorization": "Bearer " + jwt}
			}
			req, _ := http.NewRequest(http.MethodGet, s.URL+"/auth/verify?audience=strings&scope=read", nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := httpbench.Client().Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("answer: %v %v", resp, err)
			}
			resp.Body.Close()
			answer := resp.Header.Clone()
			answer.Del("Date")
			answer.Del("Content-Length")
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				for k, v := range answer {
					h[k] = []string{v[0]}
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			parallelHTTP(b, srv.URL+"/auth/verify?audience=strings&scope=read", hdr)
		})
	}
}

func BenchmarkMiddleware(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration // the verify package's cache
		jwt  bool
	}{
		{"jwt-local", 5 * time.Second, true},
		{"opaque-cached", 5 * time.Second, false},
		{"opaque-uncached", -1, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, jwt, pat := credentials(b, 0) // tolk's own cache off: uncached means uncached
			v, err := verify.New(verify.Config{Issuer: s.Tolk.Config.Issuer, CacheTTL: tc.ttl,
				HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}})
			if err != nil {
				b.Fatal(err)
			}
			h := v.Middleware(verify.Require{Audience: "strings", Scopes: []string{"read"}})(httpbench.Bare().Config.Handler)
			srv := httptest.NewServer(h)
			defer srv.Close()
			hdr := map[string]string{"Authorization": "token " + pat}
			if tc.jwt {
				hdr = map[string]string{"Authorization": "Bearer " + jwt}
			}
			parallelHTTP(b, srv.URL, hdr)
		})
	}
}
