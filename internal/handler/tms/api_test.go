package tms_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/handler/tms"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
)

// TestWhoAmIAudienceAndScope: whoAmI answers exactly the credentials that
// /auth/verify?audience=tms accepts (issue 15.2), in TMS's error shape, and
// shows the email only to a credential whose scopes grant it.
func TestWhoAmIAudienceAndScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(t, "wanda", store.RoleProjectManager, "wanda-password-1")
	pw := "wanda-password-1"
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	jwt := func(aud, scope string) []string {
		tok, _ := verifytest.PlatformJWT(t, e.Server, u, aud, scope)
		return bearer(tok)
	}
	_, cc := verifytest.ClientCredentials(t, e.Server, false, "read")

	for _, tc := range []struct {
		name   string
		hdr    []string
		status int
		email  bool // whoAmI shows the email
	}{
		{"ApiToken", []string{"Authorization", "ApiToken " + verifytest.APIToken(t, e.Server, "wanda", pw)}, 200, true},
		{"API key: every application, whole access", []string{"X-Proz-API-Key", verifytest.APIKey(t, e.Server, u)}, 200, true},
		{"Platform JWT for strings only", jwt("strings", ""), 401, false},
		{"Platform JWT for strings, scope email", jwt("strings", "email"), 401, false},
		{"Platform JWT for tms, scope read", jwt("tms", "read"), 200, false},
		{"Platform JWT for tms, scope user.email", jwt("tms", "user.email"), 200, true},
		{"Platform JWT for tms, not narrowed", jwt("tms", ""), 200, true},
		{"OAuth token granted only public", bearer(verifytest.UserToken(t, e.Server, "wanda", pw, false, nil, "public")), 200, false},
		{"OAuth JWT granted only public", bearer(verifytest.UserToken(t, e.Server, "wanda", pw, true, nil, "public")), 200, false},
		{"OAuth token granted email", bearer(verifytest.UserToken(t, e.Server, "wanda", pw, false, nil, "openid email")), 200, true},
		{"OAuth token of a strings-only app", bearer(verifytest.UserToken(t, e.Server, "wanda", pw, false, []string{"strings"}, "openid email")), 401, false},
		{"PAT: a Strings credential", []string{"Authorization", "token " + verifytest.PAT(t, e.Server, u, "read")}, 401, false},
		{"client_credentials: no user", bearer(cc), 401, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.remember(tc.hdr[1])
			resp, body := e.request(t, http.MethodGet, whoAmIPath, nil, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("whoAmI: %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status != 200 {
				var te tms.Error
				if err := json.Unmarshal(body, &te); err != nil || te.ErrorCode != "AuthUnauthorized" {
					t.Errorf("body %s, want TMS errorCode AuthUnauthorized", body)
				}
				return
			}
			var m struct {
				User         map[string]any
				Organization tms.Organization
			}
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			if m.User["uid"] != u.UID || m.User["role"] != string(u.Role) || m.Organization.UID != u.OrgUID {
				t.Errorf("whoAmI %s", body)
			}
			if email, shown := m.User["email"]; shown != tc.email || shown && email != u.Email {
				t.Errorf("email shown = %v (%v), want %v", shown, email, tc.email)
			}
		})
	}
}

// TestAPIScopes: a TMS endpoint registered with scopes refuses a credential
// without them with 403 AuthAccessDenied (the 403 of /auth/verify?scope=),
// and never runs for it; ApiTokens carry their user's whole access.
func TestAPIScopes(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	u := s.CreateUser(t, "vera", store.RoleLinguist, "vera-password-1")
	h := &tms.Handler{ID: s.Tolk.Identity, Resolver: s.Tolk.Resolver, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ran := 0
	endpoint := tms.API(h, []string{"write"}, func(w http.ResponseWriter, r *http.Request, p authn.Principal) {
		ran++
		w.WriteHeader(http.StatusNoContent)
	})
	read, _ := verifytest.PlatformJWT(t, s, u, "tms", "read")
	write, _ := verifytest.PlatformJWT(t, s, u, "tms", "write")
	for _, tc := range []struct {
		name, hdr string
		status    int
		code      string
	}{
		{"ApiToken", "ApiToken " + verifytest.APIToken(t, s, "vera", "vera-password-1"), 204, ""},
		{"JWT with write", "Bearer " + write, 204, ""},
		{"JWT with read only", "Bearer " + read, 403, "AuthAccessDenied"},
		{"no credential", "", 401, "AuthUnauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ran
			r := httptest.NewRequest(http.MethodPost, "/api2/v1/anything", nil)
			if tc.hdr != "" {
				r.Header.Set("Authorization", tc.hdr)
			}
			w := httptest.NewRecorder()
			endpoint(w, r)
			if w.Code != tc.status {
				t.Fatalf("%d, want %d: %s", w.Code, tc.status, w.Body)
			}
			var te tms.Error
			_ = json.Unmarshal(w.Body.Bytes(), &te)
			if te.ErrorCode != tc.code || (ran > before) != (tc.status == 204) {
				t.Errorf("errorCode %q (want %q), endpoint ran %v", te.ErrorCode, tc.code, ran > before)
			}
		})
	}
}
