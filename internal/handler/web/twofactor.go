package web

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/core/twofactor"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// Two-factor authentication in the UI: the second sign-in step
// (/login/two-factor) and Settings → Two-factor authentication
// (/settings/two-factor: enrol, recovery codes, disable). Enabling and
// disabling both ask for the password (identity.EnableTwoFactor).
//
// The second step keeps no password anywhere: /login checks the password
// and, for a user with two-factor authentication, stores a pending sign-in
// in the database (identity.BeginLogin) whose secret the browser holds in
// the HttpOnly cookie tolk_2fa for five minutes, so any instance can
// finish it. The form still carries the pre-session CSRF token.

// twoFactorData is the data of the two-factor pages.
type twoFactorData struct {
	Enabled      bool
	EnabledAt    string
	RecoveryLeft int
	// Enrolment, while off: the QR code (a PNG data: URI, which CSP
	// allows as img-src) and the base32 secret beside it.
	QRCode template.URL
	Secret string
	// SecretGroups is Secret in groups of four, as people read and type
	// it (authenticator apps ignore the spaces; the otpauth URI in the QR
	// code carries it whole).
	SecretGroups string
	// Codes are the recovery codes, on the page after enabling only;
	// Download is them as a text file.
	Codes    []string
	Download template.URL
}

const pendingCookie = "tolk_2fa"

// askCode answers a right password of a user with two-factor
// authentication: it hands the browser the pending sign-in and asks for
// the code.
func (h *Handler) askCode(w http.ResponseWriter, r *http.Request, ticket, csrf, next string) {
	h.setCookie(w, pendingCookie, ticket, int(identity.PendingLoginTTL.Seconds()))
	l := h.localizer(r)
	h.render(w, r, http.StatusOK, "login_code", page{L: l, Title: l.T("login.title"), CSRF: csrf, Next: next, FormTargets: h.formTargets(r, next)})
}

func (h *Handler) LoginCodePage(w http.ResponseWriter, r *http.Request) {
	if h.cookie(r, pendingCookie) == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	csrf, err := h.loginCSRF(w, r)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	l := h.localizer(r)
	next := r.URL.Query().Get("next")
	h.render(w, r, http.StatusOK, "login_code", page{L: l, Title: l.T("login.title"), CSRF: csrf, Next: next, FormTargets: h.formTargets(r, next)})
}

func (h *Handler) LoginCodeSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	cookieTok := h.cookie(r, "tolk_csrf")
	if !h.sameOrigin(r) || cookieTok == "" || !secret.Equal(cookieTok, r.PostForm.Get("csrf_token")) {
		h.errorPage(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	l := h.localizer(r)
	next := r.PostForm.Get("next")
	again := func(status int, key string) {
		h.render(w, r, status, "login_code", page{L: l, Title: l.T("login.title"), CSRF: cookieTok, Next: next, Error: l.T(key), FormTargets: h.formTargets(r, next)})
	}
	u, err := h.ID.FinishLogin(r.Context(), "web", h.cookie(r, pendingCookie), r.PostForm.Get("code"), httpx.ClientIP(r.Context()))
	var thr *identity.ThrottledError
	switch {
	case errors.As(err, &thr):
		httpx.RetryAfter(w, thr.RetryAfter)
		again(http.StatusTooManyRequests, "login.throttled")
		return
	case errors.Is(err, identity.ErrOTPRequired):
		again(http.StatusBadRequest, "login.code_missing")
		return
	case errors.Is(err, identity.ErrInvalidCredentials):
		again(http.StatusUnauthorized, "login.code_failed")
		return
	case errors.Is(err, identity.ErrInvalidToken):
		// Expired, unknown or already finished: start over.
		h.setCookie(w, pendingCookie, "", -1)
		h.render(w, r, http.StatusUnauthorized, "login", page{L: l, Title: l.T("login.title"), CSRF: cookieTok, Next: next, Error: l.T("login.code_expired"), FormTargets: h.formTargets(r, next)})
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	h.setCookie(w, pendingCookie, "", -1)
	h.signIn(w, r, u, next)
}

// signIn starts the session of u and sends the browser on, as the
// one-step sign-in does: a fresh session id (session fixation), the
// browser's previous session ended, the pre-session CSRF cookie dropped.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, u store.User, next string) {
	if old := h.cookie(r, "tolk_session"); old != "" {
		_ = h.ID.EndSession(r.Context(), old) // on failure it expires unused: the cookie is replaced below
	}
	s, err := h.ID.StartSession(r.Context(), u, device(r))
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	h.setCookie(w, "tolk_session", s.Cookie, int(s.ExpiresAt.Sub(h.ID.Now()).Seconds()))
	h.setCookie(w, "tolk_csrf", "", -1)
	http.Redirect(w, r, safeNext(afterSignIn(next)), http.StatusSeeOther)
}

// TwoFactorPage shows the status and, while off, the enrolment.
func (h *Handler) TwoFactorPage(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.signedIn(w, r, "/settings/two-factor")
	if !ok {
		return
	}
	if f, ok := h.takeFlash(w, r, ws, twoFactorPath, "codes"); ok {
		h.renderCodes(w, r, ws, u, f.Codes, f.Notice)
		return
	}
	p := page{CSRF: ws.CSRFToken, User: &u}
	switch r.URL.Query().Get("done") {
	case "disabled":
		p.Notice = "twofactor.disabled"
	}
	h.renderTwoFactor(w, r, http.StatusOK, p)
}

// renderTwoFactor renders the settings page for p.User; p.Error and
// p.Notice are message keys.
func (h *Handler) renderTwoFactor(w http.ResponseWriter, r *http.Request, status int, p page) {
	l := h.localizer(r)
	u := *p.User
	tf := h.ID.TwoFactor
	if tf == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	st, err := tf.Status(r.Context(), u.UID)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	d := &twoFactorData{Enabled: st.Enabled, RecoveryLeft: st.RecoveryCodes}
	if st.Enabled {
		d.EnabledAt = h.localizer(r).DateTime(st.EnabledAt)
	} else {
		e, err := tf.BeginEnrolment(r.Context(), u)
		if err != nil {
			h.internalError(w, r, err)
			return
		}
		// The data: URI is ours (a PNG we encoded), not user input.
		d.QRCode, d.Secret, d.SecretGroups = template.URL(e.QRCode), e.Secret, inFours(e.Secret)
	}
	p.L, p.Title, p.TwoFactor = l, l.T("twofactor.title"), d
	if p.Error != "" {
		p.Error = l.T(p.Error)
	}
	if p.Notice != "" {
		p.Notice = l.T(p.Notice)
	}
	h.render(w, r, status, "two_factor", p)
}

// twoFactorPasswordRejected re-renders the two-factor page when the
// current password was wrong or the attempt throttled (429 with
// Retry-After); it reports whether it wrote the response.
func (h *Handler) twoFactorPasswordRejected(w http.ResponseWriter, r *http.Request, ws store.WebSession, u store.User, err error) bool {
	var thr *identity.ThrottledError
	switch {
	case errors.As(err, &thr):
		httpx.RetryAfter(w, thr.RetryAfter)
		h.renderTwoFactor(w, r, http.StatusTooManyRequests, page{CSRF: ws.CSRFToken, User: &u, Error: "twofactor.throttled"})
		return true
	case errors.Is(err, identity.ErrInvalidCredentials):
		h.renderTwoFactor(w, r, http.StatusUnauthorized, page{CSRF: ws.CSRFToken, User: &u, Error: "twofactor.password_failed"})
		return true
	}
	return false
}

// twoFactorChangeFailed answers a failed change of an enabled second
// factor (disabling it, regenerating its recovery codes): the password
// refusals as twoFactorPasswordRejected, a factor that is not enabled (any
// more) back to the page, anything else as an internal error.
func (h *Handler) twoFactorChangeFailed(w http.ResponseWriter, r *http.Request, ws store.WebSession, u store.User, err error) bool {
	switch {
	case err == nil:
		return false
	case h.twoFactorPasswordRejected(w, r, ws, u, err):
	case errors.Is(err, twofactor.ErrNotEnabled):
		http.Redirect(w, r, "/settings/two-factor", http.StatusSeeOther)
	default:
		h.internalError(w, r, err)
	}
	return true
}

func (h *Handler) TwoFactorEnable(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.postSession(w, r, "/settings/two-factor")
	if !ok {
		return
	}
	if h.ID.TwoFactor == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	codes, err := h.ID.EnableTwoFactor(r.Context(), u, r.PostForm.Get("password"), r.PostForm.Get("code"), httpx.ClientIP(r.Context()))
	if h.twoFactorPasswordRejected(w, r, ws, u, err) {
		return
	}
	switch {
	case errors.Is(err, twofactor.ErrInvalidCode):
		h.renderTwoFactor(w, r, http.StatusBadRequest, page{CSRF: ws.CSRFToken, User: &u, Error: "twofactor.code_failed"})
		return
	case errors.Is(err, twofactor.ErrNotEnrolling):
		h.renderTwoFactor(w, r, http.StatusConflict, page{CSRF: ws.CSRFToken, User: &u, Error: "twofactor.restart"})
		return
	case errors.Is(err, twofactor.ErrAlreadyEnabled):
		http.Redirect(w, r, "/settings/two-factor", http.StatusSeeOther)
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	h.codesOnce(w, r, ws, u, codes, "twofactor.codes_done")
}

const twoFactorPath = "/settings/two-factor"

// inFours writes s in groups of four characters separated by spaces.
func inFours(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// codesOnce shows new recovery codes once (they are stored hashed):
// post/redirect/get, the codes carried to the settings page by the flash,
// so a reload makes no new ones.
func (h *Handler) codesOnce(w http.ResponseWriter, r *http.Request, ws store.WebSession, u store.User, codes []string, noticeKey string) {
	if h.redirectWithFlash(w, r, ws, flash{Page: twoFactorPath, Kind: "codes", Codes: codes, Notice: noticeKey}, "?done=codes") {
		return
	}
	h.renderCodes(w, r, ws, u, codes, noticeKey)
}

// renderCodes is the page with the recovery codes: Copy, and a download
// as a text file (a data: URL inside this no-store page, so the codes are
// on no other URL and in no cache).
func (h *Handler) renderCodes(w http.ResponseWriter, r *http.Request, ws store.WebSession, u store.User, codes []string, noticeKey string) {
	l := h.localizer(r)
	text := l.T("twofactor.codes_file_header", u.UserName) + "\n\n" + strings.Join(codes, "\n") + "\n"
	h.render(w, r, http.StatusOK, "two_factor_codes", page{L: l, Title: l.T("twofactor.codes_title"), CSRF: ws.CSRFToken, User: &u,
		Notice: l.T(noticeKey), TwoFactor: &twoFactorData{Enabled: true, Codes: codes,
			// Ours, percent-encoded: no user input but the user name.
			Download: template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text))}})
}

// TwoFactorDisable asks once more, with the current password beside
// Confirm, then turns two-factor authentication off.
func (h *Handler) TwoFactorDisable(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.sessionFor(w, r, "/settings/two-factor")
	if !ok {
		return
	}
	if h.ID.TwoFactor == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	l := h.localizer(r)
	if !h.confirmed(w, r, ws, u, confirmData{Question: l.T("twofactor.confirm_disable"), Effect: l.T("twofactor.disable_help"),
		Cancel: "/settings/two-factor", Password: true}) {
		return
	}
	err := h.ID.DisableTwoFactor(r.Context(), u, r.PostForm.Get("password"), httpx.ClientIP(r.Context()))
	if h.twoFactorChangeFailed(w, r, ws, u, err) {
		return
	}
	http.Redirect(w, r, "/settings/two-factor?done=disabled", http.StatusSeeOther)
}
