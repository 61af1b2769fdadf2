package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/tolk-project/tolk/internal/core/pat"
	"github.com/tolk-project/tolk/internal/store"
)

// TestDeactivationOnOneInstanceRefusedAtTheOther (issue 6, point 1): an
// admin deactivates a user on instance A; every credential of that user —
// ApiToken, PAT, API key — is refused at instance B at once, within the
// same bound as at A (no cache on those paths), and the user cannot sign
// in at B.
func TestDeactivationOnOneInstanceRefusedAtTheOther(t *testing.T) {
	a, b := twoInstances(t, "postgres")
	ctx := context.Background()
	u := a.CreateUser(t, "nora", store.RoleLinguist, "nora-password")
	admin, err := a.Store.GetUserByUserName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	apiToken, _, err := b.Tolk.Identity.IssueAPIToken(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	note, scopes := "x", []string{"read"}
	_, patToken, err := b.Tolk.PATs.Create(ctx, u, pat.Changes{Note: &note, Scopes: &scopes})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := b.Tolk.APIKeys.Create(ctx, u, "x")
	if err != nil {
		t.Fatal(err)
	}
	// Each at a resource endpoint of its application: a PAT is for
	// strings, which TMS's whoAmI refuses.
	creds := []struct{ name, path, header, value string }{
		{"ApiToken", "/api2/v1/auth/whoAmI", "Authorization", "ApiToken " + apiToken},
		{"PAT", "/v2/user", "Authorization", "token " + patToken},
		{"API key", "/api2/v1/auth/whoAmI", "X-Proz-API-Key", key},
	}
	whoAmI := func(path, h, v string) int {
		req, _ := http.NewRequest(http.MethodGet, b.URL+path, nil)
		req.Header.Set(h, v)
		resp, _ := b.Do(t, req)
		return resp.StatusCode
	}
	for _, c := range creds {
		if got := whoAmI(c.path, c.header, c.value); got != http.StatusOK {
			t.Fatalf("%s at B before deactivation: %d", c.name, got)
		}
	}
	if err := a.Tolk.Identity.SetActive(ctx, admin, u.UID, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if got := whoAmI(c.path, c.header, c.value); got != http.StatusUnauthorized {
			t.Errorf("%s at B right after deactivation at A: %d, want 401", c.name, got)
		}
	}
	if resp := tmsLogin(t, b, "nora", "nora-password"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login at B after deactivation: %d, want 401", resp.StatusCode)
	}
}
