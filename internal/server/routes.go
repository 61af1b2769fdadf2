package server

import (
	"context"
	"io/fs"
	"net/http"
	"time"

	"github.com/tolk-project/tolk/internal/handler/oauthapi"
	"github.com/tolk-project/tolk/internal/handler/tms"
	"github.com/tolk-project/tolk/internal/handler/web"
	"github.com/tolk-project/tolk/internal/kit/httpx"
)

type fsys = fs.FS

// routes is the whole HTTP surface of tolk, in one place.
func (s *Server) routes(mux *http.ServeMux, t *tms.Handler, ui *web.Handler, api *oauthapi.Handler) {
	// Operations.
	for _, p := range []string{"/health/alive", "/healthz"} {
		mux.HandleFunc("GET "+p, s.alive)
	}
	for _, p := range []string{"/health/ready", "/readyz"} {
		mux.HandleFunc("GET "+p, s.ready)
	}
	mux.Handle("GET /metrics", s.Metrics.Handler())

	// TMS ApiToken dialect (SPEC §3.1).
	t.Routes(mux)

	// OAuth 2.0 and OpenID Connect (SPEC §3.2): token, introspection,
	// revocation, discovery, JWKS, userinfo, /user. The authorization
	// endpoint is part of the web UI.
	api.Routes(mux)

	// Web UI (SPEC §5), with /oauth/authorize and the consent page.
	ui.Routes(mux)
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
