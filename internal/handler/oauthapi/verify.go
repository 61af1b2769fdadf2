package oauthapi

import (
	"net/http"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/handler/forwardauth"
)

// authenticate resolves a resource request's credential the way the APIs
// behind tolk do (see forwardauth.Authenticate).
func (h *Handler) authenticate(r *http.Request) (authn.Principal, error) {
	return forwardauth.Authenticate(h.Verifier, h.Authn, r)
}
