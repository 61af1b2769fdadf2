package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/pgserver"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
)

// TestPostgresRestartUnderLoad stops and starts a private PostgreSQL (never
// the machine's shared one) under a bounded client_credentials and whoAmI
// load on loopback, twice: a short outage (2 s, as a restart or failover),
// which requests ride out, and one longer than the store's outage wait
// (6.5 s), which some requests cannot. Every answer is 200, or 503 with
// Retry-After — never a 500 —; every token answered 200 is valid
// afterwards; every issued token is counted in audit_events (records
// whose write met the outage were held and written when it returned); and
// the log names each outage once, not once per request.
func TestPostgresRestartUnderLoad(t *testing.T) {
	pg := pgserver.Start(t)
	dsn := pg.CreateDatabase("tolk")
	s := tolktest.New(t, tolktest.Options{DSN: dsn, Config: func(c *config.Config) {
		// The test clock stands still: no token bucket would refill.
		c.ClientRequestBurst = 1 << 30
	}})
	ctx := t.Context()
	s.CreateUser(t, "ann", store.RoleLinguist, "ann-password-123")
	apiToken := verifytest.APIToken(t, s, "ann", "ann-password-123")
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client, secret, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "load",
		GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client.ID}, "client_secret": {secret}}.Encode()
	hc := &http.Client{Timeout: 30 * time.Second} // longer than the store's outage wait (5 s)

	var (
		mu       sync.Mutex
		tokens   []string
		statuses = map[string]map[int]int{"token": {}, "whoAmI": {}}
		bad      []string
	)
	record := func(kind string, resp *http.Response, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		statuses[kind][resp.StatusCode]++
		switch {
		case resp.StatusCode == http.StatusOK && kind == "token":
			var out struct {
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal(body, &out) != nil || out.AccessToken == "" {
				bad = append(bad, kind+": 200 without a token: "+string(body))
			}
			tokens = append(tokens, out.AccessToken)
		case resp.StatusCode == http.StatusOK:
		case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		default:
			if len(bad) < 20 {
				bad = append(bad, kind+": "+resp.Status+" "+resp.Header.Get("Retry-After")+" "+string(body))
			}
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var req *http.Request
				kind := "token"
				if w%3 == 2 {
					kind = "whoAmI"
					req, _ = http.NewRequest(http.MethodGet, s.URL+"/api2/v1/auth/whoAmI", nil)
					req.Header.Set("Authorization", "ApiToken "+apiToken)
				} else {
					req, _ = http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				resp, err := hc.Do(req)
				if err != nil {
					mu.Lock()
					bad = append(bad, kind+": "+err.Error())
					mu.Unlock()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				record(kind, resp, body)
			}
		})
	}
	time.Sleep(time.Second)
	pg.Stop()
	time.Sleep(2 * time.Second)
	pg.Start()
	time.Sleep(2 * time.Second) // past the store's settle (1 s): the outage is over
	pg.Stop()
	// A minute passes during the outage: the audit writer (which looks
	// every second) writes the minute's token counts, meets the outage,
	// holds them and writes them when the database returns.
	time.Sleep(500 * time.Millisecond)
	s.Clock.Advance(time.Minute)
	time.Sleep(6 * time.Second)
	pg.Start()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("answers by status: %v; tokens answered: %d", statuses, len(tokens))
	for _, b := range bad {
		t.Error(b)
	}
	if len(tokens) == 0 {
		t.Fatal("no token was issued")
	}

	// Every answered token is valid.
	var invalid atomic.Int64
	next := make(chan string)
	var vg sync.WaitGroup
	for range 4 {
		vg.Go(func() {
			for tok := range next {
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/auth/verify", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := hc.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					if invalid.Add(1) <= 5 {
						t.Errorf("answered token refused afterwards: %v %v", err, resp.Status)
					}
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		})
	}
	for _, tok := range tokens {
		next <- tok
	}
	close(next)
	vg.Wait()
	if n := invalid.Load(); n > 0 {
		t.Errorf("%d of %d answered tokens are refused after the outages", n, len(tokens))
	}

	// Every issued token is counted in the audit log: the counts of the
	// token_issued records (one per minute, issue 20 point 2) add up to
	// the tokens answered, those whose write met the outage included.
	s.Tolk.Audit.Flush()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var records, uncounted, issued int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE details::jsonb->>'count' IS NULL),
		COALESCE(sum((details::jsonb->>'count')::bigint), 0)
		FROM audit_events WHERE type = 'oauth.token_issued' AND outcome = 'success' AND client_id = $1`,
		client.ID).Scan(&records, &uncounted, &issued); err != nil {
		t.Fatal(err)
	}
	if issued != len(tokens) || uncounted != 0 {
		t.Errorf("token_issued records count %d tokens (%d records, %d without a count) for %d answered tokens",
			issued, records, uncounted, len(tokens))
	}

	logs := s.Logs.String()
	if !strings.Contains(logs, `msg="audit: events held through a database outage are stored"`) ||
		strings.Contains(logs, "events of this outage are lost") {
		t.Errorf("the token counts met no outage, or were lost in it")
	}
	if n := strings.Count(logs, "database unreachable"); n != 2 {
		t.Errorf("%d 'database unreachable' log lines for 2 outages", n)
	}
	if n := strings.Count(logs, "database reachable again"); n != 2 {
		t.Errorf("%d 'database reachable again' log lines for 2 outages", n)
	}
	for _, never := range []string{"internal error", "audit: store event"} {
		if n := strings.Count(logs, never); n > 0 {
			t.Errorf("%d log lines %q", n, never)
		}
	}
}
