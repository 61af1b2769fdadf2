package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/authz"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// The benchmarks below send real HTTP over loopback with 16 goroutines
// (b.SetParallelism), so that BenchmarkBareHandler, run in the same
// invocation, is the baseline the others are read against:
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/server/

func parallelHTTP(b *testing.B, client *http.Client, build func() *http.Request) {
	b.Helper()
	b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 concurrent requests
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(build())
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
		}
	})
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

func BenchmarkBareHandler(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	c := benchClient()
	parallelHTTP(b, c, func() *http.Request { r, _ := http.NewRequest(http.MethodGet, srv.URL, nil); return r })
}

func ccClient(b *testing.B, s *tolktest.Server) (string, string) {
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
	s := tolktest.New(b)
	id, sec := ccClient(b, s)
	c := benchClient()
	parallelHTTP(b, c, func() *http.Request {
		return formRequest(s.URL+"/oauth/token", id, sec, "grant_type=client_credentials&scope=read")
	})
}

func BenchmarkIntrospection(b *testing.B) {
	s := tolktest.New(b)
	id, sec := ccClient(b, s)
	c := benchClient()
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
	parallelHTTP(b, c, func() *http.Request { return formRequest(s.URL+"/oauth/introspect", id, sec, body) })
}
