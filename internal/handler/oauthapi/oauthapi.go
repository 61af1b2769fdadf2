// Package oauthapi serves the machine-facing OAuth 2.0 and OpenID Connect
// endpoints: token, introspection, revocation, discovery, JWKS, userinfo
// and the /user resources. It parses requests, calls authz, and writes
// answers in the protocols' own shapes.
package oauthapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/signing"
	"github.com/tolk-project/tolk/internal/handler/forwardauth"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/verify"
)

// Handler serves the endpoints.
type Handler struct {
	Authz *authz.Service
	// Resolver resolves the credential of a resource request (/userinfo,
	// /user, /v2/user) of any dialect, as /auth/verify does.
	Resolver *forwardauth.Resolver
	Keys     *signing.Keyring
	Log      *slog.Logger
	// Limits are the abuse limits of the client-authenticated endpoints
	// (limits.go); nil: none.
	Limits *TokenLimits
}

// writeError answers an OAuth error as RFC 6749 §5.2 JSON. Anything that
// is not an OAuth error is logged and becomes a bare server_error.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	var in *httpx.InputError
	switch {
	case errors.As(err, &in):
		status := http.StatusBadRequest
		if in.Status == http.StatusRequestEntityTooLarge {
			status = in.Status
		}
		e = &oauth.Error{Code: "invalid_request", Description: in.Message, Status: status}
	case errors.Is(err, store.ErrUnavailable):
		httpx.Unavailable(w)
		e = &oauth.Error{Code: "temporarily_unavailable", Description: "the service is temporarily unavailable; retry later", Status: http.StatusServiceUnavailable}
	case e == nil || e.Code == "server_error":
		if errors.Is(err, context.Canceled) {
			return
		}
		h.Log.ErrorContext(r.Context(), "oauth: internal error", "request_id", httpx.RequestID(r.Context()), "err", err)
		e = oauth.ErrServerError("internal error")
	}
	if e.Code == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="tolk"`)
	}
	httpx.NoStore(w)
	httpx.WriteJSON(w, e.Status, e)
}

func (h *Handler) parse(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.ParseForm(w, r); err != nil {
		return err
	}
	return oauth.SingleValues(r.PostForm)
}

func (h *Handler) Token(w http.ResponseWriter, r *http.Request) {
	if err := h.parse(w, r); err != nil {
		h.writeError(w, r, err)
		return
	}
	id, sec, method, err := oauth.ClientCredentials(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if !h.admitToken(w, r, id) {
		return
	}
	resp, err := h.Authz.Token(r.Context(), &authz.TokenRequest{Form: r.PostForm, ClientID: id, ClientSecret: sec, AuthMethod: method})
	if h.refuseFailure(w, r, id, err) {
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.NoStore(w)
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// client authenticates the caller of introspection and revocation.
func (h *Handler) client(w http.ResponseWriter, r *http.Request) (store.Client, bool) {
	if err := h.parse(w, r); err != nil {
		h.writeError(w, r, err)
		return store.Client{}, false
	}
	id, sec, method, err := oauth.ClientCredentials(r)
	if err != nil {
		h.writeError(w, r, err)
		return store.Client{}, false
	}
	c, err := h.Authz.AuthenticateClient(r.Context(), id, sec, method)
	if h.refuseFailure(w, r, id, err) {
		return store.Client{}, false
	}
	if err != nil {
		h.writeError(w, r, err)
		return store.Client{}, false
	}
	if r.PostForm.Get("token") == "" {
		h.writeError(w, r, oauth.ErrInvalidRequest("token is required"))
		return store.Client{}, false
	}
	return c, true
}

func (h *Handler) Introspect(w http.ResponseWriter, r *http.Request) {
	c, ok := h.client(w, r)
	if !ok {
		return
	}
	res, err := h.Authz.Introspect(r.Context(), c, r.PostForm.Get("token"), r.PostForm.Get("token_type_hint"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.NoStore(w)
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (h *Handler) Revoke(w http.ResponseWriter, r *http.Request) {
	c, ok := h.client(w, r)
	if !ok {
		return
	}
	if err := h.Authz.Revoke(r.Context(), c, r.PostForm.Get("token"), r.PostForm.Get("token_type_hint")); err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.NoStore(w)
	w.WriteHeader(http.StatusOK)
}

// challenge answers a resource request per RFC 6750 §3.
func challenge(w http.ResponseWriter, err error) {
	e := oauth.AsError(err)
	if e == nil {
		e = oauth.ErrInvalidToken("the access token is invalid")
	}
	v := `Bearer realm="tolk"`
	if e.Code != "" {
		v += `, error="` + e.Code + `", error_description="` + strings.ReplaceAll(e.Description, `"`, `'`) + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	httpx.WriteJSON(w, e.Status, e)
}

// principal authenticates a resource request with any dialect, answering
// failures per RFC 6750 §3.
func (h *Handler) principal(w http.ResponseWriter, r *http.Request) (authn.Principal, bool) {
	p, err := h.Resolver.Principal(r)
	if forwardauth.WriteAPIKeyError(w, err) { // ProZ's own shape for a bad API key
		return p, false
	}
	if throttled(w, err) {
		return p, false
	}
	switch {
	case errors.Is(err, verify.ErrNoCredentials):
		w.Header().Set("WWW-Authenticate", `Bearer realm="tolk"`)
		httpx.WriteJSON(w, http.StatusUnauthorized, oauth.ErrInvalidToken("credentials are required"))
		return p, false
	case errors.Is(err, verify.ErrInvalid):
		challenge(w, oauth.ErrInvalidToken("the access token is invalid, expired or revoked"))
		return p, false
	case err != nil:
		h.writeError(w, r, err)
		return p, false
	case p.User == nil:
		challenge(w, oauth.ErrInvalidToken("the token does not belong to a user"))
		return p, false
	}
	return p, true
}

func (h *Handler) UserInfo(w http.ResponseWriter, r *http.Request) {
	p, ok := h.principal(w, r)
	if !ok {
		return
	}
	// OIDC Core §5.3: userinfo serves tokens granted openid; credentials
	// without scopes carry their user's whole access.
	if !p.HasScope("openid") {
		challenge(w, oauth.ErrInsufficientScope("the token lacks the openid scope"))
		return
	}
	httpx.NoStore(w)
	httpx.WriteJSON(w, http.StatusOK, authz.UserInfo(*p.User, p.Scopes))
}

// ProZUser serves GET /user (ProZ): the email only with user.email (or
// OIDC's email), the scopes by which ProZ grants it.
func (h *Handler) ProZUser(w http.ResponseWriter, r *http.Request) {
	h.user(w, r, func(p authn.Principal) bool { return p.HasScope("user.email") || p.HasScope("email") })
}

// StringsUser serves GET /v2/user (Strings): Strings has no email scope,
// so every credential accepted here sees the email (SPEC §4).
func (h *Handler) StringsUser(w http.ResponseWriter, r *http.Request) {
	h.user(w, r, func(authn.Principal) bool { return true })
}

// user answers the current user in the ProZ and Strings shapes together;
// showEmail says whether the email is part of it.
func (h *Handler) user(w http.ResponseWriter, r *http.Request, showEmail func(authn.Principal) bool) {
	p, ok := h.principal(w, r)
	if !ok {
		return
	}
	u := p.User
	name := strings.TrimSpace(u.FirstName + " " + u.LastName)
	out := map[string]any{
		"uuid": u.UID, "site_name": u.UserName,
		"contact_info": map[string]any{"first_name": u.FirstName, "last_name": u.LastName},
		"id":           u.ID, "username": u.UserName, "name": name,
		"created_at": u.CreatedAt.UTC().Format(time.RFC3339), "updated_at": u.UpdatedAt.UTC().Format(time.RFC3339),
	}
	if showEmail(p) {
		out["email"] = u.Email
	}
	httpx.NoStore(w)
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) JWKS(w http.ResponseWriter, r *http.Request) {
	set, err := h.Keys.PublicJWKS(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// Short caching: relying parties refetch on an unknown kid anyway, and
	// a rotated key must appear quickly.
	w.Header().Set("Cache-Control", "public, max-age=60")
	httpx.WriteJSON(w, http.StatusOK, set)
}
