package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of tolk's /auth/verify answer.
const (
	HeaderSubject   = "X-Auth-Subject"
	HeaderUser      = "X-Auth-User"
	HeaderOrg       = "X-Auth-Org"
	HeaderClient    = "X-Auth-Client"
	HeaderScopes    = "X-Auth-Scopes"    // absent: the user's whole access (ApiToken, API key only)
	HeaderMethod    = "X-Auth-Method"    // apitoken, bearer, jwt, pat, apikey
	HeaderAudiences = "X-Auth-Audiences" // absent: every application
	HeaderExpires   = "X-Auth-Expires"   // Unix seconds; absent: does not expire
	HeaderEmail     = "Remote-Email"
	HeaderName      = "Remote-Name"
)

// HeaderRemoteUser is the userName again, under the name many proxies and
// apps read.
const HeaderRemoteUser = "Remote-User"

// IdentityHeaders returns the name of every header SetHeaders may write.
// A proxy that forwards them to an API must overwrite or remove each one in
// every request, also when tolk's answer lacks it: otherwise a client could
// send its own and PrincipalFromHeaders would read it
// (docs/forward-auth.md).
func IdentityHeaders() []string {
	return []string{HeaderSubject, HeaderUser, HeaderOrg, HeaderClient, HeaderScopes, HeaderMethod,
		HeaderAudiences, HeaderExpires, HeaderRemoteUser, HeaderEmail, HeaderName}
}

// introspect asks VerifyURL about an opaque credential, through the cache.
func (v *Verifier) introspect(ctx context.Context, c Credential) (Principal, error) {
	now := v.cfg.Now()
	var k [32]byte
	if v.cache != nil {
		k = c.key()
		if e, ok := v.cache.get(k, now); ok {
			return e.p, e.err
		}
	}
	p, err := v.ask(ctx, c)
	if v.cache != nil && (err == nil || isInvalid(err)) {
		until := now.Add(v.cfg.CacheTTL)
		if err == nil && !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(until) {
			until = p.ExpiresAt
		}
		v.cache.put(k, entry{p: p, err: err, until: until}, now)
	}
	return p, err
}

func isInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

func (v *Verifier) ask(ctx context.Context, c Credential) (Principal, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.VerifyURL, nil)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set(c.wire())
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return Principal{}, ErrInvalid
	default:
		return Principal{}, fmt.Errorf("%w: verify endpoint answered %d", ErrUnavailable, resp.StatusCode)
	}
	return PrincipalFromHeaders(resp.Header), nil
}

// PrincipalFromHeaders reads a principal from the headers of a 200 answer
// of tolk's /auth/verify (or from the request headers that a proxy copied
// them to).
func PrincipalFromHeaders(h http.Header) Principal {
	p := Principal{
		Subject: h.Get(HeaderSubject), UserName: h.Get(HeaderUser), OrgUID: h.Get(HeaderOrg),
		ClientID: h.Get(HeaderClient), Method: Method(h.Get(HeaderMethod)),
		Email: h.Get(HeaderEmail), Name: h.Get(HeaderName),
	}
	if p.UserName != "" {
		p.UserUID = p.Subject
	}
	v, present := h[HeaderScopes]
	if present && len(v) > 0 {
		p.Scopes = strings.Fields(v[0])
	}
	// An absent X-Auth-Scopes means the user's whole access only for the
	// methods that carry it (Method.WholeAccess): a proxy may drop the
	// empty header of a token granted no scope, which still carries none.
	if p.Scopes == nil && (present || !p.Method.WholeAccess()) {
		p.Scopes = []string{}
	}
	if v, ok := h[HeaderAudiences]; ok && len(v) > 0 {
		p.Audiences = strings.Fields(v[0])
		if p.Audiences == nil {
			p.Audiences = []string{}
		}
	}
	if s, err := strconv.ParseInt(h.Get(HeaderExpires), 10, 64); err == nil {
		p.ExpiresAt = time.Unix(s, 0).UTC()
	}
	return p
}

// SetHeaders writes p as the headers of a /auth/verify answer; tolk uses
// it, and PrincipalFromHeaders reads them back.
func SetHeaders(h http.Header, p Principal) {
	// One array holds every value, each header a slice of one of them
	// with len == cap (a later Add copies instead of writing into the
	// next header's value): one allocation instead of one per header.
	vals := make([]string, 0, 11)
	put := func(k, v string) {
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set := func(k, v string) {
		if v != "" {
			put(k, v)
		}
	}
	put(HeaderSubject, p.Subject)
	set(HeaderUser, p.UserName)
	set(HeaderOrg, p.OrgUID)
	set(HeaderClient, p.ClientID)
	put(HeaderMethod, string(p.Method))
	// Absent only for the user's whole access, which proxies and
	// upstreams read from its absence.
	if p.Scopes != nil || !p.Method.WholeAccess() {
		put(HeaderScopes, strings.Join(p.Scopes, " "))
	}
	if p.Audiences != nil {
		put(HeaderAudiences, strings.Join(p.Audiences, " "))
	}
	if !p.ExpiresAt.IsZero() {
		put(HeaderExpires, strconv.FormatInt(p.ExpiresAt.Unix(), 10))
	}
	set(HeaderRemoteUser, p.UserName)
	set(HeaderEmail, p.Email)
	set(HeaderName, p.Name)
}
