package forwardauth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/kit/gencache"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/verify"
)

// Resolver resolves credentials with tolk's authn, optionally through a
// Cache. The verify.Principal it returns carries the authn.Principal (and
// so the user record) in Extra. Errors wrap both verify's and authn's
// sentinels, so callers may test either (authn.WriteAPIKeyError still
// recognises a bad API key).
type Resolver struct {
	Authn *authn.Authenticator
	Cache *Cache // nil: no caching
}

var _ verify.Resolver = Resolver{}

// Resolve implements verify.Resolver.
func (rs Resolver) Resolve(r *http.Request) (verify.Principal, error) {
	p, _, err := rs.resolve(r)
	return p, err
}

// resolve is Resolve, also returning the answer headers of a verification
// it cached (nil when it did not).
func (rs Resolver) resolve(r *http.Request) (verify.Principal, answerHeaders, error) {
	if rs.Cache == nil {
		p, err := resolve(rs.Authn, r)
		return p, nil, err
	}
	method, value, err := rs.Authn.Credential(r)
	if err != nil {
		return verify.Principal{}, nil, wrap(err)
	}
	k := cacheKey(method, value)
	gen, now := rs.Cache.Gen(), rs.Cache.Time()
	if e, ok := rs.Cache.Get(k, gen, now); ok {
		return e.p, e.hdr, e.err
	}
	p, err := resolve(rs.Authn, r)
	var th *authn.ThrottledError
	if err == nil || (errors.Is(err, authn.ErrInvalid) && !errors.As(err, &th)) {
		e := cached{p: p, err: err}
		var until time.Time // a failure is kept for TTL
		if err == nil {
			e.hdr, until = newAnswerHeaders(p), p.ExpiresAt
		}
		rs.Cache.Put(k, e, gen, now, until)
		return p, e.hdr, err
	}
	return p, nil, err
}

// cacheKey is the SHA-256 of a credential and its dialect, hashed from a
// stack buffer (credentials are short) rather than a concatenated string.
func cacheKey(method authn.Method, value string) [32]byte {
	var buf [192]byte
	b := append(buf[:0], method...)
	b = append(b, 0)
	b = append(b, value...)
	return sha256.Sum256(b)
}

// answerHeaders are the X-Auth-* and Remote-* headers of a principal
// (verify.SetHeaders), built once per cached verification. The value
// slices are shared by every answer: they are only read, and have
// len == cap, so a later Add copies instead of writing into them.
type answerHeaders []answerHeader

type answerHeader struct {
	key   string
	value []string
}

func newAnswerHeaders(p verify.Principal) answerHeaders {
	h := http.Header{}
	verify.SetHeaders(h, p)
	a := make(answerHeaders, 0, len(h))
	for k, v := range h {
		a = append(a, answerHeader{k, v[:len(v):len(v)]})
	}
	return a
}

// set is verify.SetHeaders(h, p) for the principal a was built from.
func (a answerHeaders) set(h http.Header) {
	for _, kv := range a {
		h[kv.key] = kv.value
	}
}

func resolve(a *authn.Authenticator, r *http.Request) (verify.Principal, error) {
	p, err := a.Authenticate(r)
	if err != nil {
		return verify.Principal{}, wrap(err)
	}
	return FromAuthn(p), nil
}

// wrap adds verify's sentinel to an authn error.
func wrap(err error) error {
	switch {
	case errors.Is(err, authn.ErrNoCredentials):
		return fmt.Errorf("%w: %w", verify.ErrNoCredentials, err)
	case errors.Is(err, authn.ErrInvalid), errors.Is(err, authn.ErrMalformed):
		return fmt.Errorf("%w: %w", verify.ErrInvalid, err)
	}
	return err
}

// FromAuthn converts an authn principal; Extra holds the original.
func FromAuthn(p authn.Principal) verify.Principal {
	vp := verify.Principal{
		Subject: p.Subject(), OrgUID: p.OrgUID, ClientID: p.ClientID, Scopes: p.Scopes, Audiences: p.Audiences,
		Method: verify.Method(p.Method), ExpiresAt: p.ExpiresAt, Extra: p,
	}
	if u := p.User; u != nil {
		vp.UserUID, vp.UserName, vp.Email = u.UID, u.UserName, u.Email
		vp.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
	}
	return vp
}

// Authenticate resolves r through the verify package when v is set (tolk's
// own endpoints verify the way the APIs behind it do), else through a
// directly. Errors keep authn's sentinels.
func Authenticate(v *verify.Verifier, a *authn.Authenticator, r *http.Request) (authn.Principal, error) {
	if v == nil {
		return a.Authenticate(r)
	}
	vp, err := v.Verify(r)
	if err != nil {
		return authn.Principal{}, err
	}
	p, _ := Authn(vp)
	return p, nil
}

// Authn returns the authn principal a Resolver attached to p.
func Authn(p verify.Principal) (authn.Principal, bool) {
	ap, ok := p.Extra.(authn.Principal)
	return ap, ok
}

// Cache holds verifications by the SHA-256 of the credential, for at most
// TTL, bounded in size, emptied at once by Invalidate.
type Cache = gencache.Cache[[32]byte, cached]

type cached struct {
	p   verify.Principal
	hdr answerHeaders // nil for a failure
	err error
}

// Invalidator is a cache that can forget everything at once.
type Invalidator interface{ Invalidate() }

// InvalidateOnWrite empties the caches after every request that may change state
// (any method but GET, HEAD and OPTIONS): logouts, revocations, password
// and account changes all arrive that way. The entry of a verification
// that ran concurrently carries the old generation and is never used. A
// write whose handler declared that it ended no credential
// (httpx.MarkRevokedNothing: tokens issued, nothing revoked) leaves them
// alone, so that a busy token endpoint does not empty the cache of every
// API behind tolk many times a second.
func InvalidateOnWrite(cs ...Invalidator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				next.ServeHTTP(w, r)
				return
			}
			defer func() {
				if !httpx.RevokedNothing(r.Context()) {
					for _, c := range cs {
						c.Invalidate()
					}
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}
