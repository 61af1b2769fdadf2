package server_test

import (
	"context"
	"crypto/rand"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/core/pat"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
)

// revokingStoreMethods are the store methods that end or change a
// credential that a cache of verifications may hold (/auth/verify's, token
// exchange's subject tokens), each with why. Every service operation that
// reaches one must empty the caches (internal/core/revocation).
var revokingStoreMethods = map[string]string{
	"DeleteAPIToken":      "TMS logout ends an ApiToken",
	"SignOutUser":         "ends every ApiToken of the user",
	"SetUserActive":       "deactivation refuses every credential of the user; reactivation accepts them again",
	"SetUserRole":         "cached verifications carry the user record",
	"RevokeAPIKey":        "ends an API key",
	"DeletePAT":           "ends a personal access token",
	"UpdatePAT":           "changes a personal access token's scopes and expiry",
	"DeletePlatformToken": "ends a Platform API token and the JWTs exchanged from it",
	"RevokeAccessToken":   "ends an OAuth access token with a row (a JWT, or opaque from before sealing)",
	"CutAccessTokens":     "ends sealed OAuth access tokens: one, or a grant's, a user's, an app's",
	"RevokeGrant":         "ends every token of a code or refresh family",
	"RevokeAuthorization": "ends every token of a user's grant to an app",
	"DeleteClient":        "ends every token of an app",
	"DeleteUserAPIToken":  "the sessions page ends an ApiToken",
	"RedeemPasswordReset": "ends every ApiToken of the user",
	"ChangePassword":      "a password change ends every ApiToken of the user",
	"UpdateProfile":       "cached verifications carry the user record (email, names)",
}

// keepingStoreMethods are the store methods that change no credential a
// cache holds, each with why.
var keepingStoreMethods = map[string]string{
	"CreateOrganization":          "creates",
	"GetOrganization":             "reads",
	"DefaultOrganization":         "reads",
	"BootstrapAdmin":              "creates",
	"CreateUser":                  "creates",
	"GetUser":                     "reads",
	"GetUserByUserName":           "reads",
	"GetUserByEmail":              "reads",
	"ListUsers":                   "reads",
	"SearchUsers":                 "reads",
	"CountUsers":                  "reads",
	"UpdatePasswordHash":          "a rehash at sign-in: no credential changes",
	"ReplaceRecoveryCodes":        "recovery codes are read at sign-in only, never cached",
	"CreateAPIToken":              "creates",
	"GetAPIToken":                 "reads",
	"CreateWebSession":            "creates",
	"GetWebSession":               "reads",
	"DeleteWebSession":            "web sessions are never cached",
	"DeleteUserWebSession":        "web sessions are never cached",
	"ListWebSessions":             "reads",
	"TouchWebSession":             "records a use",
	"ListAPITokens":               "reads",
	"TouchAPIToken":               "records a use",
	"CreateClient":                "creates",
	"GetClient":                   "reads",
	"ListClients":                 "reads",
	"UpdateClient":                "verifications do not read the app (authz forgets its own copy)",
	"SetClientSecret":             "the secret authenticates the app at the token endpoints only, read through authz's client cache (forgotten there); no cached verification holds it, and tokens already issued stay valid by design (docs/oauth-apps.md)",
	"CreateAuthCode":              "creates",
	"GetAuthCode":                 "reads",
	"GetAuthCodeAndUser":          "reads",
	"RedeemAuthCode":              "issues; a replay revokes through RevokeGrant",
	"CreateAccessToken":           "creates",
	"GetAccessToken":              "reads",
	"AccessTokenCut":              "reads",
	"GetRefreshToken":             "reads",
	"GetRefreshTokenAndUser":      "reads",
	"RotateRefreshToken":          "issues; the old refresh token is no credential at a resource, a reuse revokes through RevokeGrant",
	"GetConsent":                  "reads",
	"SaveConsent":                 "consent widens what a user may grant, and no cached verification reads it",
	"ListSigningKeys":             "reads",
	"EnsureSigningKey":            "creates",
	"RotateSigningKey":            "the old key keeps verifying the tokens it signed",
	"DeleteUnpublishedKeys":       "only keys whose every token has expired",
	"CreatePlatformToken":         "creates",
	"GetPlatformTokenByHash":      "reads",
	"GetPlatformTokenAndUser":     "reads",
	"GetPlatformToken":            "reads",
	"GetPlatformTokenByIDAndUser": "reads",
	"ListPlatformTokens":          "reads",
	"TouchPlatformToken":          "records a use",
	"GetTwoFactor":                "reads",
	"BeginTwoFactor":              "second factors are no credential at a resource",
	"EnableTwoFactor":             "second factors are no credential at a resource",
	"UseTOTPStep":                 "a sign-in step",
	"UseRecoveryCode":             "a sign-in step",
	"CountRecoveryCodes":          "reads",
	"DisableTwoFactor":            "second factors are no credential at a resource",
	"CreatePendingLogin":          "creates",
	"GetPendingLogin":             "reads",
	"DeletePendingLogin":          "a sign-in step",
	"CreatePAT":                   "creates",
	"GetPAT":                      "reads",
	"GetPATByHash":                "reads",
	"ListPATs":                    "reads",
	"TouchPAT":                    "records a use",
	"CreateAPIKey":                "creates",
	"GetAPIKey":                   "reads",
	"GetAPIKeyByHash":             "reads",
	"ListAPIKeys":                 "reads",
	"AppendAuditEvent":            "audit",
	"AppendAuditEvents":           "audit",
	"ListAuditEvents":             "audit",
	"TakeRateLimit":               "rate limits",
	"RefundRateLimit":             "rate limits",
	"GetRateLimit":                "rate limits",
	"DeleteExpired":               "expired rows: no cached verification outlives its expiry",
	"TakeLease":                   "elects the process that sweeps",
	"ReleaseLease":                "elects the process that sweeps",
	"CreatePasswordReset":         "creates",
	"GetPasswordReset":            "reads",
	"DeletePasswordResets":        "reset links are no credential at a resource",
	"Migrate":                     "schema",
	"Ping":                        "health",
	"Close":                       "shutdown",
}

// TestEveryStoreMethodIsClassified: each method of store.Store is either
// revoking or keeping, so that a new one fails here until someone decides
// whether it must empty the caches of verifications.
func TestEveryStoreMethodIsClassified(t *testing.T) {
	st := reflect.TypeFor[store.Store]()
	methods := map[string]bool{}
	for i := range st.NumMethod() {
		m := st.Method(i).Name
		methods[m] = true
		_, revokes := revokingStoreMethods[m]
		_, keeps := keepingStoreMethods[m]
		switch {
		case revokes && keeps:
			t.Errorf("%s is classified both revoking and keeping", m)
		case !revokes && !keeps:
			t.Errorf("store.Store.%s is not classified: add it to revokingStoreMethods (and make its service call Revocations.Revoked) or to keepingStoreMethods", m)
		}
	}
	for _, table := range []map[string]string{revokingStoreMethods, keepingStoreMethods} {
		for m := range table {
			if !methods[m] {
				t.Errorf("%s is classified but is no method of store.Store", m)
			}
		}
	}
}

// spyStore records, for each revoking store method, the caches'
// generations when a call of it returned.
type spyStore struct {
	store.Store
	gens func() [2]uint64 // nil until the server exists

	mu       sync.Mutex
	returned map[string][2]uint64
}

func (s *spyStore) record(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gens != nil {
		s.returned[method] = s.gens()
	}
}

func (s *spyStore) take() map[string][2]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.returned
	s.returned = map[string][2]uint64{}
	return r
}

func (s *spyStore) DeleteAPIToken(ctx context.Context, hash string) (bool, error) {
	defer s.record("DeleteAPIToken")
	return s.Store.DeleteAPIToken(ctx, hash)
}

func (s *spyStore) DeleteUserAPIToken(ctx context.Context, uid, hash string) (bool, error) {
	defer s.record("DeleteUserAPIToken")
	return s.Store.DeleteUserAPIToken(ctx, uid, hash)
}

func (s *spyStore) SignOutUser(ctx context.Context, uid string, at time.Time) error {
	defer s.record("SignOutUser")
	return s.Store.SignOutUser(ctx, uid, at)
}

func (s *spyStore) SetUserActive(ctx context.Context, uid string, active bool, at time.Time, cuts ...store.Cutoff) error {
	defer s.record("SetUserActive")
	return s.Store.SetUserActive(ctx, uid, active, at, cuts...)
}

func (s *spyStore) SetUserRole(ctx context.Context, uid string, role store.Role, at time.Time) error {
	defer s.record("SetUserRole")
	return s.Store.SetUserRole(ctx, uid, role, at)
}

func (s *spyStore) RevokeAPIKey(ctx context.Context, id string, at time.Time) (bool, error) {
	defer s.record("RevokeAPIKey")
	return s.Store.RevokeAPIKey(ctx, id, at)
}

func (s *spyStore) DeletePAT(ctx context.Context, uid, id string) error {
	defer s.record("DeletePAT")
	return s.Store.DeletePAT(ctx, uid, id)
}

func (s *spyStore) UpdatePAT(ctx context.Context, t store.PersonalAccessToken) error {
	defer s.record("UpdatePAT")
	return s.Store.UpdatePAT(ctx, t)
}

func (s *spyStore) DeletePlatformToken(ctx context.Context, uid, id string) error {
	defer s.record("DeletePlatformToken")
	return s.Store.DeletePlatformToken(ctx, uid, id)
}

func (s *spyStore) RevokeAccessToken(ctx context.Context, hash string) (bool, error) {
	defer s.record("RevokeAccessToken")
	return s.Store.RevokeAccessToken(ctx, hash)
}

func (s *spyStore) CutAccessTokens(ctx context.Context, cuts ...store.Cutoff) error {
	defer s.record("CutAccessTokens")
	return s.Store.CutAccessTokens(ctx, cuts...)
}

func (s *spyStore) RevokeGrant(ctx context.Context, grantID string, cuts ...store.Cutoff) error {
	defer s.record("RevokeGrant")
	return s.Store.RevokeGrant(ctx, grantID, cuts...)
}

func (s *spyStore) RevokeAuthorization(ctx context.Context, uid, clientID string, cuts ...store.Cutoff) error {
	defer s.record("RevokeAuthorization")
	return s.Store.RevokeAuthorization(ctx, uid, clientID, cuts...)
}

func (s *spyStore) DeleteClient(ctx context.Context, id string, cuts ...store.Cutoff) error {
	defer s.record("DeleteClient")
	return s.Store.DeleteClient(ctx, id, cuts...)
}

func (s *spyStore) ChangePassword(ctx context.Context, uid, hash, keep string, at time.Time) error {
	defer s.record("ChangePassword")
	return s.Store.ChangePassword(ctx, uid, hash, keep, at)
}

func (s *spyStore) RedeemPasswordReset(ctx context.Context, hash, uid, passwordHash string, at time.Time) error {
	defer s.record("RedeemPasswordReset")
	return s.Store.RedeemPasswordReset(ctx, hash, uid, passwordHash, at)
}

func (s *spyStore) UpdateProfile(ctx context.Context, uid string, p store.Profile, at time.Time) error {
	defer s.record("UpdateProfile")
	return s.Store.UpdateProfile(ctx, uid, p, at)
}

// revocationFixture is a server whose store is spied on, with helpers to
// obtain credentials.
type revocationFixture struct {
	*tolktest.Server
	ctx   context.Context
	admin store.User
	n     int
}

// user is a fresh user, so that each revocation has its own.
func (f *revocationFixture) user(t *testing.T) store.User {
	f.n++
	name := "rev" + string(rune('a'+f.n))
	return f.CreateUser(t, name, store.RoleLinguist, name+"-password-1")
}

// codeFlow registers an app and redeems a code u grants it (with its
// consent saved): the app, its secret, the code and the tokens.
func (f *revocationFixture) codeFlow(t *testing.T, u store.User) (c store.Client, sec, code, access, refresh string) {
	t.Helper()
	const redirect = "http://127.0.0.1:9/cb"
	c, sec, err := f.Tolk.Authz.CreateClient(f.ctx, authz.ClientSpec{OrgUID: u.OrgUID, Name: "revocation-test " + rand.Text()[:8],
		RedirectURIs: []string{redirect}, Scopes: []string{"read", "offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	ar := &authz.AuthRequest{Client: c, RedirectURI: redirect, RedirectGiven: true, ResponseType: []string{"code"},
		Scopes: []string{"read", "offline_access"}}
	if err := f.Tolk.Authz.SaveConsent(f.ctx, ar, u); err != nil {
		t.Fatal(err)
	}
	v, err := f.Tolk.Authz.Issue(f.ctx, ar, u, f.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	code = v.Get("code")
	resp, err := f.token(c, sec, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}})
	if err != nil || resp.RefreshToken == "" {
		t.Fatalf("code grant: %+v %v", resp, err)
	}
	return c, sec, code, resp.AccessToken, resp.RefreshToken
}

func (f *revocationFixture) token(c store.Client, sec string, form url.Values) (*authz.TokenResponse, error) {
	return f.Tolk.Authz.Token(f.ctx, &authz.TokenRequest{Form: form, ClientID: c.ID, ClientSecret: sec, AuthMethod: "client_secret_basic"})
}

// clientCredentials registers a client_credentials app and returns it
// with an access token: opaque (sealed), or an RFC 9068 JWT.
func (f *revocationFixture) clientCredentials(t *testing.T, jwt ...bool) (store.Client, string) {
	t.Helper()
	c, sec, err := f.Tolk.Authz.CreateClient(f.ctx, authz.ClientSpec{OrgUID: f.admin.OrgUID, Name: "revocation-test " + rand.Text()[:8],
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}, JWTAccessTokens: len(jwt) > 0 && jwt[0]})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.token(c, sec, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	if err != nil {
		t.Fatal(err)
	}
	return c, resp.AccessToken
}

// verify asks /auth/verify?scope=read about a credential.
func (f *revocationFixture) verify(t *testing.T, cred [2]string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.URL+"/auth/verify?scope=read", nil)
	req.Header.Set(cred[0], cred[1])
	resp, _ := f.Do(t, req)
	return resp.StatusCode
}

func bearer(tok string) [2]string { return [2]string{"Authorization", "Bearer " + tok} }

// revocationCase is a service operation that reaches a revoking store
// method. prepare returns a credential, what /auth/verify?scope=read
// answers for it before and after, and the operation.
type revocationCase struct {
	name    string
	method  string // the revoking store method it reaches
	prepare func(t *testing.T, f *revocationFixture) (cred [2]string, before, after int, revoke func() error)
}

var revocationCases = []revocationCase{
	{"TMS logout", "DeleteAPIToken", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		tok, _, err := f.Tolk.Identity.IssueAPIToken(f.ctx, f.user(t))
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{"Authorization", "ApiToken " + tok}, 200, 401, func() error { return f.Tolk.Identity.RevokeAPIToken(f.ctx, tok) }
	}},
	{"ApiToken revoked on the sessions page", "DeleteUserAPIToken", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		tok, _, err := f.Tolk.Identity.IssueAPIToken(f.ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{"Authorization", "ApiToken " + tok}, 200, 401, func() error { return f.Tolk.Identity.RevokeAPITokenOf(f.ctx, u, secret.Hash(tok)) }
	}},
	{"sign out everywhere", "SignOutUser", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		tok, _, err := f.Tolk.Identity.IssueAPIToken(f.ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{"Authorization", "ApiToken " + tok}, 200, 401, func() error { return f.Tolk.Identity.SignOut(f.ctx, u.UID) }
	}},
	{"deactivation", "SetUserActive", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		return [2]string{"X-Proz-API-Key", verifytest.APIKey(t, f.Server, u)}, 200, 401,
			func() error { return f.Tolk.Identity.SetActive(f.ctx, f.admin, u.UID, false) }
	}},
	{"reactivation", "SetUserActive", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		key := verifytest.APIKey(t, f.Server, u)
		if err := f.Tolk.Identity.SetActive(f.ctx, f.admin, u.UID, false); err != nil {
			t.Fatal(err)
		}
		return [2]string{"X-Proz-API-Key", key}, 401, 200, func() error { return f.Tolk.Identity.SetActive(f.ctx, f.admin, u.UID, true) }
	}},
	{"role change", "SetUserRole", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		return [2]string{"X-Proz-API-Key", verifytest.APIKey(t, f.Server, u)}, 200, 200,
			func() error { return f.Tolk.Identity.SetRole(f.ctx, f.admin, u.UID, store.RoleGuest) }
	}},
	{"password changed", "ChangePassword", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		tok, _, err := f.Tolk.Identity.IssueAPIToken(f.ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{"Authorization", "ApiToken " + tok}, 200, 401, func() error {
			_, err := f.Tolk.Identity.SetPassword(f.ctx, u.UserName, "a-new-password-for-the-cache")
			return err
		}
	}},
	{"password reset through a link", "RedeemPasswordReset", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		tok, _, err := f.Tolk.Identity.IssueAPIToken(f.ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		_, link, err := f.Tolk.Recovery.ResetLink(f.ctx, u.UserName)
		if err != nil {
			t.Fatal(err)
		}
		l, err := url.Parse(link.URL)
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{"Authorization", "ApiToken " + tok}, 200, 401, func() error {
			_, err := f.Tolk.Recovery.ResetPassword(f.ctx, l.Query().Get("token"), "a-new-password-from-the-link")
			return err
		}
	}},
	{"profile changed", "UpdateProfile", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		name := "Renamed"
		return [2]string{"X-Proz-API-Key", verifytest.APIKey(t, f.Server, u)}, 200, 200, func() error {
			_, err := f.Tolk.Identity.UpdateUser(f.ctx, u.UserName, identity.UserUpdate{FirstName: &name})
			return err
		}
	}},
	{"API key revoked", "RevokeAPIKey", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		k, key, err := f.Tolk.APIKeys.Create(f.ctx, f.user(t), "x")
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{"X-Proz-API-Key", key}, 200, 401, func() error { return f.Tolk.APIKeys.Revoke(f.ctx, "", k.ID) }
	}},
	{"PAT deleted", "DeletePAT", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		tok, id := verifytest.PATWithID(t, f.Server, u, "read")
		return [2]string{"Authorization", "token " + tok}, 200, 401, func() error { return f.Tolk.PATs.Delete(f.ctx, u, id) }
	}},
	{"PAT narrowed", "UpdatePAT", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		tok, id := verifytest.PATWithID(t, f.Server, u, "read")
		write := []string{"write"}
		return [2]string{"Authorization", "token " + tok}, 200, 403, func() error {
			_, err := f.Tolk.PATs.Update(f.ctx, u, id, pat.Changes{Scopes: &write})
			return err
		}
	}},
	{"Platform API token revoked", "DeletePlatformToken", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		jwt, id := verifytest.PlatformJWT(t, f.Server, u, "", "read")
		return bearer(jwt), 200, 401, func() error { return f.Tolk.Platform.Revoke(f.ctx, u.UID, id) }
	}},
	{"access token revoked (RFC 7009)", "CutAccessTokens", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		c, tok := f.clientCredentials(t)
		return bearer(tok), 200, 401, func() error { return f.Tolk.Authz.Revoke(f.ctx, c, tok, "") }
	}},
	{"JWT access token revoked (RFC 7009)", "RevokeAccessToken", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		c, tok := f.clientCredentials(t, true)
		return bearer(tok), 200, 401, func() error { return f.Tolk.Authz.Revoke(f.ctx, c, tok, "") }
	}},
	{"refresh token revoked (RFC 7009)", "RevokeGrant", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		c, _, _, access, refresh := f.codeFlow(t, f.user(t))
		return bearer(access), 200, 401, func() error { return f.Tolk.Authz.Revoke(f.ctx, c, refresh, "refresh_token") }
	}},
	{"refresh token reused", "RevokeGrant", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		c, sec, _, access, refresh := f.codeFlow(t, f.user(t))
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
		if _, err := f.token(c, sec, form); err != nil {
			t.Fatal(err)
		}
		return bearer(access), 200, 401, func() error {
			if _, err := f.token(c, sec, form); err == nil {
				t.Error("a reused refresh token was accepted")
			}
			return nil
		}
	}},
	{"authorization code replayed", "RevokeGrant", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		c, sec, code, access, _ := f.codeFlow(t, f.user(t))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}}
		return bearer(access), 200, 401, func() error {
			if _, err := f.token(c, sec, form); err == nil {
				t.Error("a replayed code was accepted")
			}
			return nil
		}
	}},
	{"authorized app revoked", "RevokeAuthorization", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		u := f.user(t)
		c, _, _, access, _ := f.codeFlow(t, u)
		return bearer(access), 200, 401, func() error {
			_, err := f.Tolk.Authz.RevokeAuthorization(f.ctx, u.UID, c.ID)
			return err
		}
	}},
	{"app deleted", "DeleteClient", func(t *testing.T, f *revocationFixture) ([2]string, int, int, func() error) {
		c, tok := f.clientCredentials(t)
		return bearer(tok), 200, 401, func() error { return f.Tolk.Authz.DeleteClient(f.ctx, c.ID) }
	}},
}

// TestRevocationsEmptyTheCaches: every revoking store method, reached
// through its service, is followed by the emptying of both caches of
// verifications, after the store call returned; and /auth/verify, which
// answered the credential from its cache just before (the test clock
// stands still), answers the revocation at once.
func TestRevocationsEmptyTheCaches(t *testing.T) {
	spy := &spyStore{returned: map[string][2]uint64{}}
	s := tolktest.New(t, tolktest.Options{
		Config:    func(c *config.Config) { c.VerifyCacheTTL = time.Hour },
		WrapStore: func(st store.Store) store.Store { spy.Store = st; return spy },
	})
	gens := func() [2]uint64 { return [2]uint64{s.Tolk.VerifyCache.Gen(), s.Tolk.Platform.Subjects.Gen()} }
	spy.mu.Lock()
	spy.gens = gens
	spy.mu.Unlock()
	admin, err := s.Store.GetUserByUserName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	f := &revocationFixture{Server: s, ctx: context.Background(), admin: admin}

	covered := map[string]bool{}
	for _, tc := range revocationCases {
		t.Run(tc.name, func(t *testing.T) {
			covered[tc.method] = true
			cred, before, after, revoke := tc.prepare(t, f)
			if got := f.verify(t, cred); got != before {
				t.Fatalf("before: /auth/verify %d, want %d", got, before)
			}
			spy.take()
			if err := revoke(); err != nil {
				t.Fatal(err)
			}
			returned, ok := spy.take()[tc.method]
			if !ok {
				t.Fatalf("the operation did not reach store.%s", tc.method)
			}
			if now := gens(); now[0] <= returned[0] || now[1] <= returned[1] {
				t.Errorf("caches not emptied after store.%s returned: generations %v then, %v now", tc.method, returned, now)
			}
			if got := f.verify(t, cred); got != after {
				t.Errorf("after: /auth/verify %d, want %d", got, after)
			}
		})
	}
	var missing []string
	for m := range revokingCallSites(t) {
		if !covered[m] {
			missing = append(missing, m)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("revoking store methods the domain calls but no case reaches: %s", strings.Join(missing, ", "))
	}
}

// TestRevokingCallsSayRevoked: every function of the domain that calls a
// revoking store method through a service's Store also calls Revoked, so
// that an operation added later cannot revoke behind the caches' back.
func TestRevokingCallsSayRevoked(t *testing.T) {
	sites := revokingCallSites(t)
	if len(sites) == 0 {
		t.Fatal("no call of a revoking store method found: the scan is broken")
	}
	for m, fs := range sites {
		for _, f := range fs {
			if !f.revoked {
				t.Errorf("%s calls store.%s but not Revocations.Revoked", f.name, m)
			}
		}
	}
}

// revokingSite is a function of the domain that calls a revoking store
// method.
type revokingSite struct {
	name    string // file:function
	revoked bool   // it calls Revoked too
}

// revokingCallSites reads the domain's code (internal/core, tests aside)
// and returns, per revoking store method, the functions that call it as
// ….Store.Method(…), the way services reach their store.
func revokingCallSites(t *testing.T) map[string][]revokingSite {
	t.Helper()
	sites := map[string][]revokingSite{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("../core", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			var called []string
			revoked := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if sel.Sel.Name == "Revoked" {
					revoked = true
				}
				if recv, ok := sel.X.(*ast.SelectorExpr); ok && recv.Sel.Name == "Store" {
					if _, ok := revokingStoreMethods[sel.Sel.Name]; ok {
						called = append(called, sel.Sel.Name)
					}
				}
				return true
			})
			for _, m := range called {
				sites[m] = append(sites[m], revokingSite{filepath.ToSlash(path) + ":" + fn.Name.Name, revoked})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sites
}
