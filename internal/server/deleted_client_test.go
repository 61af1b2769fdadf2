package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestDeletedClientAtAnotherInstance: an app deleted at one instance while
// another still has it in its client cache is refused there with 401
// invalid_client, as an unknown app is, not a 500 from the token insert
// that meets the foreign key; and nothing is logged as an error (issue
// 15, point 15). Two instances on one SQLite file and on one PostgreSQL
// database.
func TestDeletedClientAtAnotherInstance(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			a := tolktest.New(t, tolktest.Options{Postgres: backend == "postgres"})
			b := tolktest.New(t, tolktest.Options{DSN: a.Tolk.Config.DB})
			ctx := context.Background()
			org, err := a.Store.DefaultOrganization(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c, sec, err := a.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{
				OrgUID: org.UID, Name: "Build bot", GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"read"},
			})
			if err != nil {
				t.Fatal(err)
			}
			ask := func() (int, string) {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, b.URL+"/oauth/token",
					strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(sec))
				resp, body := b.Do(t, req)
				var e struct{ Error string }
				_ = json.Unmarshal(body, &e)
				return resp.StatusCode, e.Error
			}
			// Instance b authenticates the app once: it is in b's cache.
			if st, e := ask(); st != http.StatusOK {
				t.Fatalf("client_credentials before the delete: %d %s", st, e)
			}
			if err := a.Tolk.Authz.DeleteClient(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			// The first request meets the foreign key; the next ones find
			// the app gone once b has forgotten it.
			for i := range 3 {
				if st, e := ask(); st != http.StatusUnauthorized || e != "invalid_client" {
					t.Errorf("client_credentials #%d at the other instance after the delete: %d %q, want 401 invalid_client", i+1, st, e)
				}
			}
			for _, line := range strings.Split(b.Logs.String(), "\n") {
				if strings.Contains(line, "level=ERROR") {
					t.Errorf("instance b logged an error: %s", line)
				}
			}
		})
	}
}
