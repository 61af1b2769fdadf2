package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlite"
	"github.com/tolk-project/tolk/internal/store/storetest"
)

// BenchmarkCreateAccessToken measures durable token inserts from 16
// concurrent writers, the shape of the token endpoint under load; group
// commit is what makes it scale past one fsync per token.
func BenchmarkCreateAccessToken(b *testing.B) {
	ctx := context.Background()
	st := benchStore(b)
	now := time.Now().UTC()
	org := store.Organization{UID: "00000000-0000-4000-8000-0000000000b1", Name: "b", CreatedAt: now}
	_ = st.CreateOrganization(ctx, org)
	if err := st.CreateClient(ctx, store.Client{ID: "bench", OrgUID: org.UID, Name: "b", CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			err := st.CreateAccessToken(ctx, store.AccessToken{Hash: fmt.Sprintf("%064d", i), ClientID: "bench", OrgUID: org.UID,
				Scopes: []string{"read"}, Audiences: []string{"tms"}, GrantID: fmt.Sprint(i), CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendAuditEvents measures the background audit writer's batch
// (about 10 ms of token_issued events at 20k tokens a second), per event.
func BenchmarkAppendAuditEvents(b *testing.B) {
	ctx := context.Background()
	st := benchStore(b)
	const batch = 200
	now := time.Now().UTC()
	es := make([]store.AuditEvent, batch)
	n := 0
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		for j := range es {
			n++
			es[j] = store.AuditEvent{ID: fmt.Sprintf("%032x", n), Time: now, Type: "oauth.token_issued", ClientID: "bench",
				OrgUID: "00000000-0000-4000-8000-0000000000b1", ClientAddr: "127.0.0.1", RequestID: fmt.Sprintf("%016x", n),
				Outcome: "success", Details: map[string]string{"grant_type": "client_credentials"}}
		}
		if err := st.AppendAuditEvents(ctx, es); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedeemAuthCode: the code grant's store calls from 16
// concurrent callers (storetest.BenchRedeemAuthCode).
func BenchmarkRedeemAuthCode(b *testing.B) { storetest.BenchRedeemAuthCode(b, benchStore(b)) }

// BenchmarkRotateRefreshToken: the refresh grant's store calls from 16
// concurrent callers, one chain each (storetest.BenchRotateRefreshToken).
func BenchmarkRotateRefreshToken(b *testing.B) { storetest.BenchRotateRefreshToken(b, benchStore(b)) }

// benchStore opens and migrates a fresh database, closed when b ends.
func benchStore(b *testing.B) *sqlite.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkAccessTokenCut measures the read every sealed access token's
// verification (and client_credentials, for a deleted app) makes, from 16
// concurrent readers, on a table holding some cutoffs.
func BenchmarkAccessTokenCut(b *testing.B) {
	ctx := context.Background()
	st := benchStore(b)
	now := time.Now().UTC()
	for i := range 100 {
		if err := st.CutAccessTokens(ctx, store.Cutoff{Key: store.TokenCutoffKey(fmt.Sprint(i)), NotBefore: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		keys store.CutoffKeys
	}{
		{"app", store.CutoffKeys{Client: store.ClientCutoffKey("bench")}},
		{"user token", store.CutoffKeys{Token: store.TokenCutoffKey("x"), Grant: store.GrantCutoffKey("g"), Client: store.ClientCutoffKey("bench"),
			User: store.UserCutoffKey("u"), Authorization: store.AuthorizationCutoffKey("u", "bench")}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if cut, err := st.AccessTokenCut(ctx, tc.keys, now); err != nil || cut {
						b.Error(cut, err)
						return
					}
				}
			})
		})
	}
}
