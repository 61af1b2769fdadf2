package storetest

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/tolk-project/tolk/internal/store"
)

// Benchmarks of the token endpoint's store calls, shared by the backends'
// Benchmark functions so that their figures compare. Each runs 8
// goroutines per GOMAXPROCS (16 on 2 cores, tolkbench's connections) and
// reports time per grant.

// benchParallelism is the goroutines per GOMAXPROCS.
const benchParallelism = 8

// BenchRedeemAuthCode measures the authorization_code grant's store calls:
// the code read with its user, then the claim that issues an access token.
// The codes are stored before the timer starts.
func BenchRedeemAuthCode(b *testing.B, s store.Store) {
	ctx := b.Context()
	p := mustParty(b, s)
	codes := make([]store.AuthCode, b.N)
	for i := range codes {
		codes[i] = mustCode(b, s, p.code("grant-"+shortID()))
	}
	var next atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := codes[next.Add(1)-1]
			if _, _, err := s.GetAuthCodeAndUser(ctx, c.Hash); err != nil {
				b.Error(err)
				return
			}
			if err := s.RedeemAuthCode(ctx, c.Hash, at(0), new(p.access(c.GrantID)), nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchRotateRefreshToken measures the refresh_token grant's store calls:
// the token read with its user, then the rotation that issues an access
// token and the next refresh token. Each goroutine rotates its own chain.
func BenchRotateRefreshToken(b *testing.B, s store.Store) {
	ctx := b.Context()
	p := mustParty(b, s)
	chains := make([]store.RefreshToken, benchParallelism*runtime.GOMAXPROCS(0))
	for i := range chains {
		c := mustCode(b, s, p.code("grant-"+shortID()))
		chains[i] = p.refresh(c.GrantID)
		if err := s.RedeemAuthCode(ctx, c.Hash, at(0), new(p.access(c.GrantID)), &chains[i]); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cur := chains[next.Add(1)-1]
		for pb.Next() {
			if _, _, err := s.GetRefreshTokenAndUser(ctx, cur.Hash); err != nil {
				b.Error(err)
				return
			}
			next := p.refresh(cur.GrantID)
			if err := s.RotateRefreshToken(ctx, cur.Hash, at(0), 0, new(p.access(cur.GrantID)), next); err != nil {
				b.Error(err)
				return
			}
			cur = next
		}
	})
}
