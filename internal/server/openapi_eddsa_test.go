package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestOpenAPIJWKSWithEdDSA: a server that signs with EdDSA (exchange_alg)
// publishes its Ed25519 key as an OKP JWK, and that JWKS is one
// docs/openapi.yaml describes.
func TestOpenAPIJWKSWithEdDSA(t *testing.T) {
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.ExchangeAlg = "EdDSA" }})
	c := newChecker(t, loadOpenAPI(t), s.URL)
	resp, err := c.client().Get(s.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"kty":"OKP"`) || !strings.Contains(string(body), `"alg":"EdDSA"`) {
		t.Fatalf("JWKS: %d %s", resp.StatusCode, body)
	}
}
