package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/store"
)

// Admin → Users (/settings/users): an ADMIN lists the users of their
// organization, creates users (Username, Email, Role, Password), changes
// roles and deactivates or reactivates users. Deactivation ends the user's
// sessions, ApiTokens and OAuth tokens at once and makes every other
// credential of theirs fail (identity.SetActive).

const usersPath = "/settings/users"

// usersData is the data of the users page.
type usersData struct {
	Users []userRow
	Roles []store.Role
	// The create form's values, kept after a validation error (never the
	// password).
	UserName, Email string
	Role            store.Role
	// OneTime is a set-password link to show the admin once (no mail
	// configured).
	OneTime *recoveryData
	// Invite shows the Invite form (recovery is configured).
	Invite bool
	// The search and the page of the list; PrevURL and NextURL are empty
	// at either end.
	Query            string
	Page, Pages      int
	PrevURL, NextURL string
}

type userRow struct {
	UID, UserName, Email, CreatedAt string
	Role                            store.Role
	Active, Self                    bool
}

func (h *Handler) usersAdmin(w http.ResponseWriter, r *http.Request, post bool) (store.WebSession, store.User, bool) {
	return h.adminPage(w, r, post, usersPath, "users.forbidden")
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, status int, ws store.WebSession, admin store.User, d *usersData, notice, msg string) {
	// One page of the list, searched: never every user at once.
	d.Query = r.URL.Query().Get("q")
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = max(n, 1)
	users, total, err := h.ID.SearchOrgUsers(r.Context(), admin, d.Query, d.Page)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	d.setPages(total)
	for _, u := range users {
		d.Users = append(d.Users, userRow{UID: u.UID, UserName: u.UserName, Email: u.Email, Role: u.Role, Active: u.Active,
			Self: u.UID == admin.UID, CreatedAt: h.localizer(r).DateTime(u.CreatedAt)})
	}
	d.Roles = store.Roles
	d.Invite = h.Recovery != nil
	if d.Role == "" {
		d.Role = store.RoleLinguist
	}
	l := h.localizer(r)
	h.render(w, r, status, "users", page{L: l, Title: l.T("users.title"), CSRF: ws.CSRFToken, User: &admin,
		Notice: notice, Error: msg, Users: d})
}

func (h *Handler) UsersList(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.usersAdmin(w, r, false)
	if !ok {
		return
	}
	if f, ok := h.takeFlash(w, r, ws, usersPath, "link"); ok {
		h.renderUsers(w, r, http.StatusOK, ws, admin, &usersData{OneTime: &recoveryData{Link: f.Secret, For: f.Name, Expires: f.Until}},
			h.localizer(r).T(f.Notice), "")
		return
	}
	notice := ""
	switch r.URL.Query().Get("done") {
	case "created":
		notice = "users.created"
	case "role":
		notice = "users.role_changed"
	case "deactivated":
		notice = "users.deactivated"
	case "reactivated":
		notice = "users.reactivated"
	case "invited":
		notice = "users.invited_mailed"
	case "reset_mailed":
		notice = "users.reset_mailed"
	case "two_factor_reset":
		notice = "users.two_factor_reset"
	case "edited":
		notice = "users.edited"
	}
	if notice != "" {
		notice = h.localizer(r).T(notice)
	}
	h.renderUsers(w, r, http.StatusOK, ws, admin, &usersData{}, notice, "")
}

func (h *Handler) UsersCreate(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.usersAdmin(w, r, true)
	if !ok {
		return
	}
	l := h.localizer(r)
	f := r.PostForm
	d := &usersData{UserName: f.Get("username"), Email: f.Get("email"), Role: store.Role(f.Get("role"))}
	_, err := h.ID.CreateUser(r.Context(), identity.NewUser{
		OrgUID: admin.OrgUID, UserName: d.UserName, Email: d.Email, Role: d.Role, Password: f.Get("password"),
	})
	var ve *identity.ValidationError
	switch {
	case errors.As(err, &ve):
		h.renderUsers(w, r, http.StatusBadRequest, ws, admin, d, "", l.T("users.invalid."+ve.Field))
		return
	case errors.Is(err, identity.ErrConflict):
		h.renderUsers(w, r, http.StatusConflict, ws, admin, d, "", l.T("users.taken"))
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, usersPath+"?done=created", http.StatusSeeOther)
}

// usersError answers a failed change of another user.
func (h *Handler) usersError(w http.ResponseWriter, r *http.Request, ws store.WebSession, admin store.User, err error) {
	l := h.localizer(r)
	var ve *identity.ValidationError
	switch {
	case errors.Is(err, identity.ErrNotFound):
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
	case errors.Is(err, identity.ErrForbidden):
		h.errorPage(w, r, http.StatusForbidden, "users.forbidden")
	case errors.Is(err, identity.ErrSelf):
		h.renderUsers(w, r, http.StatusBadRequest, ws, admin, &usersData{}, "", l.T("users.self"))
	case errors.As(err, &ve):
		h.renderUsers(w, r, http.StatusBadRequest, ws, admin, &usersData{}, "", l.T("users.invalid.role"))
	default:
		h.internalError(w, r, err)
	}
}

func (h *Handler) UsersRole(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.usersAdmin(w, r, true)
	if !ok {
		return
	}
	if err := h.ID.SetRole(r.Context(), admin, r.PathValue("uid"), store.Role(r.PostForm.Get("role"))); err != nil {
		h.usersError(w, r, ws, admin, err)
		return
	}
	http.Redirect(w, r, usersPath+"?done=role", http.StatusSeeOther)
}

// confirmUser asks once more before an action on another user of the
// admin's organization (the question names them); it reports whether r
// is the confirmation's post, else it has answered.
func (h *Handler) confirmUser(w http.ResponseWriter, r *http.Request, ws store.WebSession, admin store.User, questionKey, effectKey string) bool {
	u, err := h.ID.OrgUser(r.Context(), admin, r.PathValue("uid"))
	if err != nil {
		h.usersError(w, r, ws, admin, err)
		return false
	}
	l := h.localizer(r)
	return h.confirmed(w, r, ws, admin, confirmData{Question: l.T(questionKey, u.UserName), Effect: l.T(effectKey), Cancel: usersPath})
}

// UsersDeactivate ends every credential of a user and refuses new ones.
func (h *Handler) UsersDeactivate(w http.ResponseWriter, r *http.Request) {
	h.usersSetActive(w, r, false, "deactivated")
}

// UsersReactivate lets a deactivated user sign in again.
func (h *Handler) UsersReactivate(w http.ResponseWriter, r *http.Request) {
	h.usersSetActive(w, r, true, "reactivated")
}

func (h *Handler) usersSetActive(w http.ResponseWriter, r *http.Request, active bool, done string) {
	ws, admin, ok := h.usersAdmin(w, r, active || r.Method == http.MethodPost)
	if !ok {
		return
	}
	if !active && !h.confirmUser(w, r, ws, admin, "users.confirm_deactivate", "users.deactivate_effect") {
		return
	}
	if err := h.ID.SetActive(r.Context(), admin, r.PathValue("uid"), active); err != nil {
		h.usersError(w, r, ws, admin, err)
		return
	}
	http.Redirect(w, r, usersPath+"?done="+done, http.StatusSeeOther)
}
