// Package web serves tolk's server-rendered UI: sign-in, sign-out and the
// signed-in home page. It works without JavaScript; every string comes
// from the i18n catalogs; every form carries a CSRF token.
package web

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/tolk-project/tolk/internal/core/apikey"
	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/core/pat"
	"github.com/tolk-project/tolk/internal/core/platform"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/i18n"
	"github.com/tolk-project/tolk/internal/kit/reqctx"
	"github.com/tolk-project/tolk/internal/kit/seal"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Handler serves the web UI.
type Handler struct {
	ID       *identity.Service
	Authz    *authz.Service
	Catalogs *i18n.Catalogs
	Log      *slog.Logger
	Issuer   string // public base URL; its origin is the only one allowed to post forms
	Secure   bool   // https: Secure cookies with the __Host- prefix
	Gen      secret.Generator
	APIKeys  *apikey.Service   // Admin → API keys; nil hides the page
	Platform *platform.Service // Settings → Access Tokens; nil hides the pages
	Audit    *audit.Recorder   // Admin → Audit log
	PATs     *pat.Service      // Settings → Sessions lists and revokes personal access tokens; nil leaves them out
	// Recovery serves /forgot-password, /reset-password and the users
	// page's Invite and resets; nil hides them.
	Recovery *identity.Recovery
	// Sealer seals the flash that carries a secret shown once to the page
	// a create form redirects to (flash.go); nil renders it on the post.
	Sealer *seal.Sealer

	pages map[string]*template.Template
}

// Init parses the templates; call it once before Routes.
func (h *Handler) Init() error {
	h.pages = map[string]*template.Template{}
	for _, p := range []string{"login", "home", "logout", "error", "consent", "form_post",
		"apps_list", "apps_form", "apps_created", "apps_authorized", "tokens",
		"api_keys", "login_code", "two_factor", "two_factor_codes", "users", "audit",
		"password", "profile", "sessions", "confirm"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return err
		}
		h.pages[p] = t
	}
	return h.initRecovery()
}

// Static serves the embedded stylesheet and scripts under /static/.
func (h *Handler) Static() http.Handler {
	static, _ := fs.Sub(staticFS, "static")
	return http.StripPrefix("/static/", http.FileServerFS(static))
}

func (h *Handler) cookieName(base string) string {
	if h.Secure {
		return "__Host-" + base // pins the cookie to our host, path / and https
	}
	return base
}

func (h *Handler) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: h.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.Secure, SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) cookie(r *http.Request, name string) string {
	c, err := r.Cookie(h.cookieName(name))
	if err != nil {
		return ""
	}
	return c.Value
}

// page is the data of every template.
type page struct {
	L        i18n.Localizer
	Lang     string
	Title    string
	CSRF     string
	User     *store.User
	Error    string
	Notice   string
	Next     string
	UserName string
	Consent  *consentData
	// Forgot shows the sign-in page's Forgot password? link.
	Forgot bool
	// FormTargets are origins besides our own that the page's forms may
	// end up at: a form POST that answers with a redirect to an OAuth
	// client is still governed by CSP form-action in browsers.
	FormTargets []string
	FormPost    *formPostData
	Apps        *appsData    // the settings pages for OAuth apps
	Tokens      *tokensData  // Settings → Access Tokens
	APIKeys     *apiKeysData // Admin → API keys
	// Recovery is the data of the reset page and of a one-time link.
	Recovery *recoveryData
	Edit     *editData
	// TwoFactor is the data of the two-factor pages.
	TwoFactor *twoFactorData
	Users     *usersData    // Admin → Users
	Audit     *auditData    // Admin → Audit log
	Account   *accountData  // Settings → Change password, Profile
	Sessions  *sessionsData // Settings → Sessions
	Confirm   *confirmData  // the page asking once more before destroying
	// Languages are the Language menu's entries (every offered catalog,
	// in its own language); Here is where the menu returns to.
	Languages []languageOption
	Here      string
	// Path is the request's path, for aria-current in the navigation.
	Path string
	// NoLangMenu leaves the menu out where the page has a Language field
	// of its own (the profile), so that one label names one control.
	NoLangMenu bool
	// AppName is the app an authorization request comes from, named on
	// the sign-in page it leads to.
	AppName string
}

// Current reports whether the navigation's link to path is the page
// shown (aria-current="page"): the page itself or one below it.
func (p page) Current(path string) bool {
	if p.Path == path {
		return true
	}
	return path != "/" && strings.HasPrefix(p.Path, path+"/")
}

// RoleName is a role as every page names it: Home, Users and the edit
// form all show the catalog's role.* text, never the API's constant.
func (p page) RoleName(role any) string {
	return p.L.T("role." + fmt.Sprint(role))
}

func (h *Handler) localizer(r *http.Request) i18n.Localizer {
	// SPEC §5: ui_locales, the cookie, the signed-in user's profile
	// (recorded by session), Accept-Language, English.
	return h.Catalogs.Match(r.URL.Query().Get("ui_locales"), h.cookie(r, "tolk_lang"),
		reqctx.ActorLanguage(r.Context()), r.Header.Get("Accept-Language"))
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	h.renderWith(w, r, status, name, p, nil)
}

// renderWith renders a page; headers, if set, adjusts the response
// headers after the defaults.
func (h *Handler) renderWith(w http.ResponseWriter, r *http.Request, status int, name string, p page, headers func(http.Header)) {
	if p.L == (i18n.Localizer{}) {
		p.L = h.localizer(r)
	}
	p.Lang = p.L.Tag().String()
	p.Languages = h.languages()
	p.Path = r.URL.Path
	if p.Here == "" {
		p.Here = hereOf(r, name)
	}
	httpx.HTMLHeaders(w)
	w.Header().Set("Vary", "Accept-Language, Cookie")
	if len(p.FormTargets) > 0 {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self' "+strings.Join(p.FormTargets, " ")+"; frame-ancestors 'none'; base-uri 'none'")
	}
	if headers != nil {
		headers(w.Header())
	}
	w.WriteHeader(status)
	if err := h.pages[name].ExecuteTemplate(w, "layout", p); err != nil {
		h.Log.ErrorContext(r.Context(), "web: render", "page", name, "err", err)
	}
}

// pagePaths are the GET addresses of the pages that a form post may
// answer with (a validation error, a notice) from an address of its own,
// such as /settings/two-factor/enable, that has no GET.
var pagePaths = map[string]string{
	"home": "/", "login": "/login", "forgot_password": "/forgot-password", "two_factor": "/settings/two-factor",
	"tokens": "/settings/access-tokens", "sessions": "/settings/sessions", "password": "/settings/password",
	"profile": "/settings/profile", "apps_list": "/settings/oauth-apps", "apps_authorized": "/settings/authorized-apps",
	"api_keys": "/settings/api-keys", "users": "/settings/users", "audit": "/settings/audit",
}

// hereOf is where the Language menu returns to: the address of a GET as
// it was asked for; after a post, the page's own address (an error page's:
// home), since the post's address may take no GET and a reload must not
// post again.
func hereOf(r *http.Request, name string) string {
	switch {
	case r.Method == http.MethodGet:
		return r.URL.RequestURI()
	case pagePaths[name] != "":
		return pagePaths[name]
	case name == "error":
		return "/"
	}
	return r.URL.Path
}

// errorPage keeps the navigation for a signed-in user (SPEC §5): a 403
// or 404 is a dead end otherwise. The session is looked up before the
// language, so the profile's language applies here too.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, msgKey string) {
	p := page{}
	if ws, u, ok := h.session(r); ok {
		p.User, p.CSRF = &u, ws.CSRFToken
	}
	l := h.localizer(r)
	p.L, p.Title, p.Error = l, l.T("error.title"), l.T(msgKey)
	h.render(w, r, status, "error", p)
}

// session returns the signed-in user, if any.
func (h *Handler) session(r *http.Request) (store.WebSession, store.User, bool) {
	c := h.cookie(r, "tolk_session")
	if c == "" {
		return store.WebSession{}, store.User{}, false
	}
	ws, u, err := h.ID.LookupSession(r.Context(), c, device(r))
	if err != nil {
		if !errors.Is(err, identity.ErrInvalidToken) {
			h.Log.ErrorContext(r.Context(), "web: session lookup", "err", err)
		}
		return store.WebSession{}, store.User{}, false
	}
	reqctx.SetActor(r.Context(), u.UID) // who acts, for the audit log
	reqctx.SetActorLanguage(r.Context(), u.Language)
	return ws, u, true
}

func (h *Handler) Home(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.session(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	l := h.localizer(r)
	h.render(w, r, http.StatusOK, "home", page{L: l, Title: l.T("home.title"), CSRF: ws.CSRFToken, User: &u})
}

// loginCSRF returns the pre-session CSRF token (double-submit cookie),
// minting one when the browser has none.
func (h *Handler) loginCSRF(w http.ResponseWriter, r *http.Request) (string, error) {
	if c := h.cookie(r, "tolk_csrf"); len(c) == 43 {
		return c, nil
	}
	tok, err := h.Gen.Alphanumeric(43)
	if err != nil {
		return "", err
	}
	h.setCookie(w, "tolk_csrf", tok, 0)
	return tok, nil
}

func (h *Handler) LoginPage(w http.ResponseWriter, r *http.Request) {
	// reauth: prompt=login or max_age asks for the password again even
	// though a session exists.
	if _, _, ok := h.session(r); ok && r.URL.Query().Get("reauth") != "1" {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	csrf, err := h.loginCSRF(w, r)
	if err != nil {
		h.errorPage(w, r, http.StatusInternalServerError, "error.internal")
		return
	}
	l := h.localizer(r)
	p := page{L: l, Title: l.T("login.title"), CSRF: csrf, Next: r.URL.Query().Get("next"), UserName: r.URL.Query().Get("login_hint")}
	if r.URL.Query().Get("logged_out") == "1" {
		p.Notice = l.T("logout.done")
	}
	if r.URL.Query().Get("password_set") == "1" {
		p.Notice = l.T("reset.done")
	}
	p.Forgot = h.Recovery != nil
	p.FormTargets = h.formTargets(r, p.Next)
	p.AppName = h.appAsking(r, p.Next)
	h.render(w, r, http.StatusOK, "login", p)
}

// sameOrigin rejects cross-site form posts. Browsers send Sec-Fetch-Site,
// which no page can forge: same-origin passes outright (our
// Referrer-Policy makes browsers send "Origin: null" even on same-origin
// posts, so Origin cannot be required). Without it, Origin must name us.
// Requests with neither (old clients, curl) rely on the CSRF token alone.
func (h *Handler) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return true
	case "", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	want, err := url.Parse(h.Issuer)
	if err != nil {
		return false
	}
	return strings.EqualFold(o, want.Scheme+"://"+want.Host)
}

func (h *Handler) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := httpx.ParseForm(w, r); err != nil {
		var in *httpx.InputError
		status := http.StatusBadRequest
		if errors.As(err, &in) {
			status = in.Status
		}
		h.errorPage(w, r, status, "error.csrf")
		return false
	}
	return true
}

func (h *Handler) LoginSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	cookieTok := h.cookie(r, "tolk_csrf")
	if !h.sameOrigin(r) || cookieTok == "" || !secret.Equal(cookieTok, r.PostForm.Get("csrf_token")) {
		h.errorPage(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	l := h.localizer(r)
	name, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	next := r.PostForm.Get("next")
	again := func(status int, key string) {
		h.render(w, r, status, "login", page{L: l, Title: l.T("login.title"), CSRF: cookieTok, Next: next, UserName: name, Error: l.T(key),
			FormTargets: h.formTargets(r, next), AppName: h.appAsking(r, next)})
	}
	if name == "" || pw == "" {
		again(http.StatusBadRequest, "login.missing")
		return
	}
	u, ticket, err := h.ID.BeginLogin(r.Context(), "web", name, pw, httpx.ClientIP(r.Context()))
	var thr *identity.ThrottledError
	switch {
	case errors.Is(err, identity.ErrOTPRequired):
		h.askCode(w, r, ticket, cookieTok, next)
		return
	case errors.As(err, &thr):
		httpx.RetryAfter(w, thr.RetryAfter)
		again(http.StatusTooManyRequests, "login.throttled")
		return
	case errors.Is(err, identity.ErrInvalidCredentials):
		again(http.StatusUnauthorized, "login.failed")
		return
	case err != nil:
		h.internalError(w, r, err) // 503 while the database is unreachable
		return
	}
	h.signIn(w, r, u, next)
}

// safeNext allows only local paths, so the login form is no open redirect.
// Control characters are refused outright: browsers drop tabs and newlines
// from a Location, so "/\t/evil.example" would lead to //evil.example.
// A backslash in the path is refused anywhere, not only second: browsers
// read it as a slash, and http.Redirect cleans the path first, so
// "/./\\evil.example" would leave as "/\\evil.example", i.e. //evil.example.
func safeNext(next string) string {
	p, _, _ := strings.Cut(next, "?")
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(p, "\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	return next
}

func (h *Handler) LogoutPage(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.session(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	l := h.localizer(r)
	h.render(w, r, http.StatusOK, "logout", page{L: l, Title: l.T("logout.title"), CSRF: ws.CSRFToken, User: &u})
}

func (h *Handler) LogoutSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	ws, u, ok := h.session(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !h.sameOrigin(r) || !secret.Equal(ws.CSRFToken, r.PostForm.Get("csrf_token")) {
		h.errorPage(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	if err := h.ID.SignOut(r.Context(), u.UID); err != nil {
		h.internalError(w, r, err)
		return
	}
	h.setCookie(w, "tolk_session", "", -1)
	http.Redirect(w, r, "/login?logged_out=1", http.StatusSeeOther)
}
