package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/testutil/httpbench"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// The benchmarks below send real HTTP over loopback with 16 goroutines
// (b.SetParallelism), so that BenchmarkBareHandler, run in the same
// invocation, is the baseline the others are read against:
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/server/

func BenchmarkBareHandler(b *testing.B) { httpbench.BenchmarkBare(b) }

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
