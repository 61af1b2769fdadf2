package web

import (
	"errors"
	"net/http"
	"slices"

	"github.com/tolk-project/tolk/internal/core/apikey"
	"github.com/tolk-project/tolk/internal/store"
)

// Admin → API keys (/settings/api-keys): an ADMIN creates ProZ API keys
// for the users of their organization (each shown once), lists them and
// revokes them.

// apiKeysData is the data of the api_keys page.
type apiKeysData struct {
	Keys     []apiKeyRow
	Users    []store.User // the organization's active users, for the form
	Selected string       // the user the form is for
	Note     string
	NewKey   string // the key just created, shown this once
}

type apiKeyRow struct {
	ID, UserName, Note, CreatedAt, RevokedAt string
}

const apiKeysPath = "/settings/api-keys"

func (h *Handler) apiKeysAdmin(w http.ResponseWriter, r *http.Request, post bool) (store.WebSession, store.User, bool) {
	if h.APIKeys == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return store.WebSession{}, store.User{}, false
	}
	return h.adminPage(w, r, post, apiKeysPath, "apikeys.forbidden")
}

// renderAPIKeys renders the page for admin with d's form state.
func (h *Handler) renderAPIKeys(w http.ResponseWriter, r *http.Request, status int, ws store.WebSession, admin store.User, d *apiKeysData, notice, msg string) {
	users, err := h.ID.OrgUsers(r.Context(), admin)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	names := map[string]string{} // every key listed is of a user of the organization
	for _, u := range users {
		names[u.UID] = u.UserName
		if u.Active {
			d.Users = append(d.Users, u)
		}
	}
	keys, err := h.APIKeys.List(r.Context(), admin.OrgUID)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	loc := h.localizer(r)
	for _, k := range keys {
		row := apiKeyRow{ID: k.ID, UserName: names[k.UserUID], Note: k.Note, CreatedAt: loc.DateTime(k.CreatedAt)}
		if !k.RevokedAt.IsZero() {
			row.RevokedAt = loc.DateTime(k.RevokedAt)
		}
		d.Keys = append(d.Keys, row)
	}
	l := h.localizer(r)
	h.render(w, r, status, "api_keys", page{L: l, Title: l.T("apikeys.title"), CSRF: ws.CSRFToken, User: &admin,
		Notice: notice, Error: msg, APIKeys: d})
}

func (h *Handler) APIKeysList(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.apiKeysAdmin(w, r, false)
	if !ok {
		return
	}
	notice := ""
	if r.URL.Query().Get("done") == "revoked" {
		notice = h.localizer(r).T("apikeys.revoked")
	}
	d := &apiKeysData{}
	if f, ok := h.takeFlash(w, r, ws, apiKeysPath, "apikey"); ok {
		d.NewKey = f.Secret
	}
	h.renderAPIKeys(w, r, http.StatusOK, ws, u, d, notice, "")
}

func (h *Handler) APIKeysCreate(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.apiKeysAdmin(w, r, true)
	if !ok {
		return
	}
	l := h.localizer(r)
	d := &apiKeysData{Selected: r.PostForm.Get("user"), Note: r.PostForm.Get("note")}
	k, key, err := h.APIKeys.CreateInOrg(r.Context(), admin.OrgUID, d.Selected, d.Note)
	switch {
	case errors.Is(err, apikey.ErrUnknownUser):
		h.renderAPIKeys(w, r, http.StatusBadRequest, ws, admin, d, "", l.T("apikeys.bad_user"))
		return
	case errors.Is(err, apikey.ErrNoteInvalid):
		h.renderAPIKeys(w, r, http.StatusBadRequest, ws, admin, d, "", l.T("apikeys.bad_note"))
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	// Post/redirect/get: the key is shown once, on the page this
	// redirects to (flash.go), so a reload creates nothing.
	if h.redirectWithFlash(w, r, ws, flash{Page: apiKeysPath, Kind: "apikey", ID: k.ID, Secret: key}, "?done=created") {
		return
	}
	h.renderAPIKeys(w, r, http.StatusOK, ws, admin, &apiKeysData{NewKey: key, Selected: k.UserUID}, "", "")
}

func (h *Handler) APIKeysRevoke(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.apiKeysAdmin(w, r, r.Method == http.MethodPost)
	if !ok {
		return
	}
	// The confirmation names the key's user and note; a key of another
	// organization, or one revoked already, is not found.
	keys, err := h.APIKeys.List(r.Context(), admin.OrgUID)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	i := slices.IndexFunc(keys, func(k store.APIKey) bool { return k.ID == r.PathValue("id") && k.RevokedAt.IsZero() })
	if i < 0 {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	owner := keys[i].UserUID
	if users, err := h.ID.OrgUsers(r.Context(), admin); err == nil {
		if j := slices.IndexFunc(users, func(u store.User) bool { return u.UID == owner }); j >= 0 {
			owner = users[j].UserName
		}
	}
	l := h.localizer(r)
	if !h.confirmed(w, r, ws, admin, confirmData{Question: l.T("apikeys.confirm_revoke", keys[i].ID, owner),
		Effect: l.T("apikeys.revoke_effect"), Cancel: apiKeysPath}) {
		return
	}
	err = h.APIKeys.Revoke(r.Context(), admin.OrgUID, r.PathValue("id"))
	switch {
	case errors.Is(err, apikey.ErrNotFound):
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, apiKeysPath+"?done=revoked", http.StatusSeeOther)
}
