package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/i18n"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// The settings pages for OAuth apps: Settings → Registered OAuth Apps
// (admins manage their organization's apps) and Settings → Authorized
// apps (every user sees and revokes the grants they gave).

// appGrants are the grant types an admin may tick, in form order.
var appGrants = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials, oauth.GrantImplicit}

// appsData is the data of the apps_* pages.
type appsData struct {
	List       []appRow        // apps_list
	Form       *appForm        // apps_form
	Created    *appRow         // apps_created
	Secret     string          // apps_created: the client secret, this once
	Rotated    bool            // apps_created: the secret replaces a rotated one
	Authorized []authorizedApp // apps_authorized
}

type appRow struct {
	ID           string
	Name         string
	Public       bool
	RedirectURIs []string
}

// choice is one checkbox of a group; Text says in plain words what it
// allows (scopes: the catalog's scope.* texts, as on the consent page).
type choice struct {
	ID, Value, Text string
	Checked         bool
}

type appForm struct {
	Action       string // where the form posts
	Edit         bool   // editing an existing app: the client type is fixed
	ClientID     string
	Name         string
	Description  string
	RedirectURIs string // one per line
	Public       bool
	AdminConsent bool
	JWT          bool
	AlwaysFresh  bool
	Grants       []choice
	Scopes       []choice
	Audiences    []choice
	ErrField     string // the field the error is about, for aria-invalid
	ScopesHint   bool   // a new app: say why only some scopes are ticked
}

type authorizedApp struct {
	ClientID    string
	Name        string
	Description string
	Scopes      []scopeLine
	GrantedAt   string
}

// signedIn returns the session, or sends the browser to sign in and back.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, back string) (store.WebSession, store.User, bool) {
	ws, u, ok := h.session(r)
	if !ok {
		http.Redirect(w, r, "/login?"+url.Values{"next": {back}}.Encode(), http.StatusSeeOther)
	}
	return ws, u, ok
}

// postSession checks a settings form post: a session, our origin and the
// session's CSRF token. It writes the response when it returns false.
func (h *Handler) postSession(w http.ResponseWriter, r *http.Request, back string) (store.WebSession, store.User, bool) {
	if !h.parseForm(w, r) {
		return store.WebSession{}, store.User{}, false
	}
	ws, u, ok := h.signedIn(w, r, back)
	if !ok {
		return ws, u, false
	}
	if !h.sameOrigin(r) || !secret.Equal(ws.CSRFToken, r.PostForm.Get("csrf_token")) {
		h.errorPage(w, r, http.StatusForbidden, "error.csrf")
		return ws, u, false
	}
	return ws, u, true
}

// adminPage is the preamble of every admin settings page: a session for a
// GET (back to the page itself after signing in), a CSRF-checked form for
// a POST (back to back), and the ADMIN role, else a 403 page saying
// forbidden (a message key). It writes the response when it returns false.
func (h *Handler) adminPage(w http.ResponseWriter, r *http.Request, post bool, back, forbidden string) (store.WebSession, store.User, bool) {
	var (
		ws store.WebSession
		u  store.User
		ok bool
	)
	if post {
		ws, u, ok = h.postSession(w, r, back)
	} else {
		ws, u, ok = h.signedIn(w, r, r.URL.RequestURI())
	}
	if !ok {
		return ws, u, false
	}
	if u.Role != store.RoleAdmin {
		h.errorPage(w, r, http.StatusForbidden, forbidden)
		return ws, u, false
	}
	return ws, u, true
}

// adminGet is the preamble of the OAuth apps pages' GETs.
func (h *Handler) adminGet(w http.ResponseWriter, r *http.Request) (store.WebSession, store.User, bool) {
	return h.adminPage(w, r, false, "", "apps.forbidden")
}

// adminPost is the preamble of the OAuth apps pages' POSTs.
func (h *Handler) adminPost(w http.ResponseWriter, r *http.Request) (store.WebSession, store.User, bool) {
	return h.adminPage(w, r, true, "/settings/oauth-apps", "apps.forbidden")
}

// orgClient loads an app of the admin's organization; any other id is
// "not found", so admins cannot probe other organizations' apps.
func (h *Handler) orgClient(w http.ResponseWriter, r *http.Request, u store.User) (store.Client, bool) {
	c, err := h.Authz.ClientInOrg(r.Context(), u.OrgUID, r.PathValue("id"))
	switch {
	case errors.Is(err, authz.ErrNoSuchClient):
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return c, false
	case err != nil:
		h.internalError(w, r, err)
		return c, false
	}
	return c, true
}

func (h *Handler) AppsList(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.adminGet(w, r)
	if !ok {
		return
	}
	if f, ok := h.takeFlash(w, r, ws, appsPath, "app"); ok {
		if c, err := h.Authz.ClientInOrg(r.Context(), u.OrgUID, f.ID); err == nil {
			h.renderAppCreated(w, r, ws, u, c, f.Secret, f.Notice == "rotated")
			return
		}
	}
	cs, err := h.Authz.ClientsInOrg(r.Context(), u.OrgUID)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	l := h.localizer(r)
	d := &appsData{}
	for _, c := range cs {
		d.List = append(d.List, appRow{ID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: c.RedirectURIs})
	}
	p := page{L: l, Title: l.T("apps.title"), CSRF: ws.CSRFToken, User: &u, Apps: d}
	switch r.URL.Query().Get("done") {
	case "saved":
		p.Notice = l.T("apps.saved")
	case "deleted":
		p.Notice = l.T("apps.deleted")
	}
	h.render(w, r, http.StatusOK, "apps_list", p)
}

func (h *Handler) AppsNew(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.adminGet(w, r)
	if !ok {
		return
	}
	// A new app starts with the registration defaults ticked; of the
	// scopes only the catalog's defaults (the read-only ones), so that an
	// app that may write or manage a team is an admin's choice.
	f := h.formFrom(store.Client{
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		Scopes:     h.Authz.Config.DefaultScopes, Audiences: h.Authz.Config.Audiences,
	})
	f.ScopesHint = true
	f.Action = "/settings/oauth-apps/new"
	h.renderForm(w, r, http.StatusOK, ws, u, f, "")
}

func (h *Handler) AppsCreate(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.adminPost(w, r)
	if !ok {
		return
	}
	spec := h.specFromForm(r.PostForm)
	spec.OrgUID = u.OrgUID
	spec.Public = r.PostForm.Get("public") == "1"
	c, sec, err := h.Authz.CreateClient(r.Context(), spec)
	if err != nil {
		f := h.formFromSpec(spec, r.PostForm.Get("redirect_uris"))
		f.Action = "/settings/oauth-apps/new"
		h.formError(w, r, ws, u, f, err)
		return
	}
	h.appSecretOnce(w, r, ws, u, c, sec, false)
}

const appsPath = "/settings/oauth-apps"

// appSecretOnce shows an app's client ID and secret once (the secret is
// not stored in the clear): post/redirect/get, the secret carried to the
// list's page by the flash, so a reload creates nothing.
func (h *Handler) appSecretOnce(w http.ResponseWriter, r *http.Request, ws store.WebSession, u store.User, c store.Client, sec string, rotated bool) {
	f := flash{Page: appsPath, Kind: "app", ID: c.ID, Secret: sec}
	if rotated {
		f.Notice = "rotated"
	}
	if h.redirectWithFlash(w, r, ws, f, "?done=created") {
		return
	}
	h.renderAppCreated(w, r, ws, u, c, sec, rotated)
}

// renderAppCreated is the page showing the secret (no-store, as every page).
func (h *Handler) renderAppCreated(w http.ResponseWriter, r *http.Request, ws store.WebSession, u store.User, c store.Client, sec string, rotated bool) {
	l := h.localizer(r)
	title := l.T("apps.created.title")
	if rotated {
		title = l.T("apps.rotated.title")
	}
	h.render(w, r, http.StatusOK, "apps_created", page{L: l, Title: title, CSRF: ws.CSRFToken, User: &u,
		Apps: &appsData{Created: &appRow{ID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: c.RedirectURIs}, Secret: sec, Rotated: rotated}})
}

// AppsRotateSecret asks once more (a GET, or a POST without confirm),
// then gives a confidential app a new client secret, shown once as a new
// app's is. The old secret stops at once (authz.RotateClientSecret).
func (h *Handler) AppsRotateSecret(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.adminPage(w, r, r.Method == http.MethodPost, appsPath, "apps.forbidden")
	if !ok {
		return
	}
	c, ok := h.orgClient(w, r, u)
	if !ok {
		return
	}
	if c.Public {
		h.errorPage(w, r, http.StatusBadRequest, "apps.no_secret")
		return
	}
	l := h.localizer(r)
	if !h.confirmed(w, r, ws, u, confirmData{Question: l.T("apps.rotate_confirm", c.Name),
		Effect: l.T("apps.rotate_effect"), Cancel: appsPath + "/" + url.PathEscape(c.ID)}) {
		return
	}
	sec, err := h.Authz.RotateClientSecret(r.Context(), c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound): // deleted meanwhile
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	h.appSecretOnce(w, r, ws, u, c, sec, true)
}

func (h *Handler) AppsEdit(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.adminGet(w, r)
	if !ok {
		return
	}
	c, ok := h.orgClient(w, r, u)
	if !ok {
		return
	}
	f := h.formFrom(c)
	f.Edit, f.ClientID, f.Action = true, c.ID, "/settings/oauth-apps/"+url.PathEscape(c.ID)
	h.renderForm(w, r, http.StatusOK, ws, u, f, "")
}

func (h *Handler) AppsUpdate(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.adminPost(w, r)
	if !ok {
		return
	}
	c, ok := h.orgClient(w, r, u)
	if !ok {
		return
	}
	spec := h.specFromForm(r.PostForm)
	spec.OrgUID, spec.Public = c.OrgUID, c.Public
	if _, err := h.Authz.UpdateClient(r.Context(), c.ID, spec); err != nil {
		f := h.formFromSpec(spec, r.PostForm.Get("redirect_uris"))
		f.Edit, f.ClientID, f.Action = true, c.ID, "/settings/oauth-apps/"+url.PathEscape(c.ID)
		h.formError(w, r, ws, u, f, err)
		return
	}
	http.Redirect(w, r, "/settings/oauth-apps?done=saved", http.StatusSeeOther)
}

// AppsDelete asks once more (GET, or a POST without confirm), then
// deletes the app.
func (h *Handler) AppsDelete(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.adminPage(w, r, r.Method == http.MethodPost, "/settings/oauth-apps", "apps.forbidden")
	if !ok {
		return
	}
	c, ok := h.orgClient(w, r, u)
	if !ok {
		return
	}
	l := h.localizer(r)
	if !h.confirmed(w, r, ws, u, confirmData{Question: l.T("apps.confirm_delete", c.Name),
		Effect: l.T("apps.delete_note"), Cancel: "/settings/oauth-apps"}) {
		return
	}
	// DeleteClient takes the app's codes, tokens and consents with it.
	if err := h.Authz.DeleteClient(r.Context(), c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		h.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/oauth-apps?done=deleted", http.StatusSeeOther)
}

// specFromForm reads the registration form. Public is left to the caller:
// it is chosen only when the app is created.
// No scope ticked means the catalog's default scopes (apps.scopes_if_none),
// not authz's default of the whole catalog: unticking everything must not
// give an app write access.
func (h *Handler) specFromForm(f url.Values) authz.ClientSpec {
	scopes := f["scopes"]
	if len(scopes) == 0 {
		scopes = slices.Clone(h.Authz.Config.DefaultScopes)
	}
	return authz.ClientSpec{
		Name:            f.Get("name"),
		Description:     strings.TrimSpace(f.Get("description")),
		RedirectURIs:    strings.FieldsFunc(f.Get("redirect_uris"), func(r rune) bool { return r == '\n' || r == '\r' }),
		GrantTypes:      f["grant_types"],
		Scopes:          scopes,
		Audiences:       f["audiences"],
		AdminConsent:    f.Get("admin_consent") == "1",
		JWTAccessTokens: f.Get("jwt_access_tokens") == "1",
		AlwaysRefresh:   f.Get("always_refresh") == "1",
	}
}

func (h *Handler) formFrom(c store.Client) *appForm {
	return h.formFromSpec(authz.ClientSpec{
		Name: c.Name, Description: c.Description, RedirectURIs: c.RedirectURIs, GrantTypes: c.GrantTypes,
		Scopes: c.Scopes, Audiences: c.Audiences, Public: c.Public, AdminConsent: c.AdminConsent,
		JWTAccessTokens: c.JWTAccessTokens, AlwaysRefresh: c.AlwaysRefresh,
	}, strings.Join(c.RedirectURIs, "\n"))
}

// formFromSpec fills the form from what was submitted (or stored), so a
// rejected form comes back with the admin's input.
func (h *Handler) formFromSpec(s authz.ClientSpec, uris string) *appForm {
	f := &appForm{
		Name: s.Name, Description: s.Description, RedirectURIs: uris, Public: s.Public,
		AdminConsent: s.AdminConsent, JWT: s.JWTAccessTokens, AlwaysFresh: s.AlwaysRefresh,
	}
	group := func(prefix string, all, on []string) []choice {
		out := make([]choice, 0, len(all))
		for _, v := range all {
			out = append(out, choice{ID: prefix + v, Value: v, Checked: slices.Contains(on, v)})
		}
		return out
	}
	f.Grants = group("grant_", appGrants, s.GrantTypes)
	f.Scopes = group("scope_", h.Authz.Config.Scopes, s.Scopes)
	f.Audiences = group("audience_", h.Authz.Config.Audiences, s.Audiences)
	return f
}

func (h *Handler) renderForm(w http.ResponseWriter, r *http.Request, status int, ws store.WebSession, u store.User, f *appForm, msg string) {
	l := h.localizer(r)
	title := l.T("apps.new.title")
	if f.Edit {
		title = l.T("apps.edit.title", f.Name)
	}
	for i, c := range f.Scopes {
		f.Scopes[i].Text = scopeText(l, c.Value)
	}
	h.render(w, r, status, "apps_form", page{L: l, Title: title, CSRF: ws.CSRFToken, User: &u, Error: msg, Apps: &appsData{Form: f}})
}

// fieldLabels are the catalog keys of the form fields authz names.
var fieldLabels = map[string]string{
	"name":          "apps.name",
	"description":   "apps.description",
	"redirect_uris": "apps.redirect_uris",
	"grant_types":   "apps.grant_types",
	"scopes":        "apps.scopes",
	"audiences":     "apps.audiences",
}

func (h *Handler) formError(w http.ResponseWriter, r *http.Request, ws store.WebSession, u store.User, f *appForm, err error) {
	var fe *authz.FieldError
	if !errors.As(err, &fe) {
		h.internalError(w, r, err)
		return
	}
	l := h.localizer(r)
	label := fe.Field
	if k, ok := fieldLabels[fe.Field]; ok {
		label = l.T(k)
	}
	f.ErrField = fe.Field
	// The detail in the page's language: apps.err.<code>, with the value
	// at fault when there is one. authz's English Message is for the CLI.
	detail := fe.Message
	switch {
	case fe.Code != "" && fe.Arg != "":
		detail = l.T("apps.err."+fe.Code, fe.Arg)
	case fe.Code != "":
		detail = l.T("apps.err." + fe.Code)
	}
	status := http.StatusBadRequest
	if fe.Code == "name_taken" {
		status = http.StatusConflict
	}
	h.renderForm(w, r, status, ws, u, f, l.T("apps.invalid", label, detail))
}

// AuthorizedApps lists the apps the user has granted access to, of any
// organization.
func (h *Handler) AuthorizedApps(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.signedIn(w, r, r.URL.RequestURI())
	if !ok {
		return
	}
	as, err := h.Authz.Authorizations(r.Context(), u.UID)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	l := h.localizer(r)
	d := &appsData{}
	for _, a := range as {
		d.Authorized = append(d.Authorized, authorizedApp{
			ClientID: a.Client.ID, Name: a.Client.Name, Description: a.Client.Description,
			Scopes: scopeLines(l, a.Consent.Scopes), GrantedAt: l.DateTime(a.Consent.GrantedAt),
		})
	}
	p := page{L: l, Title: l.T("authorized.title"), CSRF: ws.CSRFToken, User: &u, Apps: d}
	if r.URL.Query().Get("done") == "revoked" {
		p.Notice = l.T("authorized.revoked")
	}
	h.render(w, r, http.StatusOK, "apps_authorized", p)
}

// RevokeApp withdraws the user's consent to an app and ends every token
// the app holds for the user (RFC 9700: users can revoke grants; T29), so
// the app loses access at once and the next authorization asks again.
func (h *Handler) RevokeApp(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.sessionFor(w, r, "/settings/authorized-apps")
	if !ok {
		return
	}
	if !store.ValidText(r.PathValue("id")) {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound") // no app has such an id (T43)
		return
	}
	// The confirmation names the app as the list does; an app the user
	// has not authorized is not found.
	as, err := h.Authz.Authorizations(r.Context(), u.UID)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	confirmedPost := r.Method == http.MethodPost && r.PostForm.Get("confirm") == "1"
	i := slices.IndexFunc(as, func(a authz.Authorization) bool { return a.Client.ID == r.PathValue("id") })
	if i < 0 && !confirmedPost { // a confirmed one may have gone meanwhile: revoking again is harmless
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	if !confirmedPost {
		l := h.localizer(r)
		h.confirmed(w, r, ws, u, confirmData{Question: l.T("authorized.confirm_revoke", as[i].Client.Name),
			Effect: l.T("authorized.tokens_note"), Cancel: "/settings/authorized-apps"})
		return
	}
	// Keyed by the signed-in user, so nobody can revoke another user's
	// authorization; an unknown one is already gone.
	if _, err := h.Authz.RevokeAuthorization(r.Context(), u.UID, r.PathValue("id")); err != nil {
		h.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/authorized-apps?done=revoked", http.StatusSeeOther)
}

func scopeLines(l i18n.Localizer, scopes []string) []scopeLine {
	out := make([]scopeLine, 0, len(scopes))
	for _, sc := range scopes {
		out = append(out, scopeLine{Name: sc, Text: scopeText(l, sc)})
	}
	return out
}

// scopeText says in plain words what a scope allows (catalog key
// scope.<name>), or "" for a scope the catalogs do not describe.
func scopeText(l i18n.Localizer, scope string) string {
	if text := l.T("scope." + scope); text != "scope."+scope {
		return text
	}
	return ""
}
