package oauthapi

import (
	"errors"
	"net/http"

	"github.com/tolk-project/tolk/internal/authn"
	"github.com/tolk-project/tolk/internal/httpx"
	"github.com/tolk-project/tolk/internal/oauth"
	"github.com/tolk-project/tolk/internal/ratelimit"
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

// admitToken checks the limits before a token, introspection or
// revocation request is looked at, answering 429 when one refuses.
// counted says whether the request also counts toward ClientRequests.
func (h *Handler) admitToken(w http.ResponseWriter, r *http.Request, clientID string, counted bool) bool {
	l := h.Limits
	if l == nil {
		return true
	}
	ctx := r.Context()
	// The failure limits are only checked, together (one read of both
	// buckets on the database backend); then the request is counted.
	var checks []ratelimit.Probe
	if l.AddrFailures != nil {
		checks = append(checks, ratelimit.Probe{Limiter: l.AddrFailures, Key: "a:" + httpx.ClientIP(ctx)})
	}
	if clientID != "" && l.ClientFailures != nil {
		checks = append(checks, ratelimit.Probe{Limiter: l.ClientFailures, Key: "c:" + clientID})
	}
	ds, err := ratelimit.CheckAll(ctx, checks)
	if err != nil {
		h.writeError(w, r, err) // fail closed: a 500
		return false
	}
	for _, d := range ds {
		if !d.OK {
			tooMany(w, d)
			return false
		}
	}
	if clientID != "" && counted && l.ClientRequests != nil {
		d, err := l.ClientRequests.Hit(ctx, "c:"+clientID)
		if err != nil {
			h.writeError(w, r, err)
			return false
		}
		if !d.OK {
			tooMany(w, d)
			return false
		}
	}
	return true
}

// recordToken counts a failed request in the failure limits.
func (h *Handler) recordToken(r *http.Request, clientID string, err error) {
	l := h.Limits
	if l == nil || err == nil {
		return
	}
	e := oauth.AsError(err)
	if e == nil {
		return
	}
	exchange := r.PostForm.Get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange"
	switch {
	case e.Code == "invalid_client", exchange && e.Code == "invalid_request":
	default:
		return
	}
	ctx := r.Context()
	var ferr error
	if l.AddrFailures != nil {
		ferr = l.AddrFailures.Fail(ctx, "a:"+httpx.ClientIP(ctx))
	}
	// Per client only failed client authentication: anything else can be
	// provoked by anyone naming a public client.
	if e.Code == "invalid_client" && clientID != "" && l.ClientFailures != nil && ferr == nil {
		ferr = l.ClientFailures.Fail(ctx, "c:"+clientID)
	}
	if ferr != nil {
		h.Log.ErrorContext(ctx, "oauth: rate limit", "request_id", httpx.RequestID(ctx), "err", ferr)
	}
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
