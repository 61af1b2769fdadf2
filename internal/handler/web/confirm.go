package web

import (
	"net/http"

	"github.com/tolk-project/tolk/internal/store"
)

// Destructive actions ask once more (SPEC §5): deleting an app, revoking
// a token, key or authorized app, deactivating a user, an admin's reset of
// someone's password or two-factor and disabling two-factor. A GET of the
// action's URL, or a POST without confirm=1, answers with a page that
// names what will go and a Confirm button; only its POST (confirm=1, the
// session's CSRF token) acts. No JavaScript is involved, and nothing
// changes before Confirm: a prefetch or a stray link destroys nothing.

// confirmData is the confirmation page: what goes, and where Confirm
// posts.
type confirmData struct {
	Action   string // the form's path; the request's path when empty
	Question string // "Delete the app Foo?"
	Effect   string // what happens then
	Cancel   string // back to the list
	// Password asks for the current password with Confirm (disabling
	// two-factor).
	Password bool
}

// confirmed reports whether r is the confirmation's own post. When it is
// not, it renders the confirmation page and the caller returns.
func (h *Handler) confirmed(w http.ResponseWriter, r *http.Request, ws store.WebSession, u store.User, c confirmData) bool {
	if r.Method == http.MethodPost && r.PostForm.Get("confirm") == "1" {
		return true
	}
	if c.Action == "" {
		c.Action = r.URL.Path
	}
	l := h.localizer(r)
	h.render(w, r, http.StatusOK, "confirm", page{L: l, Title: c.Question, CSRF: ws.CSRFToken, User: &u, Confirm: &c})
	return false
}

// sessionFor is the preamble of an action a GET asks to confirm and a
// POST carries out: a session for a GET, a CSRF-checked form for a POST.
func (h *Handler) sessionFor(w http.ResponseWriter, r *http.Request, back string) (store.WebSession, store.User, bool) {
	if r.Method == http.MethodPost {
		return h.postSession(w, r, back)
	}
	return h.signedIn(w, r, r.URL.RequestURI())
}
