package signing

import (
	"testing"
	"time"
)

// BenchmarkSignAccessToken signs an exchanged JWT's claims with each
// algorithm, one goroutine (docs/performance.md, "Exchange signing"):
//
//	go test -run '^$' -bench SignAccessToken -benchmem ./internal/core/signing/
func BenchmarkSignAccessToken(b *testing.B) {
	algs := []string{RS256, ES256, EdDSA}
	e := newEnv(b, algs...)
	now := e.clk.Now()
	c := AccessClaims{
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
