// Package server assembles tolk: it opens the store, bootstraps the first
// admin, builds the domain services and dialect handlers, and serves HTTP
// until its context ends, draining in-flight requests.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/tolk-project/tolk/internal/core/accesstoken"
	"github.com/tolk-project/tolk/internal/core/apikey"
	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/core/pat"
	"github.com/tolk-project/tolk/internal/core/platform"
	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/core/retention"
	"github.com/tolk-project/tolk/internal/core/revocation"
	"github.com/tolk-project/tolk/internal/core/signing"
	"github.com/tolk-project/tolk/internal/core/twofactor"
	"github.com/tolk-project/tolk/internal/handler/forwardauth"
	"github.com/tolk-project/tolk/internal/handler/oauthapi"
	"github.com/tolk-project/tolk/internal/handler/stringsapi"
	"github.com/tolk-project/tolk/internal/handler/tms"
	"github.com/tolk-project/tolk/internal/handler/web"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/i18n"
	"github.com/tolk-project/tolk/internal/kit/mail"
	"github.com/tolk-project/tolk/internal/kit/metrics"
	"github.com/tolk-project/tolk/internal/kit/password"
	"github.com/tolk-project/tolk/internal/kit/passwordpolicy"
	"github.com/tolk-project/tolk/internal/kit/seal"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/timed"
	"github.com/tolk-project/tolk/verify"
)

// Deps are what the server needs from outside; zero fields get production
// defaults.
type Deps struct {
	Log    *slog.Logger
	Now    func() time.Time
	Gen    secret.Generator
	Params *password.Params // argon2id cost; nil = OWASP
	Stderr io.Writer        // where a generated admin password is printed
}

// Server is a configured tolk instance.
type Server struct {
	Config   config.Config
	Store    store.Store
	Identity *identity.Service
	Authz    *authz.Service
	Authn    *authn.Authenticator // every dialect's credentials → a Principal
	Keys     *signing.Keyring
	Platform *platform.Service // Platform API tokens and token exchange
	PATs     *pat.Service      // Strings personal access tokens
	APIKeys  *apikey.Service   // ProZ API keys
	Audit    *audit.Recorder   // security events: the audit log and its log lines
	Metrics  *metrics.Metrics
	// Recovery: reset links, invitations, admin resets (SPEC §8); Mailer
	// sends their mails, nil without smtp_url.
	Recovery *identity.Recovery
	Mailer   *mail.Mailer
	// Sweeper deletes what has expired (SPEC §9); Serve runs it every
	// cleanup_interval.
	Sweeper *retention.Sweeper
	Handler http.Handler
	// MetricsListener, if set, is metrics_addr already bound, where Serve
	// serves /metrics; nil: Serve binds metrics_addr itself (when set).
	MetricsListener net.Listener
	// RateLimits is the backend of the abuse limits (docs/limits.md);
	// Close releases it.
	RateLimits ratelimit.Backend
	log        *slog.Logger
	routeTable []route        // what Handler serves, from routes
	mux        *http.ServeMux // serves routeTable, inside the middleware

	// Resolver reads and resolves the credential of a request to tolk's
	// own resource endpoints (uncached); VerifyCache holds /auth/verify's
	// verifications (verify_cache_ttl), which every revocation empties.
	// SPEC §4.
	Resolver    *forwardauth.Resolver
	VerifyCache *forwardauth.Cache
}

// New builds a server over an opened and migrated store.
func New(cfg config.Config, st store.Store, d Deps) (*Server, error) {
	sealer, err := newSealer(cfg, st)
	if err != nil {
		return nil, err
	}
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	params := password.OWASP
	if d.Params != nil {
		params = *d.Params
	}
	m := metrics.New()
	// Every store call of every service is timed (store/timed).
	st = timed.New(st, m.StoreOperation)
	lim, err := newLimits(cfg, st, d.Now, m)
	if err != nil {
		return nil, err
	}
	// The caches of verifications: /auth/verify's, and token exchange's
	// subject tokens, checked as /auth/verify checks a credential with the
	// same bound on staleness (SECURITY.md T42). Every service that
	// revokes empties both (revoked), on this instance at once.
	verifyCache := &forwardauth.Cache{TTL: cfg.VerifyCacheTTL, Now: d.Now}
	subjects := &platform.SubjectCache{TTL: cfg.VerifyCacheTTL, Now: d.Now}
	revoked := revocation.New(verifyCache, subjects)
	id := &identity.Service{
		Store:       st,
		Hasher:      password.NewHasher(params, cfg.PasswordWorkers, d.Gen.Rand),
		Gen:         d.Gen,
		Now:         d.Now,
		UserLimit:   lim.user,
		AddrLimit:   lim.addr,
		APITokenTTL: cfg.APITokenTTL,
		SessionTTL:  cfg.SessionTTL,
		// A deactivation's cutoff outlives every access token.
		AccessTokenTTL: cfg.AccessTokenTTL,
		OnLogin:        m.Login,
		Revocations:    revoked,
	}
	id.Policy = passwordpolicy.Policy{MinLength: cfg.PasswordMinLength}
	id.TwoFactor = &twofactor.Service{Store: st, Sealer: sealer, Gen: d.Gen, Now: d.Now}
	rec := &audit.Recorder{Store: st, Log: d.Log, Now: d.Now, Gen: d.Gen, Users: st, Hold: cfg.AuditHold, Metrics: m}
	rec.Start()
	id.Audit, id.TwoFactor.Audit = rec, rec
	keys := signing.New(st, sealer, signing.Options{Now: d.Now, Rand: d.Gen.Rand, RefreshInterval: cfg.KeyCacheInterval,
		PublishDelay: cfg.KeyPublishDelay})
	az := authz.New(st, keys, d.Gen, d.Now, authz.Config{
		Issuer: cfg.Issuer, Scopes: cfg.Scopes, DefaultScopes: cfg.DefaultScopes, Audiences: cfg.Audiences,
		CodeTTL: cfg.CodeTTL, AccessTTL: cfg.AccessTokenTTL, IDTokenTTL: cfg.IDTokenTTL,
		RefreshTTL: cfg.RefreshTokenTTL, RefreshGrace: cfg.RefreshGrace,
		IDTokenAlg: cfg.IDTokenAlg, AccessTokenAlg: cfg.JWTAccessAlg,
		ClientCacheTTL: cfg.KeyCacheInterval,
	})
	pt := &platform.Service{Store: st, Keys: keys, Gen: d.Gen, Now: d.Now, Log: d.Log, Config: platform.Config{
		Issuer: cfg.Issuer, Scopes: cfg.Scopes, Audiences: cfg.Audiences, Alg: cfg.ExchangeAlg,
	}, Subjects: subjects, Revocations: revoked}
	// Opaque access tokens are sealed, with no row each (issue 20).
	az.Sealer = accesstoken.New(st, sealer, accesstoken.Options{Now: d.Now, Gen: d.Gen,
		RefreshInterval: cfg.KeyCacheInterval, MaxTokenLifetime: cfg.AccessTokenTTL})
	az.Register(platform.Grant{S: pt})
	az.IntrospectOther = pt.Introspect
	az.Audit, pt.Audit = rec, rec
	az.Revocations = revoked
	var extra fsys
	if cfg.LocalesDir != "" {
		extra = os.DirFS(cfg.LocalesDir)
	}
	cats, err := i18n.Load(extra)
	if err != nil {
		return nil, err
	}
	for tag, missing := range cats.Incomplete() {
		// SPEC §5: a catalog is complete or it is not offered.
		d.Log.Warn("i18n: catalog not offered: it lacks keys of en.json", "lang", tag.String(), "missing", len(missing), "first", missing[0])
	}
	s := &Server{Config: cfg, Store: st, Identity: id, Authz: az, Keys: keys, Metrics: m, log: d.Log, RateLimits: lim.backend,
		VerifyCache: verifyCache}
	ui := &web.Handler{ID: id, Authz: az, Catalogs: cats, Log: d.Log, Issuer: cfg.Issuer, Secure: cfg.SecureCookies(), Gen: d.Gen, Sealer: sealer}
	if err := ui.Init(); err != nil {
		return nil, err
	}
	s.Platform, ui.Platform = pt, pt
	s.Sweeper = newSweeper(cfg, st, keys, m, d)
	s.Authn = &authn.Authenticator{
		APIToken:    id.VerifyAPITokenPrincipal,
		AccessToken: pt.BearerVerifier(az.VerifyBearer), // exchanged Platform JWTs, then OAuth tokens
		Failures:    lim.tokens,
	}
	// Strings personal access tokens and ProZ API keys (SPEC §3.3, §3.4).
	s.PATs = &pat.Service{Store: st, Gen: d.Gen, Now: d.Now, Scopes: cfg.Scopes, Revocations: revoked}
	// Failed API keys are limited per address by s.Authn.Failures, with
	// every other dialect's credentials.
	s.APIKeys = &apikey.Service{Store: st, Gen: d.Gen, Now: d.Now, Revocations: revoked}
	s.Authn.PAT, s.Authn.APIKey = s.PATs.Verify, s.APIKeys.Verify
	s.PATs.Audit, s.APIKeys.Audit, s.Audit = rec, rec, rec
	ui.APIKeys, ui.Audit = s.APIKeys, rec
	if err := s.initRecovery(cfg, id, ui, rec, cats, d); err != nil {
		return nil, err
	}
	ui.PATs = s.PATs
	// SPEC §4: tolk's own endpoints and /auth/verify read credentials
	// with the verify package's grammar and check them with verify.Check,
	// as the APIs behind tolk do. The API-key header is canonical, so that
	// looking it up costs no allocation per request.
	creds := verify.CredentialReader{APIKeyHeader: http.CanonicalHeaderKey(cfg.APIKeyHeader), QueryToken: cfg.QueryToken}
	s.Resolver = &forwardauth.Resolver{Authn: s.Authn, Credentials: creds}
	fwd := &forwardauth.Resolver{Authn: s.Authn, Credentials: creds, Cache: verifyCache}
	if cfg.VerifyCacheTTL <= 0 {
		fwd.Cache = nil
	}
	api := &oauthapi.Handler{Authz: az, Resolver: s.Resolver, Keys: keys, Log: d.Log, Limits: lim.oauthapi}
	s.routeTable = s.routes(handlers{
		tms:     &tms.Handler{ID: id, Resolver: s.Resolver, Log: d.Log},
		strings: &stringsapi.Handler{ID: id, PATs: s.PATs, Log: d.Log, Issuer: cfg.Issuer, Now: d.Now, Requests: lim.strings},
		oauth:   api,
		verify:  &forwardauth.Handler{Resolver: fwd, QueryToken: cfg.QueryToken, Log: d.Log},
		web:     ui,
	})
	s.countTokens()
	if cfg.MetricsAddr != "" {
		// SPEC §9: /metrics is served on metrics_addr alone
		// (metricslistener.go), and is 404 on the public address.
		s.routeTable = slices.DeleteFunc(s.routeTable, func(r route) bool { return r.pattern == "GET /metrics" })
	}
	s.mux = newMux(s.routeTable)
	s.Handler = httpx.Chain(m.Instrument(s.mux),
		httpx.WithRequestID,
		httpx.WithClientIP(cfg.TrustedProxies),
		// /auth/verify's 200s answer a proxy and go without them; its
		// other answers (denials a proxy relays to the browser) get them.
		// Outside Recover, so that a recovered 500 gets them too, and
		// outside AccessLog, whose status recorder Recover and the metrics
		// then share instead of wrapping the exempt writer in another.
		httpx.SecurityHeaders(cfg.SecureCookies(), "/auth/verify"),
		httpx.AccessLog(d.Log, "/auth/verify"), // its 200s at Debug
		httpx.Recover(d.Log),
	)
	return s, nil
}

// newSealer builds the sealer of secrets at rest from secret_key, or, on
// SQLite without one, from a key file beside the database (mode 0600),
// created only while the database holds no signing key: the first start
// seals its signing keys before anything else, so a database with keys but
// no key file was restored without it, and a new key would open nothing.
func newSealer(cfg config.Config, st store.SigningKeys) (*seal.Sealer, error) {
	key := []byte(cfg.SecretKey)
	if len(key) == 0 {
		path := KeyFile(cfg)
		sealed := func() (bool, error) {
			// New has no context; this runs once, only when the file is missing.
			keys, err := st.ListSigningKeys(context.Background())
			return len(keys) > 0, err
		}
		var err error
		if key, err = seal.LoadOrCreateKeyFile(path, sealed); err != nil {
			return nil, fmt.Errorf("secret key file: %w", err)
		}
	}
	return seal.New(key)
}

// Bootstrap creates the first admin on an empty database and the signing
// keys. A generated password is printed once to out; a configured one
// never is.
func (s *Server) Bootstrap(ctx context.Context, out io.Writer) error {
	// RS256 and ES256 always (id_tokens, verify's clients), and whatever
	// the configuration signs with (EdDSA is opt-in).
	algs := []string{"RS256", "ES256"}
	for _, a := range []string{s.Config.IDTokenAlg, s.Config.JWTAccessAlg, s.Config.ExchangeAlg} {
		if a != "" && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if err := s.Keys.Ensure(ctx, algs...); err != nil {
		if errors.Is(err, seal.ErrOpen) {
			// The usual cause is a restore that paired the database with
			// another key; say so rather than leave "cannot open" alone.
			return fmt.Errorf("signing keys: the database's signing keys do not open with %s, so it is not the key "+
				"they were sealed with (a database restored without its key, or with another one?): "+
				"restore the key saved with this database: %w", keySource(s.Config), err)
		}
		return fmt.Errorf("signing keys: %w", err)
	}
	if err := s.Authz.Sealer.Ensure(ctx); err != nil {
		return fmt.Errorf("access token keys: %w", err)
	}
	created, pw, err := s.Identity.Bootstrap(ctx, s.Config.AdminPassword)
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if !created {
		return nil
	}
	s.log.Info("created the first admin", "userName", "admin")
	if s.Config.AdminPassword == "" && out != nil {
		fmt.Fprintf(out, "\ntolk: created user \"admin\" with password: %s\n(shown only now; set TOLK_ADMIN_PASSWORD to choose one)\n\n", pw)
	}
	return nil
}

// Serve serves on ln until ctx is done, then drains in-flight requests for
// at most the shutdown timeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := s.httpServer(ctx, s.Handler, 64<<10)
	stopMetrics, err := s.serveMetrics(ctx)
	if err != nil {
		return fmt.Errorf("metrics_addr: %w", err)
	}
	defer stopMetrics()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	defer s.runSweeper(ctx)()
	s.log.Info("tolk listening", "addr", ln.Addr().String(), "issuer", s.Config.Issuer)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.Config.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.CloseMailer() // before the audit log, which records the outcomes
	s.Audit.Close() // write the audit events still queued before the store closes
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
