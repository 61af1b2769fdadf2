package web

import (
	"errors"
	"net/http"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/i18n"
)

// Settings → Profile (/settings/profile, SPEC §8): names, email and
// language. A new email needs the current password (it is where reset
// links go); the language chosen here is the UI's for this user after
// ui_locales and the cookie (SPEC §5), and their mails'.

func (h *Handler) ProfilePage(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.signedIn(w, r, "/settings/profile")
	if !ok {
		return
	}
	p := page{CSRF: ws.CSRFToken, User: &u}
	if r.URL.Query().Get("done") == "1" {
		p.Notice = "profile.saved"
	}
	h.renderProfile(w, r, http.StatusOK, p, u.FirstName, u.LastName, u.Email, u.Language, "")
}

// languages lists the catalogs, each named in its own language.
func (h *Handler) languages() []languageOption {
	var out []languageOption
	for _, t := range h.Catalogs.Languages() {
		out = append(out, languageOption{Tag: t.String(), Name: i18n.Name(t)})
	}
	return out
}

// knownLanguage reports whether tag names a catalog the UI offers ("" is
// the browser's choice).
func (h *Handler) knownLanguage(tag string) bool {
	if tag == "" {
		return true
	}
	for _, o := range h.languages() {
		if o.Tag == tag {
			return true
		}
	}
	return false
}

func (h *Handler) renderProfile(w http.ResponseWriter, r *http.Request, status int, p page, first, last, email, lang, errField string) {
	l := h.localizer(r)
	p.L, p.Title = l, l.T("profile.title")
	if p.Notice != "" {
		p.Notice = l.T(p.Notice)
	}
	p.Account = &accountData{ErrField: errField, FirstName: first, LastName: last, Email: email, Language: lang, Languages: h.languages()}
	p.NoLangMenu = true // the form's Language field is the menu here
	h.render(w, r, status, "profile", p)
}

func (h *Handler) ProfileSubmit(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.postSession(w, r, "/settings/profile")
	if !ok {
		return
	}
	f := r.PostForm
	ch := identity.ProfileChange{FirstName: f.Get("first_name"), LastName: f.Get("last_name"), Email: f.Get("email"), Language: f.Get("language")}
	again := func(status int, p page, field string) {
		h.renderProfile(w, r, status, p, ch.FirstName, ch.LastName, ch.Email, ch.Language, field)
	}
	l := h.localizer(r)
	p := page{CSRF: ws.CSRFToken, User: &u}
	if !h.knownLanguage(ch.Language) {
		p.Error = l.T("profile.bad_language")
		again(http.StatusBadRequest, p, "language")
		return
	}
	_, err := h.ID.UpdateProfile(r.Context(), u, ch, f.Get("current_password"), httpx.ClientIP(r.Context()))
	var verr *identity.ValidationError
	switch {
	case err == nil:
		// The cookie outranks the profile (SPEC §5): it follows the
		// profile's new choice, or goes for the browser's.
		h.rememberLanguage(w, ch.Language)
		http.Redirect(w, r, "/settings/profile?done=1", http.StatusSeeOther)
		return
	case errors.As(err, &verr):
		field := map[string]string{"email": "email", "firstName": "first_name", "lastName": "last_name", "language": "language"}[verr.Field]
		p.Error = l.T("profile.invalid." + field)
		again(http.StatusBadRequest, p, field)
		return
	case errors.Is(err, identity.ErrConflict):
		p.Error = l.T("profile.email_taken")
		again(http.StatusConflict, p, "email")
		return
	}
	status, field, ok := h.passwordError(w, l.T, &p, err)
	if !ok {
		h.internalError(w, r, err)
		return
	}
	again(status, p, field)
}
