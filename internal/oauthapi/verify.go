package oauthapi

import (
	"net/http"

	"github.com/tolk-project/tolk/internal/authn"
	"github.com/tolk-project/tolk/internal/forwardauth"
)

// authenticate resolves a resource request's credential through the verify
// package when a Verifier is configured (tolk's own endpoints verify the
// way the APIs behind it do), else through authn directly. Errors keep
// authn's sentinels, so principal's answers are unchanged.
func (h *Handler) authenticate(r *http.Request) (authn.Principal, error) {
	if h.Verifier == nil {
		return h.Authn.Authenticate(r)
	}
	vp, err := h.Verifier.Verify(r)
	if err != nil {
		return authn.Principal{}, err
	}
	p, _ := forwardauth.Authn(vp)
	return p, nil
}
