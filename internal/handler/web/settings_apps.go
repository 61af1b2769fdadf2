package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

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
	Authorized []authorizedApp // apps_authorized
}

type appRow struct {
	ID           string
	Name         string
	Public       bool
	RedirectURIs []string
}

// choice is one checkbox of a group.
type choice struct {
	ID, Value string
	Checked   bool
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
	// A new app starts with the registration defaults ticked.
	f := h.formFrom(store.Client{
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		Scopes:     h.Authz.Config.Scopes, Audiences: h.Authz.Config.Audiences,
	})
	f.Action = "/settings/oauth-apps/new"
	h.renderForm(w, r, http.StatusOK, ws, u, f, "")
}

func (h *Handler) AppsCreate(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.adminPost(w, r)
	if !ok {
		return
	}
	spec := specFromForm(r.PostForm)
	spec.OrgUID = u.OrgUID
	spec.Public = r.PostForm.Get("public") == "1"
	c, sec, err := h.Authz.CreateClient(r.Context(), spec)
	if err != nil {
		f := h.formFromSpec(spec, r.PostForm.Get("redirect_uris"))
		f.Action = "/settings/oauth-apps/new"
		h.formError(w, r, ws, u, f, err)
		return
	}
	l := h.localizer(r)
	// The secret is shown on this response only: it is not stored in the
	// clear, and render marks the page no-store.
	h.render(w, r, http.StatusOK, "apps_created", page{L: l, Title: l.T("apps.created.title"), CSRF: ws.CSRFToken, User: &u,
		Apps: &appsData{Created: &appRow{ID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: c.RedirectURIs}, Secret: sec}})
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
	spec := specFromForm(r.PostForm)
	spec.OrgUID, spec.Public = c.OrgUID, c.Public
	if _, err := h.Authz.UpdateClient(r.Context(), c.ID, spec); err != nil {
		f := h.formFromSpec(spec, r.PostForm.Get("redirect_uris"))
		f.Edit, f.ClientID, f.Action = true, c.ID, "/settings/oauth-apps/"+url.PathEscape(c.ID)
		h.formError(w, r, ws, u, f, err)
		return
	}
	http.Redirect(w, r, "/settings/oauth-apps?done=saved", http.StatusSeeOther)
}

func (h *Handler) AppsDelete(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.adminPost(w, r)
	if !ok {
		return
	}
	c, ok := h.orgClient(w, r, u)
	if !ok {
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
func specFromForm(f url.Values) authz.ClientSpec {
	return authz.ClientSpec{
		Name:            f.Get("name"),
		Description:     strings.TrimSpace(f.Get("description")),
		RedirectURIs:    strings.FieldsFunc(f.Get("redirect_uris"), func(r rune) bool { return r == '\n' || r == '\r' }),
		GrantTypes:      f["grant_types"],
		Scopes:          f["scopes"],
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
	// authz's detail (which URI, which scope) is English only: FieldError
	// carries no message key.
	h.renderForm(w, r, http.StatusBadRequest, ws, u, f, l.T("apps.invalid", label, fe.Message))
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
			Scopes: scopeLines(l, a.Consent.Scopes), GrantedAt: a.Consent.GrantedAt.UTC().Format(time.DateTime + " UTC"),
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
	_, u, ok := h.postSession(w, r, "/settings/authorized-apps")
	if !ok {
		return
	}
	if !store.ValidText(r.PathValue("id")) {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound") // no app has such an id (T43)
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
		text := l.T("scope." + sc)
		if text == "scope."+sc {
			text = ""
		}
		out = append(out, scopeLine{Name: sc, Text: text})
	}
	return out
}
