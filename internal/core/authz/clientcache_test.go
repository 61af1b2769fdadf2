package authz_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlite"
)

func TestClientCacheBoundsStalenessAcrossInstances(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	org := store.Organization{UID: "00000000-0000-4000-8000-0000000000aa", Name: "o", CreatedAt: now}
	if err := st.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	cfg := authz.Config{Scopes: []string{"read"}, Audiences: []string{"tms"}, ClientCacheTTL: 5 * time.Second}
	a := authz.New(st, nil, secret.Generator{}, clock, cfg) // instance A
	b := authz.New(st, nil, secret.Generator{}, clock, cfg) // instance B, same database
	c, sec, err := a.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "x", GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AuthenticateClient(ctx, c.ID, sec, "client_secret_basic"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// B forgets at once; A may serve its cached copy for at most the TTL.
	if _, err := b.AuthenticateClient(ctx, c.ID, sec, "client_secret_basic"); oauth.AsError(err) == nil || oauth.AsError(err).Code != "invalid_client" {
		t.Fatalf("instance that deleted: %v", err)
	}
	now = now.Add(5 * time.Second)
	if _, err := a.AuthenticateClient(ctx, c.ID, sec, "client_secret_basic"); oauth.AsError(err) == nil || oauth.AsError(err).Code != "invalid_client" {
		t.Fatalf("other instance after the TTL: %v, want invalid_client", err)
	}
	// A wrong secret never passes, cached or not.
	c2, _, _ := a.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "y", GrantTypes: []string{"client_credentials"}})
	if _, err := a.AuthenticateClient(ctx, c2.ID, "tolk_cs_wrong", "client_secret_basic"); err == nil {
		t.Fatal("wrong secret accepted")
	}
}
