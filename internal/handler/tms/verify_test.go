package tms_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/tolk-project/tolk/internal/handler/forwardauth"
	"github.com/tolk-project/tolk/internal/handler/tms"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/verify"
)

// TestWhoAmIVerifiesThroughTheVerifyPackage: whoAmI resolves credentials
// through the public verify package (SPEC §4: tolk verifies its own
// endpoints the way the APIs behind it do), not around it.
func TestWhoAmIVerifiesThroughTheVerifyPackage(t *testing.T) {
	s := tolktest.New(t)
	var calls atomic.Int32
	inner := forwardauth.Resolver{Authn: s.Tolk.Authn}
	v, err := verify.New(verify.Config{Resolver: verify.ResolverFunc(func(r *http.Request) (verify.Principal, error) {
		calls.Add(1)
		return inner.Resolve(r)
	})})
	if err != nil {
		t.Fatal(err)
	}
	if s.Tolk.Verifier == nil {
		t.Fatal("the server has no in-process verifier")
	}
	// A TMS handler wired as server.New wires it, but with a counting
	// resolver.
	h := &tms.Handler{ID: s.Tolk.Identity, Authn: s.Tolk.Authn, Verifier: v, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api2/v1/auth/whoAmI", h.WhoAmI)
	tok, _, err := s.Tolk.Identity.IssueAPIToken(context.Background(), mustUser(t, s, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/api2/v1/auth/whoAmI", nil)
	req.Header.Set("Authorization", "ApiToken "+tok)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("whoAmI: %d %s", w.Code, w.Body)
	}
	if calls.Load() == 0 {
		t.Fatal("whoAmI did not go through the verify package")
	}
}

func mustUser(t *testing.T, s *tolktest.Server, name string) store.User {
	t.Helper()
	u, err := s.Store.GetUserByUserName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
