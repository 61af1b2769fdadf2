package postgres_test

import (
	"testing"

	"github.com/tolk-project/tolk/internal/store/postgres"
	"github.com/tolk-project/tolk/internal/store/storetest"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// BenchmarkRedeemAuthCode: the code grant's store calls from 16
// concurrent callers (storetest.BenchRedeemAuthCode).
func BenchmarkRedeemAuthCode(b *testing.B) { storetest.BenchRedeemAuthCode(b, benchStore(b)) }

// BenchmarkRotateRefreshToken: the refresh grant's store calls from 16
// concurrent callers, one chain each (storetest.BenchRotateRefreshToken).
func BenchmarkRotateRefreshToken(b *testing.B) { storetest.BenchRotateRefreshToken(b, benchStore(b)) }

// benchStore opens and migrates a fresh database, closed when b ends.
func benchStore(b *testing.B) *postgres.Store {
	s, err := postgres.Open(b.Context(), pgtest.NewMigrated(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	return s
}
