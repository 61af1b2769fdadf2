package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// field is one hidden form field.
type field struct{ Name, Value string }

type scopeLine struct{ Name, Text string }

type consentData struct {
	ClientName  string
	Description string
	Scopes      []scopeLine
	Params      []field
	MayAllow    bool
}

type formPostData struct {
	Action string
	Fields []field
}

// consentFields are the consent form's own fields, not part of the
// authorization request.
var consentFields = []string{"csrf_token", "consent_action"}

// Authorize serves GET and POST /oauth/Authorize: the authorization
// request, and the consent form's answer.
func (h *Handler) Authorize(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		if !h.parseForm(w, r) {
			return
		}
		params = url.Values{}
		for k, v := range r.PostForm {
			if !slices.Contains(consentFields, k) {
				params[k] = v
			}
		}
		if r.PostForm.Has("consent_action") {
			h.consentSubmit(w, r, params)
			return
		}
	}
	ar, ok := h.parseAuthRequest(w, r, params)
	if !ok {
		return
	}
	ws, u, signedIn := h.session(r)
	if h.Authz.NeedsLogin(ar, ws.AuthTime, signedIn) {
		if ar.HasPrompt("none") {
			h.respondError(w, r, ar, oauth.ErrLoginRequired("the user is not signed in"))
			return
		}
		h.toLogin(w, r, ar)
		return
	}
	needs, err := h.Authz.NeedsConsent(r.Context(), ar, u)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	if needs {
		if ar.HasPrompt("none") {
			h.respondError(w, r, ar, oauth.ErrConsentRequired("the user has not consented"))
			return
		}
		h.consentPage(w, r, ar, ws, u)
		return
	}
	h.issue(w, r, ar, u, ws)
}

func (h *Handler) parseAuthRequest(w http.ResponseWriter, r *http.Request, params url.Values) (*authz.AuthRequest, bool) {
	ar, err := h.Authz.ParseAuthRequest(r.Context(), params)
	var pe *authz.PageError
	var re *authz.RedirectError
	switch {
	case errors.As(err, &pe):
		l := h.localizer(r)
		h.render(w, r, http.StatusBadRequest, "error", page{L: l, Title: l.T("error.title"), Error: l.T(pe.Message)})
		return nil, false
	case errors.As(err, &re):
		h.respondError(w, r, re.Request, re.Err)
		return nil, false
	case err != nil:
		h.internalError(w, r, err)
		return nil, false
	}
	return ar, true
}

func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		// The store logs the outage once; the page asks to come back.
		httpx.Unavailable(w)
		h.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	if !errors.Is(err, context.Canceled) {
		h.Log.ErrorContext(r.Context(), "web: internal error", "request_id", httpx.RequestID(r.Context()), "err", err)
	}
	h.errorPage(w, r, http.StatusInternalServerError, "error.internal")
}

// toLogin sends the browser to sign in and back to the request as it
// came: until a sign-in is made (afterSignIn), the way back still asks
// for one, so a browser that skips the sign-in page gets no code with a
// stale auth_time. reauth makes the login page ask even when a session
// exists.
func (h *Handler) toLogin(w http.ResponseWriter, r *http.Request, ar *authz.AuthRequest) {
	q := url.Values{"next": {"/oauth/authorize?" + ar.Params.Encode()}}
	if _, _, signedIn := h.session(r); signedIn {
		q.Set("reauth", "1")
	}
	if ar.LoginHint != "" {
		q.Set("login_hint", ar.LoginHint)
	}
	if ar.UILocales != "" {
		q.Set("ui_locales", ar.UILocales)
	}
	http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
}

func (h *Handler) consentPage(w http.ResponseWriter, r *http.Request, ar *authz.AuthRequest, ws store.WebSession, u store.User) {
	l := h.localizer(r)
	cd := consentData{ClientName: ar.Client.Name, Description: ar.Client.Description, MayAllow: authz.MayAllow(ar.Client, u)}
	for _, sc := range ar.Scopes {
		text := l.T("scope." + sc)
		if text == "scope."+sc {
			text = ""
		}
		cd.Scopes = append(cd.Scopes, scopeLine{Name: sc, Text: text})
	}
	keys := make([]string, 0, len(ar.Params))
	for k := range ar.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cd.Params = append(cd.Params, field{k, ar.Params.Get(k)})
	}
	// Consent pages must not be cached or framed; render sets both.
	h.render(w, r, http.StatusOK, "consent", page{L: l, Title: l.T("consent.title", ar.Client.Name), CSRF: ws.CSRFToken, User: &u, Consent: &cd,
		FormTargets: []string{origin(ar.RedirectURI)}})
}

func (h *Handler) consentSubmit(w http.ResponseWriter, r *http.Request, params url.Values) {
	ws, u, ok := h.session(r)
	if !ok {
		h.errorPage(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	if !h.sameOrigin(r) || !secret.Equal(ws.CSRFToken, r.PostForm.Get("csrf_token")) {
		h.errorPage(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	ar, ok := h.parseAuthRequest(w, r, params)
	if !ok {
		return
	}
	// The consent page may have waited past max_age: the sign-in it
	// relies on must still satisfy the request.
	if ar.MaxAge != nil && h.Authz.NeedsLogin(ar, ws.AuthTime, true) {
		h.toLogin(w, r, ar)
		return
	}
	if r.PostForm.Get("consent_action") != "allow" {
		h.respondError(w, r, ar, oauth.ErrAccessDenied("the user denied the request"))
		return
	}
	if !authz.MayAllow(ar.Client, u) {
		h.errorPage(w, r, http.StatusForbidden, "consent.admin_only")
		return
	}
	if err := h.Authz.SaveConsent(r.Context(), ar, u); err != nil {
		h.internalError(w, r, err)
		return
	}
	h.issue(w, r, ar, u, ws)
}

func (h *Handler) issue(w http.ResponseWriter, r *http.Request, ar *authz.AuthRequest, u store.User, ws store.WebSession) {
	vals, err := h.Authz.Issue(r.Context(), ar, u, ws.AuthTime)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	h.respond(w, r, ar, vals)
}

func (h *Handler) respondError(w http.ResponseWriter, r *http.Request, ar *authz.AuthRequest, e *oauth.Error) {
	vals := url.Values{"error": {e.Code}}
	if e.Description != "" {
		vals.Set("error_description", e.Description)
	}
	h.respond(w, r, ar, vals)
}

// respond delivers an authorization response to the client's redirect URI
// in the request's response mode, with state echoed and iss added
// (RFC 9207) to every response, success or error.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, ar *authz.AuthRequest, vals url.Values) {
	if ar.State != "" {
		vals.Set("state", ar.State)
	}
	vals.Set("iss", h.Issuer)
	switch ar.ResponseMode {
	case "form_post":
		fp := formPostData{Action: ar.RedirectURI}
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fp.Fields = append(fp.Fields, field{k, vals.Get(k)})
		}
		l := h.localizer(r)
		h.renderWith(w, r, http.StatusOK, "form_post", page{L: l, Title: l.T("formpost.title"), FormPost: &fp}, func(hd http.Header) {
			// The page's one job is to post to the client.
			hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; form-action "+origin(ar.RedirectURI)+"; frame-ancestors 'none'; base-uri 'none'")
		})
	case "fragment":
		http.Redirect(w, r, ar.RedirectURI+"#"+vals.Encode(), http.StatusSeeOther)
	default:
		u, _ := url.Parse(ar.RedirectURI)
		q := u.Query()
		for k, v := range vals {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
	}
}

// afterSignIn is where a sign-in sends the browser on: next, except that
// an authorization request no longer asks for the sign-in just made.
// prompt=login and max_age (even 0) are satisfied by it (OIDC Core
// §3.1.2.1), so they are taken out of the request once, here, rather than
// when the browser is sent to sign in; the code then carries the fresh
// auth_time. A browser that removes them by hand could as well have
// removed them from the client's request: the client's check of auth_time
// covers both.
func afterSignIn(next string) string {
	path, rawQuery, ok := strings.Cut(next, "?")
	if !ok || (path != "/oauth/authorize" && path != "/web/oauth/authorize") {
		return next
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return next
	}
	var rest []string
	for _, p := range strings.Fields(q.Get("prompt")) {
		if p != "login" {
			rest = append(rest, p)
		}
	}
	if len(rest) == 0 {
		q.Del("prompt")
	} else {
		q.Set("prompt", strings.Join(rest, " "))
	}
	q.Del("max_age")
	return path + "?" + q.Encode()
}

// origin is the CSP source of a redirect URI: scheme and host, or the
// scheme alone for a native app's private-use scheme.
func origin(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "" || strings.ContainsAny(u.Scheme+u.Host, " ;'\"\\"):
		return "'none'"
	case u.Host == "":
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}

// formTargets returns the client origin a login form may end up at when it
// continues an authorization request: only a redirect URI registered for
// the named client qualifies.
func (h *Handler) formTargets(r *http.Request, next string) []string {
	ar := h.authRequestIn(r, next)
	if ar == nil {
		return nil
	}
	return []string{origin(ar.RedirectURI)}
}

// authRequestIn returns the authorization request that next continues,
// with its client and a registered redirect URI, or nil.
func (h *Handler) authRequestIn(r *http.Request, next string) *authz.AuthRequest {
	if h.Authz == nil || !(strings.HasPrefix(next, "/oauth/authorize?") || strings.HasPrefix(next, "/web/oauth/authorize?")) {
		return nil
	}
	_, rawQuery, _ := strings.Cut(next, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil
	}
	ar, err := h.Authz.ParseAuthRequest(r.Context(), q)
	var re *authz.RedirectError
	if errors.As(err, &re) {
		ar, err = re.Request, nil
	}
	if err != nil || ar == nil {
		return nil
	}
	return ar
}

// appAsking names the app whose authorization request a sign-in continues
// (SPEC §5: the sign-in page names the app asking), or "" when next is no
// authorization request of a registered app with a registered redirect
// URI: a made-up link cannot put a name of its choosing on the page.
func (h *Handler) appAsking(r *http.Request, next string) string {
	if ar := h.authRequestIn(r, next); ar != nil {
		return ar.Client.Name
	}
	return ""
}
