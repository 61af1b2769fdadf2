package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/verify"
)

// TestKeyRotationAcrossInstancesWithForgedKids: two instances on one
// database (SQLite file, PostgreSQL), and an API verifying locally with
// the verify package against the JWKS of the instance that did not rotate.
// Forged kids are sent to all three throughout, which used to spend their
// early key reloads. Instance a rotates both keys (what `tolk keys rotate`
// does); at every moment from then on, JWTs issued by either instance
// (Platform exchange: ES256, client_credentials: RS256) are accepted by
// both instances and by the API, both sign with the old keys until
// key_publish_delay has passed and with the new ones from then on.
func TestKeyRotationAcrossInstancesWithForgedKids(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			const issuer = "http://tolk.lb.test"
			cfg := func(c *config.Config) { c.Issuer = issuer }
			a := tolktest.New(t, tolktest.Options{Postgres: backend == "postgres", Config: cfg})
			b := tolktest.New(t, tolktest.Options{DSN: a.Tolk.Config.DB, Config: cfg})
			delay := a.Tolk.Config.KeyPublishDelay
			ctx := context.Background()
			api, err := verify.New(verify.Config{Issuer: issuer, JWKSURL: b.URL + "/.well-known/jwks.json",
				VerifyURL: b.URL + "/auth/verify", Now: b.Clock.Now, CacheTTL: -1})
			if err != nil {
				t.Fatal(err)
			}

			u := a.CreateUser(t, "rena", store.RoleProjectManager, "rena-password-1")
			pt, err := a.Tolk.Platform.Create(ctx, u, "rotation", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			org, err := a.Store.DefaultOrganization(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c, sec, err := a.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "rotation",
				GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"read"}, JWTAccessTokens: true})
			if err != nil {
				t.Fatal(err)
			}
			issue := func(s *tolktest.Server, form url.Values, basic bool) string {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if basic {
					req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(sec))
				}
				resp, body := s.Do(t, req)
				var out struct {
					AccessToken string `json:"access_token"`
				}
				if err := json.Unmarshal(body, &out); resp.StatusCode != 200 || err != nil {
					t.Fatalf("token at %s: %d %s", s.URL, resp.StatusCode, body)
				}
				return out.AccessToken
			}
			jwts := func(s *tolktest.Server) map[string]string { // alg → a fresh JWT issued by s
				return map[string]string{
					"ES256": issue(s, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
						"subject_token": {pt.Secret}}, false),
					"RS256": issue(s, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, true),
				}
			}
			atVerify := func(s *tolktest.Server, tok string) int {
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/auth/verify", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, _ := s.Do(t, req)
				return resp.StatusCode
			}
			atAPI := func(tok string) error {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				_, err := api.Verify(r)
				return err
			}
			forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			forged := func(kid string) string {
				sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: forger, KeyID: kid}},
					(&jose.SignerOptions{}).WithType("at+jwt"))
				now := b.Clock.Now()
				payload, _ := json.Marshal(map[string]any{"iss": issuer, "sub": u.UID, "aud": "tms", "client_id": "x",
					"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": fmt.Sprint(now.UnixNano())})
				obj, _ := sig.Sign(payload)
				out, _ := obj.CompactSerialize()
				return out
			}
			kidOf := func(tok string) string {
				raw, _ := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
				var h struct{ Kid string }
				_ = json.Unmarshal(raw, &h)
				return h.Kid
			}
			// check issues JWTs at both instances while forged kids are
			// in flight at all three verifiers, and verifies each JWT at
			// all three; it returns the kid each alg was signed with.
			check := func(when string) map[string]string {
				t.Helper()
				kids := map[string]string{}
				var wg sync.WaitGroup
				for i, s := range []*tolktest.Server{a, b} {
					wg.Go(func() {
						tok := forged(fmt.Sprintf("forged-%s-%d", when, i))
						if st := atVerify(s, tok); st != http.StatusUnauthorized {
							t.Errorf("%s: forged kid at instance %d: %d", when, i, st)
						}
						if err := atAPI(tok); err == nil {
							t.Errorf("%s: forged kid accepted by the API", when)
						}
					})
				}
				for i, s := range []*tolktest.Server{a, b} {
					for alg, tok := range jwts(s) {
						if k, ok := kids[alg]; ok && k != kidOf(tok) {
							t.Errorf("%s: the instances sign %s with %s and %s", when, alg, k, kidOf(tok))
						}
						kids[alg] = kidOf(tok)
						for j, v := range []*tolktest.Server{a, b} {
							if st := atVerify(v, tok); st != http.StatusOK {
								t.Errorf("%s: %s JWT of instance %d refused by instance %d: %d", when, alg, i, j, st)
							}
						}
						if err := atAPI(tok); err != nil {
							t.Errorf("%s: %s JWT of instance %d refused by the API: %v", when, alg, i, err)
						}
					}
				}
				wg.Wait()
				return kids
			}
			advance := func(d time.Duration) { a.Clock.Advance(d); b.Clock.Advance(d) }

			old := check("before the rotation")
			rotated := map[string]string{}
			for _, alg := range []string{"RS256", "ES256"} {
				k, err := a.Tolk.Keys.Rotate(ctx, alg)
				if err != nil {
					t.Fatal(err)
				}
				rotated[alg] = k.KID
			}
			t0 := a.Clock.Now()
			for _, at := range []time.Duration{0, time.Second, 2 * time.Second, 5 * time.Second, 6 * time.Second,
				time.Minute, 10 * time.Minute, 10*time.Minute + time.Second, delay - time.Second,
				delay, delay + time.Second, delay + 5*time.Second, delay + 10*time.Minute + time.Second} {
				advance(t0.Add(at).Sub(a.Clock.Now()))
				want := old
				if at >= delay {
					want = rotated
				}
				when := fmt.Sprintf("%s after the rotation", at)
				if got := check(when); got["RS256"] != want["RS256"] || got["ES256"] != want["ES256"] {
					t.Errorf("%s: signing with %v, want %v (old %v, rotated %v)", when, got, want, old, rotated)
				}
			}
		})
	}
}
