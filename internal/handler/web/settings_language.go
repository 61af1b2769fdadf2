package web

import (
	"net/http"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/secret"
)

// The Language menu on every page (SPEC §5) posts here. The choice goes
// into the tolk_lang cookie, which outranks the profile, and, for a
// signed-in user, into the profile too, so that it follows them to other
// browsers and into their mails.

// langCookieAge keeps the choice for a year.
const langCookieAge = 365 * 24 * 60 * 60

// rememberLanguage sets the tolk_lang cookie to tag, or removes it for ""
// (the browser's choice).
func (h *Handler) rememberLanguage(w http.ResponseWriter, tag string) {
	if tag == "" {
		h.setCookie(w, "tolk_lang", "", -1)
		return
	}
	h.setCookie(w, "tolk_lang", tag, langCookieAge)
}

// SetLanguage serves POST /language: fields lang (an offered catalog's
// tag) and next (where to go back to, a local path). Signed in, it needs
// the session's CSRF token; signed out, the same-origin check alone: a
// forged post could only change the language of a signed-out browser.
func (h *Handler) SetLanguage(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	if !h.sameOrigin(r) {
		h.errorPage(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	tag := r.PostForm.Get("lang")
	if tag == "" || !h.knownLanguage(tag) {
		h.errorPage(w, r, http.StatusBadRequest, "profile.bad_language")
		return
	}
	if ws, u, ok := h.session(r); ok {
		if !secret.Equal(ws.CSRFToken, r.PostForm.Get("csrf_token")) {
			h.errorPage(w, r, http.StatusForbidden, "error.csrf")
			return
		}
		if u.Language != tag {
			// The email stays, so no password is needed; a profile that
			// no longer validates (an old, odd email) keeps its language
			// and the cookie still carries the choice.
			ch := identity.ProfileChange{FirstName: u.FirstName, LastName: u.LastName, Email: u.Email, Language: tag}
			if _, err := h.ID.UpdateProfile(r.Context(), u, ch, "", httpx.ClientIP(r.Context())); err != nil {
				h.Log.WarnContext(r.Context(), "web: language menu: profile not updated", "err", err)
			}
		}
	}
	h.rememberLanguage(w, tag)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}
