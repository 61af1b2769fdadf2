package web

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// Secrets shown once, and post/redirect/get (SPEC §5: reloading the page
// that shows a secret creates nothing new). The form that creates an
// access token, an app, an API key or recovery codes answers with a 303 to
// its page; the secret travels to that page in a flash: a cookie sealed
// with the instance's secret key (the key every instance shares, so the
// GET may reach any instance; docs/scale-out.md: no sticky sessions),
// bound by its associated data to the session and the page, valid for
// flashTTL by the server's clock, and cleared by the page that shows it.
// The secret is never in a URL (logs, history, Referer); the cookie is
// HttpOnly, and no page is cached (no-store).

const (
	flashCookie = "tolk_flash"
	flashTTL    = 2 * time.Minute
)

// flash is what one page shows once.
type flash struct {
	Page    string   `json:"p"` // the path that shows it
	Kind    string   `json:"k"` // token, app, apikey, codes, link
	ID      string   `json:"i,omitempty"`
	Secret  string   `json:"s,omitempty"`
	Codes   []string `json:"c,omitempty"`
	Notice  string   `json:"n,omitempty"` // a message key
	Name    string   `json:"a,omitempty"` // whom a one-time link is for
	Until   string   `json:"u,omitempty"` // when it expires, as shown
	Expires int64    `json:"e"`
}

// flashAD binds a sealed flash to the session (its CSRF token is a
// secret of the session) and the page.
func flashAD(ws store.WebSession, page string) []byte {
	return []byte("tolk-flash\x00" + ws.CSRFToken + "\x00" + page)
}

// redirectWithFlash hands f to the page f.Page and redirects there with
// query (e.g. "?done=created"). Without a sealer (a handler built without
// one) it reports false and the caller renders the secret itself.
func (h *Handler) redirectWithFlash(w http.ResponseWriter, r *http.Request, ws store.WebSession, f flash, query string) bool {
	if h.Sealer == nil {
		return false
	}
	f.Expires = h.ID.Now().Add(flashTTL).Unix()
	raw, err := json.Marshal(f)
	if err != nil {
		return false
	}
	sealed, err := h.Sealer.Seal(raw, flashAD(ws, f.Page))
	if err != nil {
		return false
	}
	h.setCookie(w, flashCookie, base64.RawURLEncoding.EncodeToString(sealed), int(flashTTL.Seconds()))
	http.Redirect(w, r, f.Page+query, http.StatusSeeOther)
	return true
}

// takeFlash returns the flash of kind for this page and session, once:
// the cookie is cleared whatever it held.
func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request, ws store.WebSession, page, kind string) (flash, bool) {
	c := h.cookie(r, flashCookie)
	if c == "" || h.Sealer == nil {
		return flash{}, false
	}
	h.setCookie(w, flashCookie, "", -1)
	sealed, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return flash{}, false
	}
	raw, err := h.Sealer.Open(sealed, flashAD(ws, page))
	if err != nil {
		return flash{}, false
	}
	var f flash
	if json.Unmarshal(raw, &f) != nil || f.Page != page || f.Kind != kind || h.ID.Now().Unix() > f.Expires {
		return flash{}, false
	}
	return f, true
}
