package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/core/pat"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/i18n"
	"github.com/tolk-project/tolk/internal/store"
)

// Settings → Sessions (SPEC §8): the signed-in user's web sessions (device,
// address, signed in, last seen; this one marked), ApiTokens and personal
// access tokens (also those made through /v2/authorizations), each with
// Revoke, and Sign out everywhere. Every one of these posts asks once more
// (SPEC §5): the first post answers with a page naming what will go and a
// Confirm button, which posts again with confirm=1; nothing changes before.

const sessionsPath = "/settings/sessions"

// patListLimit is how many personal access tokens the page lists.
const patListLimit = 100

// sessionsData is the data of the sessions page.
type sessionsData struct {
	Web       []webSessionRow
	WebMore   int // sessions not listed
	APITokens []apiTokenRow
	APIMore   int
	PATs      []patRow
	PATMore   int
	ShowPATs  bool
	// Confirm, when set, is the page asking once more.
	Confirm *sessionsConfirm
}

type webSessionRow struct {
	ID, Device, UserAgent, Address, SignedIn, LastSeen string
	Current                                            bool
}

type apiTokenRow struct{ ID, Created, Expires, LastUsed string }

type patRow struct{ ID, Note, LastEight, Created, LastUsed, Expires string }

// sessionsConfirm is the confirmation of one revocation or of signing out
// everywhere: what goes, and where Confirm posts.
type sessionsConfirm struct {
	Action   string // the form's path
	Question string // "Revoke the session Chrome on Linux …?"
	Effect   string // what happens then
}

// device returns where r comes from, for the sessions page.
func device(r *http.Request) identity.Device {
	return identity.Device{Address: httpx.ClientIP(r.Context()), UserAgent: r.UserAgent()}
}

// when is a time in the page language's layout, "" for never.
func when(l i18n.Localizer, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return l.DateTime(t)
}

func (h *Handler) SessionsPage(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.signedIn(w, r, sessionsPath)
	if !ok {
		return
	}
	notice := ""
	switch r.URL.Query().Get("done") {
	case "revoked":
		notice = "sessions.revoked"
	}
	h.renderSessions(w, r, http.StatusOK, ws, u, nil, notice)
}

// sessionsList reads what the page lists.
func (h *Handler) sessionsList(r *http.Request, ws store.WebSession, u store.User) (*sessionsData, error) {
	l := h.localizer(r)
	list, err := h.ID.Sessions(r.Context(), u, ws)
	if err != nil {
		return nil, err
	}
	d := &sessionsData{WebMore: list.WebTotal - len(list.Web), APIMore: list.APITotal - len(list.APITokens), ShowPATs: h.PATs != nil}
	for _, s := range list.Web {
		d.Web = append(d.Web, webSessionRow{ID: s.ID, Device: deviceName(l.T, s), UserAgent: s.UserAgent, Address: s.Address,
			SignedIn: when(l, s.SignedIn), LastSeen: when(l, s.LastSeen), Current: s.Current})
	}
	for _, t := range list.APITokens {
		d.APITokens = append(d.APITokens, apiTokenRow{ID: t.ID, Created: when(l, t.Created), Expires: when(l, t.Expires), LastUsed: when(l, t.LastUsed)})
	}
	if h.PATs != nil {
		pats, total, err := h.PATs.List(r.Context(), u, 0, patListLimit)
		if err != nil {
			return nil, err
		}
		d.PATMore = total - len(pats)
		for _, t := range pats {
			d.PATs = append(d.PATs, patRow{ID: t.ID, Note: t.Note, LastEight: t.LastEight, Created: when(l, t.CreatedAt),
				LastUsed: when(l, t.LastUsedAt), Expires: when(l, t.ExpiresAt)})
		}
	}
	return d, nil
}

// deviceName is "Chrome on Linux", in the page's language.
func deviceName(t func(string, ...any) string, s identity.WebSessionInfo) string {
	if s.Browser == "" && s.System == "" {
		return t("sessions.device.unknown")
	}
	b, sys := s.Browser, s.System
	if b == "" {
		b = t("sessions.device.unknown_browser")
	}
	if sys == "" {
		sys = t("sessions.device.unknown_system")
	}
	return t("sessions.device", b, sys)
}

// renderSessions renders the page, or its confirmation when c is set.
func (h *Handler) renderSessions(w http.ResponseWriter, r *http.Request, status int, ws store.WebSession, u store.User, c *sessionsConfirm, noticeKey string) {
	d, err := h.sessionsList(r, ws, u)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	d.Confirm = c
	l := h.localizer(r)
	p := page{L: l, Title: l.T("sessions.title"), CSRF: ws.CSRFToken, User: &u, Sessions: d}
	if noticeKey != "" {
		p.Notice = l.T(noticeKey)
	}
	h.render(w, r, status, "sessions", p)
}

// SessionsRevoke ends one web session, ApiToken or personal access token
// of the signed-in user ({kind}: session, api-token, pat). Another
// user's, or an unknown one, is 404 and nothing changes.
func (h *Handler) SessionsRevoke(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.postSession(w, r, sessionsPath)
	if !ok {
		return
	}
	kind, id := r.PathValue("kind"), r.PathValue("id")
	if !store.ValidText(id) {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	d, err := h.sessionsList(r, ws, u)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	l := h.localizer(r)
	// What goes, named as the list names it; not in the list (another
	// user's, unknown, or beyond the listed ones): not found.
	var question, effect string
	current := false
	switch kind {
	case "session":
		for _, s := range d.Web {
			if s.ID == id {
				question = l.T("sessions.confirm.session", s.Device, s.Address, s.SignedIn)
				effect, current = l.T("sessions.confirm.session_effect"), s.Current
				if current {
					effect = l.T("sessions.confirm.current_effect")
				}
			}
		}
	case "api-token":
		for _, t := range d.APITokens {
			if t.ID == id {
				question, effect = l.T("sessions.confirm.api_token", t.Created), l.T("sessions.confirm.api_token_effect")
			}
		}
	case "pat":
		for _, t := range d.PATs {
			if t.ID == id {
				question, effect = l.T("sessions.confirm.pat", t.Note, t.LastEight), l.T("sessions.confirm.pat_effect")
			}
		}
	}
	if question == "" {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	if r.PostForm.Get("confirm") != "1" {
		h.renderSessions(w, r, http.StatusOK, ws, u, &sessionsConfirm{Action: r.URL.Path, Question: question, Effect: effect}, "")
		return
	}
	switch kind {
	case "session":
		err = h.ID.RevokeSession(r.Context(), u, id)
	case "api-token":
		err = h.ID.RevokeAPITokenOf(r.Context(), u, id)
	case "pat":
		if err = h.PATs.Delete(r.Context(), u, id); errors.Is(err, pat.ErrNotFound) {
			err = identity.ErrSessionNotFound
		}
	}
	switch {
	case errors.Is(err, identity.ErrSessionNotFound): // revoked meanwhile
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	if current {
		h.setCookie(w, "tolk_session", "", -1)
		http.Redirect(w, r, "/login?logged_out=1", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, sessionsPath+"?done=revoked", http.StatusSeeOther)
}

// SessionsSignOutEverywhere ends every web session of the signed-in user,
// this one too, and every ApiToken; personal access tokens and API keys
// stay.
func (h *Handler) SessionsSignOutEverywhere(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.postSession(w, r, sessionsPath)
	if !ok {
		return
	}
	if r.PostForm.Get("confirm") != "1" {
		l := h.localizer(r)
		h.renderSessions(w, r, http.StatusOK, ws, u, &sessionsConfirm{Action: r.URL.Path,
			Question: l.T("sessions.confirm.everywhere"), Effect: l.T("sessions.confirm.everywhere_effect")}, "")
		return
	}
	if err := h.ID.SignOutEverywhere(r.Context(), u); err != nil {
		h.internalError(w, r, err)
		return
	}
	h.setCookie(w, "tolk_session", "", -1)
	http.Redirect(w, r, "/login?logged_out=1", http.StatusSeeOther)
}
