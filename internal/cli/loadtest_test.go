package cli_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

func TestLoadtestDrivesEveryDialectAndCleansUp(t *testing.T) {
	s := tolktest.New(t)
	env := map[string]string{"TOLK_ADMIN_PASSWORD": tolktest.AdminPassword}
	r := run(t, env, "", "loadtest", "--url", s.URL, "--duration", "2s", "--requests", "700", "--connections", "7")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, kind := range []string{"tms whoAmI (ApiToken)", "strings /v2/user (PAT)", "proz /user (API key)",
		"oauth client_credentials", "oauth introspection", "platform token exchange", "whoAmI (Platform JWT)", "total"} {
		if !strings.Contains(r.stdout, kind) {
			t.Errorf("no row %q in:\n%s", kind, r.stdout)
		}
	}
	for _, col := range []string{"req/s", "p50", "p99", "errors"} {
		if !strings.Contains(r.stdout, col) {
			t.Errorf("no column %q", col)
		}
	}
	// Every request went to the server: the request bound holds.
	if n := strings.Count(s.Logs.String(), "msg=request "); n < 700 || n > 800 {
		t.Errorf("server logged %d requests, want the 700 of the load plus setup", n)
	}
	// What the load test created is gone again.
	ctx := context.Background()
	if cs, err := s.Store.ListClients(ctx, ""); err != nil || len(cs) != 0 {
		t.Errorf("OAuth apps left behind: %v %v", cs, err)
	}
	keys, err := s.Tolk.APIKeys.List(ctx, "")
	if err != nil || len(keys) != 1 || keys[0].RevokedAt.IsZero() {
		t.Errorf("API key not revoked: %+v %v", keys, err)
	}
}

func TestLoadtestFailsOnErrors(t *testing.T) {
	s := tolktest.New(t)
	env := map[string]string{"TOLK_ADMIN_PASSWORD": tolktest.AdminPassword}
	// A key that does not exist: every /user request is a 401.
	r := run(t, env, "", "loadtest", "--url", s.URL, "--duration", "1s", "--requests", "70", "--connections", "7",
		"--api-key", "tolk_pk_not-a-real-key")
	if r.code == 0 {
		t.Fatalf("exit 0 although requests failed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "proz /user (API key): 10 errors, first: status 401") {
		t.Errorf("errors not reported:\n%s\n%s", r.stdout, r.stderr)
	}
}

func TestLoadtestRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"non-loopback target", map[string]string{"TOLK_ADMIN_PASSWORD": "x"}, []string{"--url", "http://10.1.2.3:8080"}, "non-loopback"},
		{"public host name", map[string]string{"TOLK_ADMIN_PASSWORD": "x"}, []string{"--url", "http://example.com"}, "non-loopback"},
		{"no admin password", nil, []string{"--url", "http://127.0.0.1:1"}, "admin password"},
		{"half a client", map[string]string{"TOLK_ADMIN_PASSWORD": "x"}, []string{"--url", "http://127.0.0.1:1", "--client-id", "c"}, "go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, "", append([]string{"loadtest"}, tc.args...)...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want failure mentioning %q", r.code, r.stderr, tc.want)
			}
		})
	}
}
