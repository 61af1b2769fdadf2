package platform_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/testutil/httpbench"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// The HTTP benchmarks send real requests over loopback from 16 goroutines,
// like internal/server/bench_test.go, so that BenchmarkBareHandler in the
// same run is the baseline; BenchmarkSign* is the raw signing rate of each
// key type, the floor under an exchange's cost:
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/core/platform/

func BenchmarkBareHandler(b *testing.B) { httpbench.BenchmarkBare(b) }

func BenchmarkTokenExchange(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			s := tolktest.New(b, tolktest.Options{LogTo: io.Discard, Config: func(c *config.Config) { c.ExchangeAlg = alg }})
			_, tok := newAPIToken(b, s, "bench", time.Time{})
			body := exchangeForm(tok.Secret).Encode()
			c := httpbench.Client()
			httpbench.Parallel(b, c, func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			})
		})
	}
}

// BenchmarkVerifyExchangedJWT is tolk's own check of an exchanged JWT
// (signature, claims, the API token by id, the user), as whoAmI runs it.
func BenchmarkVerifyExchangedJWT(b *testing.B) {
	s := tolktest.New(b)
	_, tok := newAPIToken(b, s, "bench", time.Time{})
	jwt, _ := exchange(b, s, tok.Secret)
	verify := s.Tolk.Authn.AccessToken
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := verify(context.Background(), jwt); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchSign(b *testing.B, alg jose.SignatureAlgorithm, key any) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"http://127.0.0.1:8080","sub":"6f1c3e2a-1111-4222-8333-944455556666","aud":["tms","strings","studio","language-ai","connectors"],"exp":1795000000,"iat":1794985601,"jti":"abcdefghijklmnopqrstuvwxyz012345","client_id":"platform-api-token:0123456789abcdef0123456789abcdef","org_uid":"6f1c3e2a-1111-4222-8333-944455556667"}`)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			jws, err := signer.Sign(payload)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := jws.CompactSerialize(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSignES256 is the raw ES256 signing rate (P-256), all cores.
func BenchmarkSignES256(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	benchSign(b, jose.ES256, k)
}

// BenchmarkSignRS256 is the raw RS256 signing rate (2048-bit), all cores.
func BenchmarkSignRS256(b *testing.B) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	benchSign(b, jose.RS256, k)
}
