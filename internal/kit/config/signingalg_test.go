package config

import (
	"strings"
	"testing"
)

// TestSigningAlgs: EdDSA may sign access tokens (exchange_alg,
// jwt_access_alg) but not id_tokens, which relying parties must be able
// to check with RS256 (OIDC Core §15.1) and for which tolk offers no
// per-client choice; anything else is refused by name.
func TestSigningAlgs(t *testing.T) {
	for _, tc := range []struct {
		set  func(*Config)
		want string // "" = valid
	}{
		{func(c *Config) { c.ExchangeAlg = "EdDSA" }, ""},
		{func(c *Config) { c.JWTAccessAlg = "EdDSA" }, ""},
		{func(c *Config) { c.IDTokenAlg = "ES256" }, ""},
		{func(c *Config) { c.IDTokenAlg = "EdDSA" }, "id_token_alg"},
		{func(c *Config) { c.ExchangeAlg = "HS256" }, "exchange_alg"},
		{func(c *Config) { c.JWTAccessAlg = "none" }, "jwt_access_alg"},
	} {
		c, err := Load(Sources{Env: env(nil)})
		if err != nil {
			t.Fatal(err)
		}
		tc.set(&c)
		err = c.Validate()
		if tc.want == "" && err != nil {
			t.Errorf("%+v: %v", tc, err)
		}
		if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("want an error naming %s, got %v", tc.want, err)
		}
	}
}
