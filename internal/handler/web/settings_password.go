package web

import (
	"errors"
	"net/http"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/passwordpolicy"
)

// Settings → Change password (/settings/password, SPEC §8): the current
// password, then the new one under the password policy. The change ends
// every other web session and every ApiToken of the user; this session
// goes on (identity.ChangePassword).

// accountData is the data of the account pages (password, profile).
type accountData struct {
	MinLength int // the policy's minimum, for the hint and minlength
	// ErrField names the field the error is about ("current", "new",
	// "email", …), for aria-invalid.
	ErrField string
	// The profile form as shown (after a refused save: as typed).
	FirstName, LastName, Email, Language string
	Languages                            []languageOption
}

// languageOption is one entry of the profile's language list: a catalog
// named in its own language.
type languageOption struct{ Tag, Name string }

func (h *Handler) PasswordPage(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.signedIn(w, r, "/settings/password")
	if !ok {
		return
	}
	p := page{CSRF: ws.CSRFToken, User: &u}
	if r.URL.Query().Get("done") == "1" {
		p.Notice = h.localizer(r).T("password.changed")
	}
	h.renderPassword(w, r, http.StatusOK, p, "")
}

func (h *Handler) renderPassword(w http.ResponseWriter, r *http.Request, status int, p page, errField string) {
	l := h.localizer(r)
	p.L, p.Title = l, l.T("password.title")
	p.Account = &accountData{MinLength: h.ID.Policy.MinimumLength(), ErrField: errField}
	h.render(w, r, status, "password", p)
}

func (h *Handler) PasswordSubmit(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.postSession(w, r, "/settings/password")
	if !ok {
		return
	}
	err := h.ID.ChangePassword(r.Context(), u, ws.Hash, r.PostForm.Get("current_password"), r.PostForm.Get("new_password"), httpx.ClientIP(r.Context()))
	if err == nil {
		http.Redirect(w, r, "/settings/password?done=1", http.StatusSeeOther)
		return
	}
	l := h.localizer(r)
	p := page{CSRF: ws.CSRFToken, User: &u}
	status, field, ok := h.passwordError(w, l.T, &p, err)
	if !ok {
		h.internalError(w, r, err)
		return
	}
	h.renderPassword(w, r, status, p, field)
}

// passwordError turns the refusals of a change that asks for the current
// password into p.Error, a status and the field at fault; false for any
// other error.
func (h *Handler) passwordError(w http.ResponseWriter, t func(string, ...any) string, p *page, err error) (int, string, bool) {
	var thr *identity.ThrottledError
	var v *passwordpolicy.Violation
	switch {
	case errors.As(err, &thr):
		httpx.RetryAfter(w, thr.RetryAfter)
		p.Error = t("login.throttled")
		return http.StatusTooManyRequests, "current", true
	case errors.Is(err, identity.ErrInvalidCredentials):
		p.Error = t("password.current_failed")
		return http.StatusUnauthorized, "current", true
	case errors.Is(err, identity.ErrPasswordRequired):
		p.Error = t("password.current_required")
		return http.StatusBadRequest, "current", true
	case errors.As(err, &v):
		p.Error = t(v.MessageKey(), v.MessageArgs()...)
		return http.StatusBadRequest, "new", true
	}
	return 0, "", false
}
