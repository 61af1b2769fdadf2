package signing

import (
	"testing"
	"time"
)

// benchClaims are the claims of an exchanged Platform JWT (RFC 9068), as
// internal/core/platform writes them, with the sizes of a real one.
type benchClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	OrgUID   string   `json:"org_uid"`
}

func (c benchClaims) JWTID() string { return c.JTI }

func (c benchClaims) AppendJSON(dst []byte) []byte {
	o := NewJSONObject(dst)
	o.String("iss", c.Issuer)
	o.String("sub", c.Subject)
	o.Strings("aud", c.Audience)
	o.Int("exp", c.Expiry)
	o.Int("iat", c.IssuedAt)
	o.String("jti", c.JTI)
	o.String("client_id", c.ClientID)
	if c.Scope != "" {
		o.String("scope", c.Scope)
	}
	o.String("org_uid", c.OrgUID)
	return o.Close()
}

// BenchmarkSignAccessToken signs an exchanged JWT's claims with each
// algorithm, one goroutine (docs/performance.md, "Exchange signing"):
//
//	go test -run '^$' -bench SignAccessToken -benchmem ./internal/core/signing/
func BenchmarkSignAccessToken(b *testing.B) {
	algs := []string{RS256, ES256, EdDSA}
	e := newEnv(b, algs...)
	now := e.clk.Now()
	c := benchClaims{
		Issuer: "https://id.example.com", Subject: "6f1c3e2a-1111-4222-8333-944455556666",
		Audience: []string{"tms", "strings", "studio", "language-ai", "connectors"},
		Expiry:   now.Add(4 * time.Hour).Unix(), IssuedAt: now.Unix(), JTI: newJTI(),
		ClientID: "platform-api-token:0123456789abcdef0123456789abcdef",
		Scope:    "read write", OrgUID: "6f1c3e2a-1111-4222-8333-944455556667",
	}
	for _, alg := range algs {
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.kr.Sign(ctx, alg, TypAtJWT, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
