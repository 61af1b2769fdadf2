package server

import (
	"context"
	"io/fs"
	"net/http"
	"time"

	"github.com/tolk-project/tolk/internal/handler/forwardauth"
	"github.com/tolk-project/tolk/internal/handler/oauthapi"
	"github.com/tolk-project/tolk/internal/handler/stringsapi"
	"github.com/tolk-project/tolk/internal/handler/tms"
	"github.com/tolk-project/tolk/internal/handler/web"
	"github.com/tolk-project/tolk/internal/kit/httpx"
)

type fsys = fs.FS

// handlers are the HTTP handlers of the dialects and the web UI.
type handlers struct {
	tms     *tms.Handler
	strings *stringsapi.Handler
	oauth   *oauthapi.Handler
	verify  *forwardauth.Handler
	web     *web.Handler
}

// route is one pattern of http.ServeMux and what serves it.
type route struct {
	pattern string
	handler http.Handler
}

type hf = http.HandlerFunc

// routes is tolk's whole HTTP surface: every pattern, in one table.
// TestRoutesTable checks that it is served as written.
func (s *Server) routes(h handlers) []route {
	return []route{
		// Operations (SPEC §9).
		{"GET /health/alive", hf(s.alive)},
		{"GET /healthz", hf(s.alive)},
		{"GET /health/ready", hf(s.ready)},
		{"GET /readyz", hf(s.ready)},
		{"GET /metrics", s.Metrics.Handler()},

		// TMS ApiToken dialect (SPEC §3.1).
		{"POST /api2/v1/auth/login", hf(h.tms.Login)},
		{"POST /web/api2/v1/auth/login", hf(h.tms.Login)},
		{"POST /api2/v1/auth/logout", hf(h.tms.Logout)},
		{"GET /api2/v1/auth/whoAmI", hf(h.tms.WhoAmI)},
		{"POST /api2/v1/auth/loginOther", hf(h.tms.LoginOther)},

		// Strings Authorizations API: personal access tokens (SPEC §3.3).
		{"POST /v2/authorizations", hf(h.strings.Create)},
		{"GET /v2/authorizations", hf(h.strings.List)},
		{"GET /v2/authorizations/{id}", hf(h.strings.Show)},
		{"PATCH /v2/authorizations/{id}", hf(h.strings.Update)},
		{"DELETE /v2/authorizations/{id}", hf(h.strings.Delete)},

		// OAuth 2.0 and OpenID Connect (SPEC §3.2), token exchange (§3.5).
		// The authorization endpoint is part of the web UI, below.
		{"POST /oauth/token", hf(h.oauth.Token)},
		{"POST /web/oauth/token", hf(h.oauth.Token)},
		{"POST /idm/oauth/token", hf(h.oauth.Token)},
		{"POST /oauth/introspect", hf(h.oauth.Introspect)},
		{"POST /oauth/revoke", hf(h.oauth.Revoke)},
		{"GET /.well-known/openid-configuration", hf(h.oauth.Discovery)},
		{"GET /.well-known/oauth-authorization-server", hf(h.oauth.Discovery)},
		{"GET /.well-known/jwks.json", hf(h.oauth.JWKS)},
		{"GET /userinfo", hf(h.oauth.UserInfo)},
		{"POST /userinfo", hf(h.oauth.UserInfo)},

		// Resource endpoints of the dialects (SPEC §4).
		{"GET /user", hf(h.oauth.ProZUser)},
		{"GET /v2/user", hf(h.oauth.StringsUser)},

		// Forward auth for proxies (SPEC §4).
		{"GET /auth/verify", hf(h.verify.Verify)},

		// Web UI (SPEC §5), with /oauth/authorize and the consent page.
		{"GET /static/", h.web.Static()},
		{"GET /{$}", hf(h.web.Home)},
		{"GET /login", hf(h.web.LoginPage)},
		{"POST /login", hf(h.web.LoginSubmit)},
		{"GET /login/two-factor", hf(h.web.LoginCodePage)},
		{"POST /login/two-factor", hf(h.web.LoginCodeSubmit)},
		{"GET /logout", hf(h.web.LogoutPage)},
		{"POST /logout", hf(h.web.LogoutSubmit)},
		{"GET /forgot-password", hf(h.web.ForgotPasswordPage)},
		{"POST /forgot-password", hf(h.web.ForgotPasswordSubmit)},
		{"GET /reset-password", hf(h.web.ResetPasswordPage)},
		{"POST /reset-password", hf(h.web.ResetPasswordSubmit)},
		{"GET /oauth/authorize", hf(h.web.Authorize)},
		{"POST /oauth/authorize", hf(h.web.Authorize)},
		{"GET /web/oauth/authorize", hf(h.web.Authorize)},
		{"POST /web/oauth/authorize", hf(h.web.Authorize)},
		{"GET /settings/oauth-apps", hf(h.web.AppsList)},
		{"GET /settings/oauth-apps/new", hf(h.web.AppsNew)},
		{"POST /settings/oauth-apps/new", hf(h.web.AppsCreate)},
		{"GET /settings/oauth-apps/{id}", hf(h.web.AppsEdit)},
		{"POST /settings/oauth-apps/{id}", hf(h.web.AppsUpdate)},
		{"GET /settings/oauth-apps/{id}/delete", hf(h.web.AppsDelete)}, // asks once more
		{"POST /settings/oauth-apps/{id}/delete", hf(h.web.AppsDelete)},
		{"GET /settings/oauth-apps/{id}/rotate-secret", hf(h.web.AppsRotateSecret)}, // asks once more
		{"POST /settings/oauth-apps/{id}/rotate-secret", hf(h.web.AppsRotateSecret)},
		{"GET /settings/authorized-apps", hf(h.web.AuthorizedApps)},
		{"GET /settings/authorized-apps/{id}/revoke", hf(h.web.RevokeApp)}, // asks once more
		{"POST /settings/authorized-apps/{id}/revoke", hf(h.web.RevokeApp)},
		{"GET /settings/api-keys", hf(h.web.APIKeysList)},
		{"POST /settings/api-keys", hf(h.web.APIKeysCreate)},
		{"GET /settings/api-keys/{id}/revoke", hf(h.web.APIKeysRevoke)}, // asks once more
		{"POST /settings/api-keys/{id}/revoke", hf(h.web.APIKeysRevoke)},
		{"GET /settings/access-tokens", hf(h.web.TokensPage)},
		{"POST /settings/access-tokens", hf(h.web.TokensCreate)},
		{"GET /settings/access-tokens/{id}/revoke", hf(h.web.TokensRevoke)}, // asks once more
		{"POST /settings/access-tokens/{id}/revoke", hf(h.web.TokensRevoke)},
		{"GET /settings/two-factor", hf(h.web.TwoFactorPage)},
		{"POST /settings/two-factor/enable", hf(h.web.TwoFactorEnable)},
		{"GET /settings/two-factor/disable", hf(h.web.TwoFactorDisable)}, // asks once more
		{"POST /settings/two-factor/disable", hf(h.web.TwoFactorDisable)},
		{"POST /settings/two-factor/recovery-codes", hf(h.web.TwoFactorRegenerate)},
		{"GET /settings/password", hf(h.web.PasswordPage)},
		{"POST /settings/password", hf(h.web.PasswordSubmit)},
		{"GET /settings/profile", hf(h.web.ProfilePage)},
		{"POST /settings/profile", hf(h.web.ProfileSubmit)},
		{"POST /language", hf(h.web.SetLanguage)},
		{"GET /settings/users", hf(h.web.UsersList)},
		{"POST /settings/users", hf(h.web.UsersCreate)},
		{"POST /settings/users/{uid}/role", hf(h.web.UsersRole)},
		{"GET /settings/users/{uid}/deactivate", hf(h.web.UsersDeactivate)}, // asks once more
		{"POST /settings/users/{uid}/deactivate", hf(h.web.UsersDeactivate)},
		{"POST /settings/users/{uid}/reactivate", hf(h.web.UsersReactivate)},
		{"POST /settings/users/invite", hf(h.web.UsersInvite)},
		{"GET /settings/users/{uid}/reset-password", hf(h.web.UsersResetPassword)}, // asks once more
		{"POST /settings/users/{uid}/reset-password", hf(h.web.UsersResetPassword)},
		{"GET /settings/users/{uid}/reset-two-factor", hf(h.web.UsersResetTwoFactor)}, // asks once more
		{"POST /settings/users/{uid}/reset-two-factor", hf(h.web.UsersResetTwoFactor)},
		{"GET /settings/users/{uid}/edit", hf(h.web.UsersEditPage)},
		{"POST /settings/users/{uid}/edit", hf(h.web.UsersEdit)},
		{"GET /settings/audit", hf(h.web.AuditLog)},
		{"GET /settings/sessions", hf(h.web.SessionsPage)},
		{"POST /settings/sessions/{kind}/{id}/revoke", hf(h.web.SessionsRevoke)},
		{"POST /settings/sessions/sign-out-everywhere", hf(h.web.SessionsSignOutEverywhere)},
	}
}

// mux serves routes.
func newMux(routes []route) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle(r.pattern, r.handler)
	}
	return mux
}

func (s *Server) alive(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.log.WarnContext(r.Context(), "readiness: database unreachable", "err", err)
		httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "database unreachable"})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
