package forwardauth

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"time"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/kit/gencache"
	"github.com/tolk-project/tolk/verify"
)

// Resolver resolves a request's credential in-process: verify's
// CredentialReader reads it and authn resolves it, optionally through a
// Cache. It is the one path of tolk's own endpoints (Principal) and of
// /auth/verify, and the verify.Resolver of an in-process verify.Verifier.
// Errors wrap verify.ErrNoCredentials or verify.ErrInvalid (an
// *authn.Error for a credential that failed, which tells its dialect,
// possibly an *authn.ThrottledError), or are a failure to check.
type Resolver struct {
	Authn       *authn.Authenticator
	Credentials verify.CredentialReader
	Cache       *Cache // nil: no caching
}

var _ verify.Resolver = (*Resolver)(nil)

// Principal resolves r's credential to the principal with its user record.
func (rs *Resolver) Principal(r *http.Request) (authn.Principal, error) {
	p, _, err := rs.resolve(r)
	return p, err
}

// Resolve implements verify.Resolver.
func (rs *Resolver) Resolve(r *http.Request) (verify.Principal, error) {
	p, _, err := rs.resolve(r)
	return p.Principal, err
}

// resolve is Principal, also returning the answer headers of a
// verification it cached (nil when it did not).
func (rs *Resolver) resolve(r *http.Request) (authn.Principal, answerHeaders, error) {
	c, err := rs.Credentials.Read(r)
	if err != nil {
		return authn.Principal{}, nil, err
	}
	if rs.Cache == nil {
		p, err := rs.Authn.Authenticate(r.Context(), c)
		return p, nil, err
	}
	k := cacheKey(c.Method, c.Value)
	gen, now := rs.Cache.Gen(), rs.Cache.Time()
	if e, ok := rs.Cache.Get(k, gen, now); ok {
		return e.p, e.hdr, e.err
	}
	p, err := rs.Authn.Authenticate(r.Context(), c)
	var th *authn.ThrottledError
	if err == nil || (errors.Is(err, verify.ErrInvalid) && !errors.As(err, &th)) {
		e := cached{p: p, err: err}
		var until time.Time // a failure is kept for TTL
		if err == nil {
			e.hdr, until = newAnswerHeaders(p.Principal), p.ExpiresAt
		}
		rs.Cache.Put(k, e, gen, now, until)
		return p, e.hdr, err
	}
	return p, nil, err
}

// cacheKey is the SHA-256 of a credential and its dialect, hashed from a
// stack buffer rather than a concatenated string. The buffer holds an
// ES256 JWT (about 700 bytes) as well as the opaque credentials: with 192
// bytes every JWT verification allocated its copy.
func cacheKey(method verify.Method, value string) [32]byte {
	var buf [1536]byte
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

// Cache holds verifications by the SHA-256 of the credential, for at most
// TTL, bounded in size, emptied at once by Invalidate (which the server
// wires to every revocation: internal/core/revocation).
type Cache = gencache.Cache[[32]byte, cached]

type cached struct {
	p   authn.Principal
	hdr answerHeaders // nil for a failure
	err error
}
