package authz_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlite"
)

// clientsFixture is an authz service on a fresh SQLite store with two
// organizations.
func clientsFixture(t *testing.T) (context.Context, *authz.Service, store.Store, [2]string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	orgs := [2]string{"00000000-0000-4000-8000-0000000000aa", "00000000-0000-4000-8000-0000000000bb"}
	for _, uid := range orgs {
		if err := st.CreateOrganization(ctx, store.Organization{UID: uid, Name: uid, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := authz.Config{Scopes: []string{"read"}, Audiences: []string{"tms"}, ClientCacheTTL: time.Minute}
	return ctx, authz.New(st, nil, secret.Generator{}, func() time.Time { return now }, cfg), st, orgs
}

// TestRotateClientSecret: the new secret authenticates, the old one stops
// at once on this instance even though the app was cached, a public app
// has nothing to rotate, and an unknown app is not found.
func TestRotateClientSecret(t *testing.T) {
	ctx, a, st, orgs := clientsFixture(t)
	c, old, err := a.CreateClient(ctx, authz.ClientSpec{OrgUID: orgs[0], Name: "machine", GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AuthenticateClient(ctx, c.ID, old, "client_secret_basic"); err != nil { // now cached
		t.Fatal(err)
	}
	sec, err := a.RotateClientSecret(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sec == old || len(sec) < 40 {
		t.Fatalf("new secret %q", sec)
	}
	if _, err := a.AuthenticateClient(ctx, c.ID, old, "client_secret_basic"); oauth.AsError(err) == nil || oauth.AsError(err).Code != "invalid_client" {
		t.Fatalf("old secret after rotation: %v, want invalid_client", err)
	}
	if _, err := a.AuthenticateClient(ctx, c.ID, sec, "client_secret_basic"); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	got, err := st.GetClient(ctx, c.ID)
	if err != nil || got.SecretHash != secret.Hash(sec) {
		t.Fatalf("stored hash %q (%v), want the new secret's", got.SecretHash, err)
	}
	// An edit after the rotation keeps the new secret.
	if _, err := a.UpdateClient(ctx, c.ID, authz.ClientSpec{Name: "machine 2", GrantTypes: []string{"client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AuthenticateClient(ctx, c.ID, sec, "client_secret_basic"); err != nil {
		t.Fatalf("new secret after an edit: %v", err)
	}

	pub, _, err := a.CreateClient(ctx, authz.ClientSpec{OrgUID: orgs[0], Name: "spa", Public: true, RedirectURIs: []string{"https://spa.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RotateClientSecret(ctx, pub.ID); !errors.Is(err, authz.ErrPublicClient) {
		t.Fatalf("public app: %v, want ErrPublicClient", err)
	}
	if _, err := a.RotateClientSecret(ctx, "no-such-app"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown app: %v, want ErrNotFound", err)
	}
}

// TestAppNamesDifferInAnOrganization: a second app of one organization
// may not take a name already used there (ignoring case and surrounding
// space), neither when created nor when renamed; another organization may
// use it; an app keeps its own name through an edit.
func TestAppNamesDifferInAnOrganization(t *testing.T) {
	ctx, a, st, orgs := clientsFixture(t)
	spec := func(org, name string) authz.ClientSpec {
		return authz.ClientSpec{OrgUID: org, Name: name, GrantTypes: []string{"client_credentials"}}
	}
	first, _, err := a.CreateClient(ctx, spec(orgs[0], "CAT tool"))
	if err != nil {
		t.Fatal(err)
	}
	var fe *authz.FieldError
	for _, name := range []string{"CAT tool", "cat TOOL", "  CAT tool  "} {
		_, _, err := a.CreateClient(ctx, spec(orgs[0], name))
		if !errors.As(err, &fe) || fe.Field != "name" || fe.Code != "name_taken" {
			t.Fatalf("create %q: %v, want a name_taken FieldError", name, err)
		}
	}
	if _, _, err := a.CreateClient(ctx, spec(orgs[1], "CAT tool")); err != nil {
		t.Fatalf("same name in another organization: %v", err)
	}
	second, _, err := a.CreateClient(ctx, spec(orgs[0], "Glossary bot"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateClient(ctx, second.ID, spec("", "cat tool")); !errors.As(err, &fe) || fe.Code != "name_taken" {
		t.Fatalf("rename to a taken name: %v", err)
	}
	if _, err := a.UpdateClient(ctx, first.ID, spec("", "CAT Tool")); err != nil {
		t.Fatalf("an app changing the case of its own name: %v", err)
	}
	// Apps registered with one name before the rule keep it through edits
	// that do not rename them.
	legacy := first
	legacy.ID, legacy.Name = "legacy-duplicate", "Glossary bot"
	if err := st.CreateClient(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateClient(ctx, legacy.ID, authz.ClientSpec{Name: "Glossary bot", Description: "kept", GrantTypes: []string{"client_credentials"}}); err != nil {
		t.Fatalf("edit of a legacy duplicate keeping its name: %v", err)
	}
}

// TestFieldErrorsCarryCodes: every registration error names a catalog code
// (the web UI translates apps.err.<code>) and, where there is one, the
// offending value.
func TestFieldErrorsCarryCodes(t *testing.T) {
	ctx, a, _, orgs := clientsFixture(t)
	long := make([]byte, 201)
	for i := range long {
		long[i] = 'a'
	}
	for _, tc := range []struct {
		spec      authz.ClientSpec
		code, arg string
	}{
		{authz.ClientSpec{Name: " "}, "name_required", ""},
		{authz.ClientSpec{Name: string(long)}, "name_long", ""},
		{authz.ClientSpec{Name: "x\x00"}, "text_invalid", ""},
		{authz.ClientSpec{Name: "x", GrantTypes: []string{"password"}}, "grant_unknown", "password"},
		{authz.ClientSpec{Name: "x", Public: true, GrantTypes: []string{"client_credentials"}}, "public_client_credentials", ""},
		{authz.ClientSpec{Name: "x"}, "redirect_required", ""},
		{authz.ClientSpec{Name: "x", RedirectURIs: []string{"http://evil.example/cb"}}, "redirect_invalid", "http://evil.example/cb"},
		{authz.ClientSpec{Name: "x", GrantTypes: []string{"client_credentials"}, Scopes: []string{"admin"}}, "scope_unknown", "admin"},
		{authz.ClientSpec{Name: "x", GrantTypes: []string{"client_credentials"}, Audiences: []string{"bank"}}, "audience_unknown", "bank"},
	} {
		tc.spec.OrgUID = orgs[0]
		_, _, err := a.CreateClient(ctx, tc.spec)
		var fe *authz.FieldError
		if !errors.As(err, &fe) || fe.Code != tc.code || fe.Arg != tc.arg || fe.Message == "" {
			t.Errorf("%+v: %#v, want code %s arg %q", tc.spec, err, tc.code, tc.arg)
		}
	}
}

// pausingStore holds its first armed GetClient after the read, until
// release is closed.
type pausingStore struct {
	store.Store
	armed   chan struct{} // one value: the next GetClient pauses
	read    chan struct{} // closed once the paused read has its row
	release chan struct{}
}

func (p *pausingStore) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := p.Store.GetClient(ctx, id)
	select {
	case <-p.armed:
		close(p.read)
		<-p.release
	default:
	}
	return c, err
}

// TestRotateClientSecretDuringARead: a client authentication that read the
// app before a rotation and finishes after it must not put the old row in
// the cache, or the old secret would pass on this instance for the cache's
// lifetime after the rotation.
func TestRotateClientSecretDuringARead(t *testing.T) {
	ctx, _, st, orgs := clientsFixture(t)
	p := &pausingStore{Store: st, armed: make(chan struct{}, 1), read: make(chan struct{}), release: make(chan struct{})}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := authz.Config{Scopes: []string{"read"}, Audiences: []string{"tms"}, ClientCacheTTL: time.Minute}
	a := authz.New(p, nil, secret.Generator{}, func() time.Time { return now }, cfg)
	c, old, err := a.CreateClient(ctx, authz.ClientSpec{OrgUID: orgs[0], Name: "machine", GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	p.armed <- struct{}{}
	done := make(chan error, 1)
	go func() {
		_, err := a.AuthenticateClient(ctx, c.ID, old, "client_secret_basic")
		done <- err
	}()
	<-p.read // the old row is read, not yet cached
	if _, err := a.RotateClientSecret(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	close(p.release)
	<-done // it began before the rotation: either answer is right
	if _, err := a.AuthenticateClient(ctx, c.ID, old, "client_secret_basic"); oauth.AsError(err) == nil || oauth.AsError(err).Code != "invalid_client" {
		t.Fatalf("old secret after the rotation: %v, want invalid_client", err)
	}
}
