// Package tms serves the Phrase TMS (Memsource) authentication dialect:
// password login returning a 24-hour ApiToken, logout, whoAmI and
// loginOther, with TMS's JSON shapes and error format (SPEC §3.1).
package tms

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/handler/forwardauth"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/verify"
)

// ExpiresLayout is how TMS formats dates: 2026-11-23T09:31:23+0000.
const ExpiresLayout = "2006-01-02T15:04:05-0700"

// Handler serves the TMS auth endpoints.
type Handler struct {
	ID *identity.Service
	// Resolver reads a request's credential and resolves one of any
	// dialect (whoAmI), as /auth/verify does.
	Resolver *forwardauth.Resolver
	Log      *slog.Logger
}

// Audience is the application of every TMS endpoint (SPEC §2).
const Audience = "tms"

// WhoAmI answers GET /api2/v1/auth/whoAmI (SPEC §3.1). An endpoint that
// accepts a credential of any dialect runs through api, which applies the
// rule of /auth/verify?audience=tms (and its own scopes) first; Logout and
// LoginOther act on the ApiToken itself, which only TMS issues.
func (h *Handler) WhoAmI(w http.ResponseWriter, r *http.Request) { h.api(nil, h.whoAmI)(w, r) }

// api wraps a TMS endpoint that serves any dialect's credential: the
// credential must resolve (as /auth/verify resolves it), be meant for the
// tms application and carry every one of scopes — verify.Check, the very
// check of /auth/verify?audience=tms — and name a user. Failures are
// answered in TMS's error shape: 401 AuthUnauthorized for no, bad or
// another application's credential, 403 AuthAccessDenied for a missing
// scope. next sees only principals that passed.
func (h *Handler) api(scopes []string, next func(http.ResponseWriter, *http.Request, authn.Principal)) http.HandlerFunc {
	req := verify.Require{Audience: Audience, Scopes: scopes}
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := h.Resolver.Principal(r)
		if err == nil {
			err = verify.Check(p.Principal, req)
		}
		if forwardauth.WriteAPIKeyError(w, err) { // ProZ's own shape for a bad API key
			return
		}
		var th *authn.ThrottledError
		switch {
		case errors.As(err, &th):
			err = &identity.ThrottledError{RetryAfter: th.RetryAfter} // 429 + Retry-After
		case errors.Is(err, verify.ErrWrongAudience):
			writeError(w, http.StatusUnauthorized, "AuthUnauthorized", "The credential is not meant for TMS.")
			return
		case errors.Is(err, verify.ErrInsufficientScope):
			err = identity.ErrForbidden
		case errors.Is(err, verify.ErrNoCredentials), errors.Is(err, verify.ErrInvalid):
			err = identity.ErrInvalidToken
		case err == nil && p.User == nil:
			err = identity.ErrInvalidToken // a client_credentials token names no user
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		next(w, r, p)
	}
}

// userFor is the TMS user object as p may see it: the email only when p
// carries the user's whole access or a scope that grants it (SPEC §2:
// email, user.email), as GET /user releases it.
func userFor(p authn.Principal) User {
	u := userJSON(*p.User)
	if !p.HasScope("email") && !p.HasScope("user.email") {
		u.Email = ""
	}
	return u
}

// User is the TMS user object.
type User struct {
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	UserName  string `json:"userName"`
	Email     string `json:"email,omitempty"` // absent: not granted (userFor)
	Role      string `json:"role"`
	ID        string `json:"id"`
	UID       string `json:"uid"`
}

func userJSON(u store.User) User {
	return User{FirstName: u.FirstName, LastName: u.LastName, UserName: u.UserName, Email: u.Email, Role: string(u.Role), ID: u.ID, UID: u.UID}
}

// LoginResponse is the body of a successful login.
type LoginResponse struct {
	User                               User    `json:"user"`
	Token                              string  `json:"token"`
	Expires                            string  `json:"expires"`
	LastInvalidateAllSessionsPerformed *string `json:"lastInvalidateAllSessionsPerformed"`
}

// Error is the TMS error body.
type Error struct {
	ErrorCode        string `json:"errorCode"`
	ErrorDescription string `json:"errorDescription"`
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `ApiToken realm="tolk"`)
	}
	httpx.WriteJSON(w, status, Error{ErrorCode: code, ErrorDescription: desc})
}

// fail maps a domain or input error to the TMS error shape. Unexpected
// errors are logged and answered with a bare 500.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var in *httpx.InputError
	var val *identity.ValidationError
	var thr *identity.ThrottledError
	switch {
	case errors.As(err, &in):
		code := "BadRequest"
		switch in.Status {
		case http.StatusUnsupportedMediaType:
			code = "UnsupportedMediaType"
		case http.StatusRequestEntityTooLarge:
			code = "RequestTooLarge"
		}
		writeError(w, in.Status, code, in.Message)
	case errors.As(err, &val):
		writeError(w, http.StatusBadRequest, "BadRequest", val.Error())
	case errors.As(err, &thr):
		httpx.RetryAfter(w, thr.RetryAfter)
		writeError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many failed login attempts; retry later.")
	case errors.Is(err, identity.ErrOTPRequired):
		writeError(w, http.StatusUnauthorized, "AuthTwoFactorRequired", "Two-factor authentication is on for this user: send the authenticator app's code in \"code\".")
	case errors.Is(err, identity.ErrInvalidCredentials):
		writeError(w, http.StatusUnauthorized, "AuthInvalidCredentials", "Invalid user name or password.")
	case errors.Is(err, identity.ErrInvalidToken):
		writeError(w, http.StatusUnauthorized, "AuthUnauthorized", "Missing, invalid or expired ApiToken.")
	case errors.Is(err, identity.ErrForbidden):
		writeError(w, http.StatusForbidden, "AuthAccessDenied", "You are not allowed to do this.")
	case errors.Is(err, identity.ErrNotFound):
		writeError(w, http.StatusNotFound, "UserNotFound", "No such user in your organization.")
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
	case errors.Is(err, store.ErrUnavailable):
		httpx.Unavailable(w)
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "The service is temporarily unavailable; retry later.")
	default:
		h.Log.ErrorContext(r.Context(), "tms: internal error", "request_id", httpx.RequestID(r.Context()), "err", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "Internal error.")
	}
}

type loginRequest struct {
	UserName *string `json:"userName"`
	Password *string `json:"password"`
	Code     *string `json:"code"`
}

func (h *Handler) Login(w http.ResponseWriter, r *http.Request) {
	httpx.NoStore(w)
	var req loginRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.UserName == nil || *req.UserName == "" {
		h.fail(w, r, &identity.ValidationError{Field: "userName", Message: "is required"})
		return
	}
	if req.Password == nil || *req.Password == "" {
		h.fail(w, r, &identity.ValidationError{Field: "password", Message: "is required"})
		return
	}
	var code string
	if req.Code != nil {
		code = *req.Code
	}
	u, err := h.ID.AuthenticateOTP(r.Context(), "tms", *req.UserName, *req.Password, code, httpx.ClientIP(r.Context()))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.issue(w, r, u, identity.GrantPassword)
}

func (h *Handler) issue(w http.ResponseWriter, r *http.Request, u store.User, grant string) {
	token, expires, err := h.ID.IssueAPITokenFor(r.Context(), u, grant)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := LoginResponse{User: userJSON(u), Token: token, Expires: expires.UTC().Format(ExpiresLayout)}
	if !u.LastInvalidateAll.IsZero() {
		s := u.LastInvalidateAll.UTC().Format(ExpiresLayout)
		resp.LastInvalidateAllSessionsPerformed = &s
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// token extracts the ApiToken with the grammar every dialect shares
// (verify.CredentialReader): the Authorization header, else ?token= when
// allowed.
func (h *Handler) token(r *http.Request) string {
	c, err := h.Resolver.Credentials.Read(r)
	if err != nil || c.Method != verify.MethodAPIToken {
		return ""
	}
	return c.Value
}

// Authenticate resolves the request's ApiToken to its user.
func (h *Handler) Authenticate(r *http.Request) (store.User, error) {
	t := h.token(r)
	if t == "" {
		return store.User{}, identity.ErrInvalidToken
	}
	return h.ID.VerifyAPIToken(r.Context(), t)
}

func (h *Handler) Logout(w http.ResponseWriter, r *http.Request) {
	t := h.token(r)
	if t == "" {
		h.fail(w, r, identity.ErrInvalidToken)
		return
	}
	if _, err := h.ID.VerifyAPIToken(r.Context(), t); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.ID.RevokeAPIToken(r.Context(), t); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// WhoAmI is the whoAmI body.
type WhoAmI struct {
	User         User         `json:"user"`
	Organization Organization `json:"organization"`
}

// Organization is the TMS organization object.
type Organization struct {
	UID  string `json:"uid"`
	Name string `json:"name"`
}

func (h *Handler) whoAmI(w http.ResponseWriter, r *http.Request, p authn.Principal) {
	org, err := h.ID.Organization(r.Context(), *p.User)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.NoStore(w)
	httpx.WriteJSON(w, http.StatusOK, WhoAmI{User: userFor(p), Organization: Organization{UID: org.UID, Name: org.Name}})
}

func (h *Handler) LoginOther(w http.ResponseWriter, r *http.Request) {
	httpx.NoStore(w)
	admin, err := h.Authenticate(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req struct {
		UserName *string `json:"userName"`
	}
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.UserName == nil || *req.UserName == "" {
		h.fail(w, r, &identity.ValidationError{Field: "userName", Message: "is required"})
		return
	}
	u, err := h.ID.LoginOther(r.Context(), admin, *req.UserName)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Log.InfoContext(r.Context(), "tms: loginOther", "request_id", httpx.RequestID(r.Context()), "admin", admin.UID, "user", u.UID)
	h.issue(w, r, u, identity.GrantLoginOther)
}
