package server

import (
	"context"

	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/kit/metrics"
	"github.com/tolk-project/tolk/internal/kit/oauth"
)

// countTokens wires the services' token hooks to the metrics
// (docs/operations.md, Monitoring): the token endpoint's outcomes by
// grant, token exchange as the Platform dialect; TMS ApiTokens, Strings
// PATs, Platform API tokens and ProZ API keys as they are created.
func (s *Server) countTokens() {
	m := s.Metrics
	s.Authz.OnToken = func(grant, reason string) {
		dialect := "oauth"
		if grant == oauth.GrantTokenExchange {
			dialect, grant = "platform", "token_exchange"
		}
		m.Token(dialect, grant, reason)
	}
	issued := func(dialect, grant string) { m.Token(dialect, grant, "") }
	s.Identity.OnToken = issued
	s.PATs.OnToken = issued
	s.Platform.OnToken = issued
	s.APIKeys.OnToken = issued
}

// countedLimiter counts the attempts its limiter refuses, by the limit's
// name (tolk_rate_limited_total). A backend error is no refusal of the
// limit: callers fail closed on it, and it shows in the logs and the
// store's error count instead.
type countedLimiter struct {
	ratelimit.Limiter
	name string
	m    *metrics.Metrics
}

func (c *countedLimiter) Check(ctx context.Context, key string) (ratelimit.Decision, error) {
	d, err := c.Limiter.Check(ctx, key)
	if err == nil && !d.OK {
		c.m.RateLimited(c.name)
	}
	return d, err
}

func (c *countedLimiter) Hit(ctx context.Context, key string) (ratelimit.Decision, error) {
	d, err := c.Limiter.Hit(ctx, key)
	if err == nil && !d.OK {
		c.m.RateLimited(c.name)
	}
	return d, err
}
