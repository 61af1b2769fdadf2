package oauthapi

import (
	"errors"
	"net/http"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/oauth"
)

// TokenLimits are the abuse limits of the token, introspection and
// revocation endpoints (docs/limits.md). Nil limiters are off.
type TokenLimits struct {
	// ClientFailures counts failed client authentication
	// (invalid_client) per client id.
	ClientFailures ratelimit.Limiter
	// AddrFailures counts failures per client address: failed client
	// authentication and rejected subject tokens of token exchange. A
	// rejected grant (invalid_grant) is not counted: codes and refresh
	// tokens are 256-bit, and concurrent redemption by a legitimate client
	// (T20) must not throttle it.
	AddrFailures ratelimit.Limiter
	// ClientRequests counts every token request per client id: a
	// generous ceiling for well-behaved clients.
	ClientRequests ratelimit.Limiter
}

// tooMany is the RFC 6749 §5.2-shaped answer of a throttled request;
// temporarily_unavailable is the registered code closest in meaning.
func tooMany(w http.ResponseWriter, d ratelimit.Decision) {
	httpx.RetryAfter(w, d.RetryAfter)
	httpx.NoStore(w)
	httpx.WriteJSON(w, http.StatusTooManyRequests, &oauth.Error{
		Code: "temporarily_unavailable", Description: "too many requests or failed attempts; retry later",
		Status: http.StatusTooManyRequests,
	})
}

// admitToken counts a token request toward ClientRequests before it is
// looked at, answering 429 when the client is over it.
//
// The failure limits are not checked here but on failure (refuseFailure):
// every credential these endpoints take (client secrets, subject tokens)
// is 256-bit, so one that is valid was not guessed, and refusing it
// because others sprayed wrong ones under the same client id or address
// would only lock its owner out (T37: no lockout DoS). A failure spends
// from the buckets and, once they are empty, is answered 429 instead of
// its error: the failures an address or client id may make are as many
// as before, and a valid request costs no read of the buckets (on
// PostgreSQL, a round trip of every token request).
func (h *Handler) admitToken(w http.ResponseWriter, r *http.Request, clientID string) bool {
	l := h.Limits
	if l == nil || clientID == "" || l.ClientRequests == nil {
		return true
	}
	d, err := l.ClientRequests.Hit(r.Context(), "c:"+clientID)
	if err != nil {
		h.writeError(w, r, err) // fail closed: a 500
		return false
	}
	if !d.OK {
		tooMany(w, d)
		return false
	}
	return true
}

// refuseFailure counts a failed token, introspection or revocation
// request in the failure limits: failed client authentication, and
// rejected subject tokens of token exchange. It answers 429 and returns
// true when a limit refuses the failure (its bucket is empty); otherwise
// the caller answers the failure's own error.
func (h *Handler) refuseFailure(w http.ResponseWriter, r *http.Request, clientID string, err error) bool {
	l := h.Limits
	if l == nil || err == nil {
		return false
	}
	e := oauth.AsError(err)
	if e == nil {
		return false
	}
	exchange := r.PostForm.Get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange"
	switch {
	case e.Code == "invalid_client", exchange && e.Code == "invalid_request":
	default:
		return false
	}
	ctx := r.Context()
	type probe struct {
		limiter ratelimit.Limiter
		key     string
	}
	var hits []probe
	if l.AddrFailures != nil {
		hits = append(hits, probe{l.AddrFailures, "a:" + httpx.ClientIP(ctx)})
	}
	// Per client only failed client authentication: anything else can be
	// provoked by anyone naming a public client.
	if e.Code == "invalid_client" && clientID != "" && l.ClientFailures != nil {
		hits = append(hits, probe{l.ClientFailures, "c:" + clientID})
	}
	for _, p := range hits {
		d, herr := p.limiter.Hit(ctx, p.key)
		if herr != nil {
			// The failure is answered as it is; a limiter that cannot
			// count does not turn it into a 500.
			h.Log.ErrorContext(ctx, "oauth: rate limit", "request_id", httpx.RequestID(ctx), "err", herr)
			return false
		}
		if !d.OK {
			tooMany(w, d)
			return true
		}
	}
	return false
}

// throttled answers a resource request refused by authn's failure limit
// with 429 and Retry-After, in RFC 6750's error shape.
func throttled(w http.ResponseWriter, err error) bool {
	var th *authn.ThrottledError
	if !errors.As(err, &th) {
		return false
	}
	tooMany(w, ratelimit.Decision{RetryAfter: th.RetryAfter})
	return true
}
