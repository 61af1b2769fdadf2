package web

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/tolk-project/tolk/internal/core/platform"
	"github.com/tolk-project/tolk/internal/kit/i18n"
	"github.com/tolk-project/tolk/internal/store"
)

// Settings → Access Tokens (SPEC §3.5, §5): every signed-in user creates,
// lists and revokes their Platform API tokens. A new token is shown once,
// on the response to the form that created it (no-store); a small script
// adds a copy button, and without JavaScript the token is a read-only field
// to select and copy.

const tokensPath = "/settings/access-tokens"

// tokensData is the data of the tokens page.
type tokensData struct {
	List      []tokenRow
	Name      string // the form's input, kept when it is rejected
	Expires   string
	ErrField  string // name or expires, for aria-invalid
	Created   *tokenRow
	NewSecret string // the new token, this once
	NewID     string // its id, from the flash
	MinDate   string // the earliest expiry date the form accepts (YYYY-MM-DD)
}

type tokenRow struct {
	ID        string
	Name      string
	LastEight string
	Created   string
	LastUsed  string // "" if never
	Expires   string // "" if never
	Expired   bool
}

// dateLayout is the format of <input type="date">.
const dateLayout = "2006-01-02"

func tokenRowOf(l i18n.Localizer, t store.PlatformToken, now time.Time) tokenRow {
	r := tokenRow{ID: t.ID, Name: t.Name, LastEight: t.LastEight, Created: l.DateTime(t.CreatedAt),
		Expired: platform.Expired(t, now)}
	if !t.LastUsedAt.IsZero() {
		r.LastUsed = l.DateTime(t.LastUsedAt)
	}
	if !t.ExpiresAt.IsZero() {
		r.Expires = l.DateTime(t.ExpiresAt)
	}
	return r
}

func (h *Handler) tokensEnabled(w http.ResponseWriter, r *http.Request) bool {
	if h.Platform == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return false
	}
	return true
}

func (h *Handler) TokensPage(w http.ResponseWriter, r *http.Request) {
	if !h.tokensEnabled(w, r) {
		return
	}
	ws, u, ok := h.signedIn(w, r, r.URL.RequestURI())
	if !ok {
		return
	}
	notice := ""
	if r.URL.Query().Get("done") == "revoked" {
		notice = "tokens.revoked"
	}
	d := &tokensData{}
	if f, ok := h.takeFlash(w, r, ws, tokensPath, "token"); ok {
		d.NewID, d.NewSecret = f.ID, f.Secret
	}
	h.renderTokens(w, r, http.StatusOK, ws, u, d, "", notice)
}

// renderTokens renders the page with the user's current list.
func (h *Handler) renderTokens(w http.ResponseWriter, r *http.Request, status int, ws store.WebSession, u store.User, d *tokensData, errKey, noticeKey string) {
	list, err := h.Platform.List(r.Context(), u.UID)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	now := h.Platform.Now()
	d.List = d.List[:0]
	for _, t := range list {
		d.List = append(d.List, tokenRowOf(h.localizer(r), t, now))
		if d.NewID != "" && t.ID == d.NewID {
			d.Created = &d.List[len(d.List)-1]
		}
	}
	if d.Created == nil {
		d.NewSecret = "" // revoked meanwhile: nothing to show
	}
	d.MinDate = now.UTC().Format(dateLayout)
	l := h.localizer(r)
	p := page{L: l, Title: l.T("tokens.title"), CSRF: ws.CSRFToken, User: &u, Tokens: d}
	if errKey != "" {
		p.Error = l.T(errKey)
	}
	if noticeKey != "" {
		p.Notice = l.T(noticeKey)
	}
	h.render(w, r, status, "tokens", p)
}

// tokenErrors maps the domain's validation errors to a field and message.
var tokenErrors = []struct {
	err        error
	field, key string
}{
	{platform.ErrNameRequired, "name", "tokens.err.name_required"},
	{platform.ErrNameTooLong, "name", "tokens.err.name_long"},
	{platform.ErrNameInvalid, "name", "tokens.err.name_invalid"},
	{platform.ErrExpiryPast, "expires", "tokens.err.expiry_past"},
}

func (h *Handler) TokensCreate(w http.ResponseWriter, r *http.Request) {
	if !h.tokensEnabled(w, r) {
		return
	}
	ws, u, ok := h.postSession(w, r, tokensPath)
	if !ok {
		return
	}
	d := &tokensData{Name: r.PostForm.Get("name"), Expires: r.PostForm.Get("expires")}
	// The expiry is a date: the token is valid through that whole day
	// (UTC) and expires at the midnight that ends it.
	var expires time.Time
	if d.Expires != "" {
		day, err := time.Parse(dateLayout, d.Expires)
		if err != nil {
			d.ErrField = "expires"
			h.renderTokens(w, r, http.StatusBadRequest, ws, u, d, "tokens.err.expiry_format", "")
			return
		}
		expires = day.AddDate(0, 0, 1)
	}
	c, err := h.Platform.Create(r.Context(), u, d.Name, expires)
	if err != nil {
		for _, te := range tokenErrors {
			if errors.Is(err, te.err) {
				d.ErrField = te.field
				h.renderTokens(w, r, http.StatusBadRequest, ws, u, d, te.key, "")
				return
			}
		}
		h.internalError(w, r, err)
		return
	}
	// Post/redirect/get: the token is shown once, on the page this
	// redirects to (flash.go), so a reload creates nothing.
	if h.redirectWithFlash(w, r, ws, flash{Page: tokensPath, Kind: "token", ID: c.Token.ID, Secret: c.Secret}, "?done=created") {
		return
	}
	row := tokenRowOf(h.localizer(r), c.Token, h.Platform.Now())
	h.renderTokens(w, r, http.StatusOK, ws, u, &tokensData{Created: &row, NewSecret: c.Secret}, "", "")
}

func (h *Handler) TokensRevoke(w http.ResponseWriter, r *http.Request) {
	if !h.tokensEnabled(w, r) {
		return
	}
	ws, u, ok := h.sessionFor(w, r, tokensPath)
	if !ok {
		return
	}
	// Keyed by the signed-in user: another user's token is "not found",
	// as is an id no token could have (T43).
	id := r.PathValue("id")
	list, err := h.Platform.List(r.Context(), u.UID)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	i := slices.IndexFunc(list, func(t store.PlatformToken) bool { return t.ID == id })
	if i < 0 || !store.ValidText(id) {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	l := h.localizer(r)
	if !h.confirmed(w, r, ws, u, confirmData{Question: l.T("tokens.confirm_revoke", list[i].Name, list[i].LastEight),
		Effect: l.T("tokens.revoke_note"), Cancel: tokensPath}) {
		return
	}
	err = h.Platform.Revoke(r.Context(), u.UID, id)
	switch {
	case errors.Is(err, platform.ErrNotFound):
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, tokensPath+"?done=revoked", http.StatusSeeOther)
}
