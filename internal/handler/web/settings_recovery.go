package web

import (
	"net/http"

	"github.com/tolk-project/tolk/internal/kit/httpx"
)

// TwoFactorRegenerate replaces every recovery code with a new set after
// the current password (SPEC §8) and shows the new codes once.
func (h *Handler) TwoFactorRegenerate(w http.ResponseWriter, r *http.Request) {
	ws, u, ok := h.postSession(w, r, "/settings/two-factor")
	if !ok {
		return
	}
	if h.ID.TwoFactor == nil {
		h.errorPage(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	codes, err := h.ID.RegenerateRecoveryCodes(r.Context(), u, r.PostForm.Get("password"), httpx.ClientIP(r.Context()))
	if h.twoFactorChangeFailed(w, r, ws, u, err) {
		return
	}
	h.codesOnce(w, r, ws, u, codes, "twofactor.codes_regenerated")
}
