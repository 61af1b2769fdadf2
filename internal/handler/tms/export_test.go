package tms

import (
	"net/http"

	"github.com/tolk-project/tolk/internal/core/authn"
)

// API exposes api to the tests: an endpoint with scopes, as a future TMS
// endpoint would register.
func API(h *Handler, scopes []string, next func(http.ResponseWriter, *http.Request, authn.Principal)) http.HandlerFunc {
	return h.api(scopes, next)
}
