// Package forwardauth serves GET /auth/verify (SPEC §4), the forward-auth
// endpoint for nginx auth_request, Traefik ForwardAuth, Caddy forward_auth
// and Envoy ext_authz, and holds Resolver, the one path by which tolk
// resolves a request's credential: the verify package's CredentialReader
// reads it, authn resolves it to a principal with its user record, and
// verify.Check decides audience and scopes, as in the APIs behind tolk.
// tolk's own resource endpoints (whoAmI, /user, /v2/user, /userinfo) call
// Resolver.Principal; /auth/verify goes through a Resolver with a Cache.
//
// Answers: exactly 200 to allow (Envoy treats any other 2xx as a denial;
// nginx turns a 3xx into a 500), with X-Auth-Subject, X-Auth-User,
// X-Auth-Org, X-Auth-Client, X-Auth-Scopes (absent only for the credentials
// that carry their user's whole access, an ApiToken or an API key; empty
// for an OAuth or Platform token that names no scope),
// X-Auth-Method, X-Auth-Audiences and X-Auth-Expires (read back by
// verify.PrincipalFromHeaders), Remote-User, Remote-Email, Remote-Name;
// 401 with WWW-Authenticate (RFC 6750) for no, bad, expired or revoked
// credentials, for a throttled API-key client (with Retry-After: nginx
// accepts only 2xx, 401 and 403 from an auth subrequest), and when
// ?audience= is not among the credential's applications, and while the
// database cannot be reached to check an uncached credential (with
// Retry-After and the description "the credential cannot be checked now";
// a 503 would become nginx's 500); 403 with error="insufficient_scope"
// when the ?scope= list (space- or comma-separated, all required) is not
// met.
//
// The credential is read from the forwarded request's own headers
// (Authorization, the API-key header), which the proxies pass on. With
// query_token on, a TMS ?token= is read from the original URI in
// X-Forwarded-Uri (Traefik, Caddy) or X-Original-URI (nginx); that header
// is believed from anyone, because it can only present a credential its
// sender already holds. X-Forwarded-For is believed only from
// trusted_proxies (httpx.WithClientIP), for the throttling of bad API keys.
//
// Verifications are cached (Cache) for at most verify_cache_ttl (default
// 5 s) and never past the credential's expiry. Every revocation in this
// tolk process empties the cache (internal/core/revocation): a logout, a
// deleted or narrowed token, a revoked key or grant, a deleted app or a
// deactivated user takes effect here at once, one made through another
// instance (or the CLI) within the TTL.
package forwardauth

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/verify"
)

// Handler serves GET /auth/verify.
type Handler struct {
	// Resolver resolves the credential. A cached verification comes with
	// its answer headers ready-made, so a hit costs no header formatting.
	Resolver   *Resolver
	QueryToken bool // read a TMS ?token= from the original URI
	Log        *slog.Logger

	requires requireCache
}

// splitList reads a space- or comma-separated list.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
}

// require reads ?audience= (the first) and ?scope= (every one, each a
// list) as url.ParseQuery does, without building its map, and without
// its limit on the number of parameters (past which it reads none: no
// scope would be required).
func require(raw string) verify.Require {
	var req verify.Require
	escaped := strings.ContainsAny(raw, "%+")
	audience := false
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(kv, ";") { // ParseQuery refuses the pair
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if escaped {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				continue
			}
			if v, err = url.QueryUnescape(v); err != nil {
				continue
			}
		}
		switch k {
		case "scope":
			if l := splitList(v); req.Scopes == nil && len(l) > 0 {
				req.Scopes = l // one allocation for the usual single scope= list
			} else {
				req.Scopes = append(req.Scopes, l...)
			}
		case "audience":
			if !audience {
				req.Audience, audience = v, true
			}
		}
	}
	return req
}

// requireCache remembers the Require of the few query strings a proxy
// sends (each auth_request or ForwardAuth location has its own fixed URL):
// they are read once, and their scope slices shared, read only.
type requireCache struct {
	mu sync.RWMutex
	m  map[string]verify.Require
}

const (
	maxRequires     = 64
	maxRequireQuery = 512
)

func (c *requireCache) get(raw string) verify.Require {
	if raw == "" {
		return verify.Require{}
	}
	c.mu.RLock()
	req, ok := c.m[raw]
	c.mu.RUnlock()
	if ok {
		return req
	}
	req = require(raw)
	req.Scopes = req.Scopes[:len(req.Scopes):len(req.Scopes)] // shared: an append copies
	if len(raw) <= maxRequireQuery {
		c.mu.Lock()
		if c.m == nil {
			c.m = make(map[string]verify.Require)
		}
		if len(c.m) < maxRequires {
			c.m[raw] = req
		}
		c.mu.Unlock()
	}
	return req
}

// Verify serves GET /auth/verify.
func (h *Handler) Verify(w http.ResponseWriter, r *http.Request) {
	req := h.requires.get(r.URL.RawQuery)
	p, hdr, err := h.Resolver.resolve(h.forwarded(r))
	if err == nil {
		err = verify.Check(p.Principal, req)
	}
	if err != nil {
		httpx.NoStore(w)
		h.fail(w, r, err)
		return
	}
	httpx.NoStoreForProxy(w)
	if hdr != nil {
		hdr.set(w.Header())
	} else {
		verify.SetHeaders(w.Header(), p.Principal)
	}
	w.WriteHeader(http.StatusOK)
}

// forwarded is the request whose credential is checked: r's headers, and
// as URL the original URI when a ?token= may be read from it. r itself
// serves when neither its own URL nor (with query_token) the original URI
// can present a token: no literal "token" and no escape that could spell
// one.
func (h *Handler) forwarded(r *http.Request) *http.Request {
	if !mayHoldToken(r.URL.RawQuery) && (!h.QueryToken || !mayHoldToken(originalURI(r))) {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	u := &url.URL{Path: r.URL.Path}
	if h.QueryToken {
		if raw := originalURI(r); raw != "" {
			if orig, err := url.ParseRequestURI(raw); err == nil {
				u.RawQuery = orig.RawQuery
			}
		}
	}
	r2.URL = u
	return r2
}

// originalURI is the URI the proxy was asked for: X-Forwarded-Uri
// (Traefik, Caddy), else X-Original-URI (nginx), else "".
func originalURI(r *http.Request) string {
	if raw := r.Header.Get("X-Forwarded-Uri"); raw != "" {
		return raw
	}
	return r.Header.Get("X-Original-Uri")
}

// mayHoldToken reports whether a URI or query could carry a token
// parameter.
func mayHoldToken(s string) bool {
	return strings.Contains(s, "token") || strings.Contains(s, "%")
}

// unavailableDesc describes a credential that could not be checked because
// the database is unreachable.
const unavailableDesc = "the credential cannot be checked now; retry later"

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		// The database cannot be reached to check the credential. nginx
		// turns any answer but 2xx, 401 and 403 into a 500, so this is a
		// 401 like every other refusal, with Retry-After and a
		// description that tells it from a bad credential.
		httpx.Unavailable(w)
		w.Header().Set("WWW-Authenticate", `Bearer realm="tolk", error="invalid_token", error_description="`+unavailableDesc+`"`)
		httpx.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": unavailableDesc})
		return
	}
	var th *authn.ThrottledError
	if errors.As(err, &th) {
		httpx.RetryAfter(w, th.RetryAfter)
		err = verify.ErrInvalid
	}
	status, _, _, _ := verify.Classify(err)
	if status >= 500 && h.Log != nil {
		h.Log.ErrorContext(r.Context(), "auth/verify: internal error", "request_id", httpx.RequestID(r.Context()), "err", err)
	}
	verify.WriteError(w, "tolk", err)
}
