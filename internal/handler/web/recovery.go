package web

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/i18n"
	"github.com/tolk-project/tolk/internal/kit/passwordpolicy"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// Password recovery (SPEC §8): /forgot-password asks for a reset link by
// mail, /reset-password?token=… sets a password through a link (a reset
// or an invitation). Both are forms before any session, protected as the
// sign-in form is: the double-submit CSRF cookie and the origin check.

// recoveryData is the data of the reset page, and of the one-time link
// the users page shows an admin.
type recoveryData struct {
	Token     string // the link's token, carried by the form
	UserName  string // whose link it is
	Valid     bool
	MinLength int
	// Link is a one-time link for the admin to pass on (no mail
	// configured), with when it expires.
	Link, Expires, For string
}

func (h *Handler) initRecovery() error {
	for _, p := range []string{"forgot_password", "reset_password", "users_edit"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return err
		}
		h.pages[p] = t
	}
	return nil
}

// preSessionForm checks a POST of a form shown before sign-in: the body,
// the origin and the double-submit CSRF token. It returns the token.
func (h *Handler) preSessionForm(w http.ResponseWriter, r *http.Request) (string, bool) {
	if !h.parseForm(w, r) {
		return "", false
	}
	tok := h.cookie(r, "tolk_csrf")
	if !h.sameOrigin(r) || tok == "" || !secret.Equal(tok, r.PostForm.Get("csrf_token")) {
		h.errorPage(w, r, http.StatusForbidden, "error.csrf")
		return "", false
	}
	return tok, true
}

// ForgotPasswordPage shows the form that asks for a reset link.
func (h *Handler) ForgotPasswordPage(w http.ResponseWriter, r *http.Request) {
	if h.Recovery == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	csrf, err := h.loginCSRF(w, r)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	l := h.localizer(r)
	h.render(w, r, http.StatusOK, "forgot_password", page{L: l, Title: l.T("forgot.title"), CSRF: csrf})
}

// ForgotPasswordSubmit asks for a reset link. The answer is the same page
// whether or not the name belongs to an account (and the typed name is
// not repeated), so it tells nobody who has one.
func (h *Handler) ForgotPasswordSubmit(w http.ResponseWriter, r *http.Request) {
	if h.Recovery == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	csrf, ok := h.preSessionForm(w, r)
	if !ok {
		return
	}
	l := h.localizer(r)
	p := page{L: l, Title: l.T("forgot.title"), CSRF: csrf}
	name := r.PostForm.Get("username")
	if name == "" {
		p.Error = l.T("forgot.missing")
		h.render(w, r, http.StatusBadRequest, "forgot_password", p)
		return
	}
	err := h.Recovery.RequestReset(r.Context(), name, httpx.ClientIP(r.Context()), l.Tag().String())
	var thr *identity.ThrottledError
	switch {
	case errors.As(err, &thr):
		httpx.RetryAfter(w, thr.RetryAfter)
		p.Error = l.T("forgot.throttled")
		h.render(w, r, http.StatusTooManyRequests, "forgot_password", p)
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	p.Notice = l.T("forgot.sent")
	h.render(w, r, http.StatusOK, "forgot_password", p)
}

// ResetPasswordPage shows the form of a reset or invitation link.
func (h *Handler) ResetPasswordPage(w http.ResponseWriter, r *http.Request) {
	if h.Recovery == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	csrf, err := h.loginCSRF(w, r)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	token := r.URL.Query().Get("token")
	u, err := h.Recovery.CheckLink(r.Context(), token)
	switch {
	case errors.Is(err, identity.ErrInvalidToken):
		h.renderReset(w, r, http.StatusBadRequest, csrf, &recoveryData{}, "")
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	h.renderReset(w, r, http.StatusOK, csrf, &recoveryData{Token: token, UserName: u.UserName, Valid: true}, "")
}

func (h *Handler) renderReset(w http.ResponseWriter, r *http.Request, status int, csrf string, d *recoveryData, msg string) {
	l := h.localizer(r)
	d.MinLength = h.Recovery.Policy.MinimumLength()
	p := page{L: l, Title: l.T("reset.title"), CSRF: csrf, Recovery: d, Error: msg}
	if !d.Valid && msg == "" {
		p.Error = l.T("reset.invalid")
	}
	h.render(w, r, status, "reset_password", p)
}

// ResetPasswordSubmit sets the password through a link, which is then
// used up, and sends the browser to sign in with it.
func (h *Handler) ResetPasswordSubmit(w http.ResponseWriter, r *http.Request) {
	if h.Recovery == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	csrf, ok := h.preSessionForm(w, r)
	if !ok {
		return
	}
	l := h.localizer(r)
	token := r.PostForm.Get("token")
	u, err := h.Recovery.ResetPassword(r.Context(), token, r.PostForm.Get("new_password"))
	var v *passwordpolicy.Violation
	switch {
	case errors.Is(err, identity.ErrInvalidToken):
		h.renderReset(w, r, http.StatusBadRequest, csrf, &recoveryData{}, "")
		return
	case errors.As(err, &v):
		// The link stays usable: ask again.
		cu, cerr := h.Recovery.CheckLink(r.Context(), token)
		if cerr != nil {
			h.renderReset(w, r, http.StatusBadRequest, csrf, &recoveryData{}, "")
			return
		}
		h.renderReset(w, r, http.StatusBadRequest, csrf, &recoveryData{Token: token, UserName: cu.UserName, Valid: true},
			l.T(v.MessageKey(), v.MessageArgs()...))
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	// Whatever session this browser had is gone with the others.
	h.setCookie(w, "tolk_session", "", -1)
	http.Redirect(w, r, "/login?password_set=1&login_hint="+url.QueryEscape(u.UserName), http.StatusSeeOther)
}

// oneTimeLink is the users page's data for a link shown to the admin.
func oneTimeLink(loc i18n.Localizer, u store.User, l identity.Link) *recoveryData {
	return &recoveryData{Link: l.URL, Expires: loc.DateTime(l.Expires), For: u.UserName}
}

// The users page's recovery actions (SPEC §8): Invite, Reset password
// and Reset two-factor. A link goes by mail when mail is configured;
// otherwise the page shows it to the admin, once (it is stored hashed).

// recoveryAdmin is usersAdmin for the recovery actions, which are not
// found when recovery is not configured.
func (h *Handler) recoveryAdmin(w http.ResponseWriter, r *http.Request) (store.WebSession, store.User, bool) {
	ws, admin, ok := h.usersAdmin(w, r, r.Method == http.MethodPost)
	if !ok {
		return ws, admin, false
	}
	if h.Recovery == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return ws, admin, false
	}
	return ws, admin, true
}

// deliverLink finishes an action that made a link for user u: back to
// the list with the done notice when it was mailed, else the list
// showing the link once under noticeKey.
func (h *Handler) deliverLink(w http.ResponseWriter, r *http.Request, ws store.WebSession, admin, u store.User, link identity.Link, done, noticeKey string) {
	if link.Mailed {
		http.Redirect(w, r, usersPath+"?done="+done, http.StatusSeeOther)
		return
	}
	// Shown once, post/redirect/get as every secret (flash.go): a reload
	// of the page makes no second link.
	d := oneTimeLink(h.localizer(r), u, link)
	if h.redirectWithFlash(w, r, ws, flash{Page: usersPath, Kind: "link", Secret: d.Link, Name: d.For, Until: d.Expires, Notice: noticeKey}, "?done=link") {
		return
	}
	h.renderUsers(w, r, http.StatusOK, ws, admin, &usersData{OneTime: d}, h.localizer(r).T(noticeKey), "")
}

// UsersInvite creates a user without a password and invites them.
func (h *Handler) UsersInvite(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.recoveryAdmin(w, r)
	if !ok {
		return
	}
	l := h.localizer(r)
	f := r.PostForm
	d := &usersData{UserName: f.Get("username"), Email: f.Get("email"), Role: store.Role(f.Get("role"))}
	u, link, err := h.Recovery.Invite(r.Context(), admin, identity.NewUser{UserName: d.UserName, Email: d.Email, Role: d.Role},
		l.Tag().String())
	var ve *identity.ValidationError
	switch {
	case errors.As(err, &ve):
		h.renderUsers(w, r, http.StatusBadRequest, ws, admin, d, "", l.T("users.invalid."+ve.Field))
		return
	case errors.Is(err, identity.ErrConflict):
		h.renderUsers(w, r, http.StatusConflict, ws, admin, d, "", l.T("users.taken"))
		return
	case err != nil:
		h.usersError(w, r, ws, admin, err)
		return
	}
	h.deliverLink(w, r, ws, admin, u, link, "invited", "users.invited_link")
}

// UsersResetPassword sends a user a reset link, or shows it once.
func (h *Handler) UsersResetPassword(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.recoveryAdmin(w, r)
	if !ok {
		return
	}
	if !h.confirmUser(w, r, ws, admin, "users.confirm_reset_password", "users.reset_password_effect") {
		return
	}
	l := h.localizer(r)
	u, link, err := h.Recovery.AdminReset(r.Context(), admin, r.PathValue("uid"), l.Tag().String())
	if err != nil {
		h.usersError(w, r, ws, admin, err)
		return
	}
	h.deliverLink(w, r, ws, admin, u, link, "reset_mailed", "users.reset_link")
}

// UsersResetTwoFactor removes a user's second factor; they enrol again.
func (h *Handler) UsersResetTwoFactor(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.recoveryAdmin(w, r)
	if !ok {
		return
	}
	if !h.confirmUser(w, r, ws, admin, "users.confirm_reset_two_factor", "users.reset_two_factor_effect") {
		return
	}
	err := h.Recovery.AdminResetTwoFactor(r.Context(), admin, r.PathValue("uid"))
	if errors.Is(err, identity.ErrNoTwoFactor) {
		h.renderUsers(w, r, http.StatusConflict, ws, admin, &usersData{}, "", h.localizer(r).T("users.no_two_factor"))
		return
	}
	if err != nil {
		h.usersError(w, r, ws, admin, err)
		return
	}
	http.Redirect(w, r, usersPath+"?done=two_factor_reset", http.StatusSeeOther)
}

// setPages fills the pager of the users list from the number of matches.
func (d *usersData) setPages(total int) {
	d.Pages = max((total+identity.UsersPageSize-1)/identity.UsersPageSize, 1)
	link := func(p int) string {
		q := url.Values{"page": {strconv.Itoa(p)}}
		if d.Query != "" {
			q.Set("q", d.Query)
		}
		return usersPath + "?" + q.Encode()
	}
	if d.Page > 1 {
		d.PrevURL = link(min(d.Page-1, d.Pages))
	}
	if d.Page < d.Pages {
		d.NextURL = link(d.Page + 1)
	}
}

// usersEditPath is the Edit form of one user.
func usersEditPath(uid string) string { return usersPath + "/" + url.PathEscape(uid) + "/edit" }

// editData is the data of the Edit form.
type editData struct {
	UID, UserName, Email, FirstName, LastName string
	Role                                      store.Role
	Roles                                     []store.Role
}

func (h *Handler) renderEdit(w http.ResponseWriter, r *http.Request, status int, ws store.WebSession, admin store.User, d *editData, msg string) {
	d.Roles = store.Roles
	l := h.localizer(r)
	h.render(w, r, status, "users_edit", page{L: l, Title: l.T("users.edit_title", d.UserName), CSRF: ws.CSRFToken, User: &admin,
		Error: msg, Edit: d})
}

// UsersEditPage shows the Edit form of another user of the organization.
func (h *Handler) UsersEditPage(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.usersAdmin(w, r, false)
	if !ok {
		return
	}
	u, err := h.ID.OrgUser(r.Context(), admin, r.PathValue("uid"))
	if err != nil {
		h.usersError(w, r, ws, admin, err)
		return
	}
	h.renderEdit(w, r, http.StatusOK, ws, admin, &editData{UID: u.UID, UserName: u.UserName, Email: u.Email,
		FirstName: u.FirstName, LastName: u.LastName, Role: u.Role}, "")
}

// UsersEdit changes another user's email, names and role.
func (h *Handler) UsersEdit(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.usersAdmin(w, r, true)
	if !ok {
		return
	}
	u, err := h.ID.OrgUser(r.Context(), admin, r.PathValue("uid"))
	if err != nil {
		h.usersError(w, r, ws, admin, err)
		return
	}
	f := r.PostForm
	d := &editData{UID: u.UID, UserName: u.UserName, Email: f.Get("email"), FirstName: f.Get("first_name"),
		LastName: f.Get("last_name"), Role: store.Role(f.Get("role"))}
	_, err = h.ID.EditUser(r.Context(), admin, u.UID, identity.UserEdit{Email: d.Email, FirstName: d.FirstName,
		LastName: d.LastName, Role: d.Role})
	l := h.localizer(r)
	var ve *identity.ValidationError
	switch {
	case errors.As(err, &ve):
		h.renderEdit(w, r, http.StatusBadRequest, ws, admin, d, l.T("users.invalid."+ve.Field))
		return
	case errors.Is(err, identity.ErrConflict):
		h.renderEdit(w, r, http.StatusConflict, ws, admin, d, l.T("users.taken"))
		return
	case err != nil:
		h.usersError(w, r, ws, admin, err)
		return
	}
	http.Redirect(w, r, usersPath+"?done=edited", http.StatusSeeOther)
}
