package verify

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Config configures a Verifier. Zero fields get the documented defaults.
type Config struct {
	// Issuer is tolk's issuer URL; JWTs must carry it as iss.
	Issuer string
	// JWKSURL is tolk's JWKS (default Issuer + "/.well-known/jwks.json").
	JWKSURL string
	// VerifyURL is tolk's forward-auth endpoint (default Issuer +
	// "/auth/verify"), used to check every opaque credential.
	VerifyURL string
	// APIKeyHeader is the ProZ API-key header (default X-Proz-API-Key).
	APIKeyHeader string
	// QueryToken accepts the TMS ?token= query parameter (default off;
	// RFC 6750 §2.3 discourages tokens in URLs).
	QueryToken bool
	// IntrospectJWTs sends JWTs to VerifyURL too instead of verifying them
	// locally, so that revocation reaches them within CacheTTL.
	IntrospectJWTs bool
	// CacheTTL bounds how long an answer of VerifyURL is reused (default
	// 5 s; negative: never cached).
	CacheTTL time.Duration
	// CacheSize bounds the number of cached answers (default 10000).
	CacheSize int
	// JWKSRefreshInterval is how old the cached JWKS must be before a
	// token naming a kid it lacks makes the verifier fetch it again, and
	// how long a failed fetch is not retried (default 1 s). Fetches run
	// one at a time, each on its own context, and requests naming an
	// unknown kid wait for the fetch in flight.
	JWKSRefreshInterval time.Duration
	// JWKSMaxAge is how long a fetched JWKS is used before it is fetched
	// again in the background (default 10 min).
	JWKSMaxAge time.Duration
	// Leeway tolerates clock skew on exp and nbf (default 30 s).
	Leeway time.Duration
	// Realm names the protection space in WWW-Authenticate (default "tolk").
	Realm string
	// HTTPClient calls JWKSURL and VerifyURL (default: a client with a 5 s
	// timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Resolver, if set, resolves every credential in-process instead (tolk
	// uses it for its own endpoints); JWKSURL and VerifyURL are unused.
	Resolver Resolver
	// ErrorHandler, if set, answers failures instead of WriteError.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Verifier checks requests. It is safe for concurrent use.
type Verifier struct {
	cfg   Config
	creds CredentialReader
	keys  *jwks
	cache *cache
}

// New builds a Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.Resolver == nil {
		if cfg.Issuer == "" {
			return nil, errors.New("verify: Config.Issuer is required")
		}
		base := strings.TrimSuffix(cfg.Issuer, "/")
		if cfg.JWKSURL == "" {
			cfg.JWKSURL = base + "/.well-known/jwks.json"
		}
		if cfg.VerifyURL == "" {
			cfg.VerifyURL = base + "/auth/verify"
		}
	}
	if cfg.APIKeyHeader == "" {
		cfg.APIKeyHeader = DefaultAPIKeyHeader
	}
	// Canonical once here: Header.Get allocates the canonical form of any
	// other spelling on every request.
	cfg.APIKeyHeader = http.CanonicalHeaderKey(cfg.APIKeyHeader)
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 5 * time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	if cfg.JWKSRefreshInterval <= 0 {
		cfg.JWKSRefreshInterval = time.Second
	}
	if cfg.JWKSMaxAge <= 0 {
		cfg.JWKSMaxAge = 10 * time.Minute
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Realm == "" {
		cfg.Realm = "tolk"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{cfg: cfg, creds: CredentialReader{APIKeyHeader: cfg.APIKeyHeader, QueryToken: cfg.QueryToken}}
	v.keys = &jwks{url: cfg.JWKSURL, client: cfg.HTTPClient, now: cfg.Now, maxAge: cfg.JWKSMaxAge,
		minAge: cfg.JWKSRefreshInterval}
	if cfg.CacheTTL > 0 {
		v.cache = &cache{size: cfg.CacheSize, m: make(map[[32]byte]entry)}
	}
	return v, nil
}

// Middleware authenticates each request, checks req, puts the principal in
// the request context and calls next; failures are answered per RFC 6750.
func (v *Verifier) Middleware(req Require) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := v.Verify(r)
			if err == nil {
				err = Check(p, req)
			}
			if err != nil {
				v.fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
		})
	}
}

func (v *Verifier) fail(w http.ResponseWriter, r *http.Request, err error) {
	if v.cfg.ErrorHandler != nil {
		v.cfg.ErrorHandler(w, r, err)
		return
	}
	WriteError(w, v.cfg.Realm, err)
}

// Verify resolves the request's credential without checking audience or
// scopes. Errors wrap ErrNoCredentials, ErrInvalid or ErrUnavailable (or
// are the Resolver's own).
func (v *Verifier) Verify(r *http.Request) (Principal, error) {
	if v.cfg.Resolver != nil {
		return v.cfg.Resolver.Resolve(r)
	}
	c, err := v.creds.Read(r)
	if err != nil {
		return Principal{}, err
	}
	if c.Method == MethodJWT && !v.cfg.IntrospectJWTs {
		return v.localJWT(r, c)
	}
	return v.introspect(r.Context(), c)
}

// cache holds answers of VerifyURL by credential hash.
type cache struct {
	mu   sync.RWMutex
	size int
	m    map[[32]byte]entry
}

type entry struct {
	p     Principal
	err   error // nil, or an ErrInvalid answer
	until time.Time
}

func (c *cache) get(k [32]byte, now time.Time) (entry, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return entry{}, false
	}
	return e, true
}

func (c *cache) put(k [32]byte, e entry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.size {
		for k, old := range c.m { // drop the expired, then arbitrary ones
			if !now.Before(old.until) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.size {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[k] = e
}

// localJWT verifies a JWT locally; a verified one is remembered (by the
// SHA-256 of the token) for at most CacheTTL and never past its exp, so
// that a busy client does not cost a signature check per request.
// Failures are not remembered: a token naming a newly rotated key must
// succeed as soon as the JWKS is refetched.
func (v *Verifier) localJWT(r *http.Request, c Credential) (Principal, error) {
	if v.cache == nil {
		return v.verifyJWT(r.Context(), c.Value)
	}
	now := v.cfg.Now()
	k := c.key()
	if e, ok := v.cache.get(k, now); ok {
		return e.p, e.err
	}
	p, err := v.verifyJWT(r.Context(), c.Value)
	if err == nil {
		until := now.Add(v.cfg.CacheTTL)
		if p.ExpiresAt.Before(until) {
			until = p.ExpiresAt
		}
		v.cache.put(k, entry{p: p, until: until}, now)
	}
	return p, err
}
