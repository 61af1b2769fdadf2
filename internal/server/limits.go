package server

import (
	"context"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/handler/oauthapi"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/metrics"
	"github.com/tolk-project/tolk/internal/store"
)

// limits are the abuse limits of every credential-checking endpoint, all
// on one backend (docs/limits.md).
type limits struct {
	backend  ratelimit.Backend
	user     ratelimit.Limiter // failed logins and second factors per user name
	addr     ratelimit.Limiter // the same per client address
	tokens   ratelimit.Limiter // unknown credentials per client address (authn)
	strings  ratelimit.Limiter // Strings API requests per user (X-Rate-Limit-*)
	oauthapi *oauthapi.TokenLimits
}

// RateLimitBackend names the backend cfg selects: rate_limit_backend, or
// postgres on a PostgreSQL database and memory on SQLite.
func RateLimitBackend(cfg config.Config) string {
	if cfg.RateLimitBackend != "" {
		return cfg.RateLimitBackend
	}
	if strings.HasPrefix(cfg.DB, "postgres://") || strings.HasPrefix(cfg.DB, "postgresql://") {
		return "postgres"
	}
	return "memory"
}

func newLimits(cfg config.Config, st store.Store, now func() time.Time, m *metrics.Metrics) (*limits, error) {
	var b ratelimit.Backend
	switch RateLimitBackend(cfg) {
	case "postgres":
		b = &ratelimit.DB{Store: st, Now: now}
	case "redis":
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := ratelimit.NewRedis(ctx, cfg.RedisURL, cfg.RedisPrefix, now)
		if err != nil {
			return nil, err
		}
		b = r
	default:
		b = ratelimit.Memory{Now: now}
	}
	// Each limiter counts its refusals under its policy's name.
	counted := func(p ratelimit.Policy) ratelimit.Limiter {
		return &countedLimiter{Limiter: b.Limiter(p), name: p.Name, m: m}
	}
	pol := func(name string, burst int, every time.Duration) ratelimit.Limiter {
		return counted(ratelimit.Policy{Name: name, Burst: burst, Interval: every})
	}
	return &limits{
		backend: b,
		user:    pol("login-user", cfg.LoginUserBurst, cfg.LoginUserInterval),
		addr:    pol("login-addr", cfg.LoginIPBurst, cfg.LoginIPInterval),
		tokens:  pol("bad-token", cfg.InvalidTokenBurst, cfg.InvalidTokenInterval),
		// Strings: 1000 requests per 5 minutes.
		strings: pol("strings", 1000, 300*time.Millisecond),
		oauthapi: &oauthapi.TokenLimits{
			ClientFailures: pol("client-fail", cfg.ClientFailBurst, cfg.ClientFailInterval),
			AddrFailures:   pol("token-addr", cfg.LoginIPBurst, cfg.LoginIPInterval),
			// Hit on every token request; nobody is shown its remaining
			// count, so the database backend may lease it (ratelimit.DB).
			ClientRequests: counted(ratelimit.Policy{Name: "client-req", Burst: cfg.ClientRequestBurst,
				Interval: cfg.ClientRequestInterval, Lease: true}),
		},
	}, nil
}
