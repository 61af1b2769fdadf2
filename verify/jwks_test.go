package verify_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tolk-project/tolk/verify"
)

// testClock is a settable clock, safe for concurrent use.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// issuer is a JWKS endpoint under test control that can fail or hold a
// fetch, and signs tokens with its keys.
type issuer struct {
	srv     *httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey // kid → key, published
	foreign *rsa.PrivateKey            // signs forged tokens
	fail    bool                       // answer 500
	hold    chan struct{}              // if set, a fetch waits until it is closed
	arrived chan struct{}              // receives when a held fetch has arrived
}

func newIssuer(t *testing.T, kids ...string) *issuer {
	is := &issuer{keys: map[string]*rsa.PrivateKey{}, arrived: make(chan struct{}, 16)}
	is.publish(t, "foreign")
	is.foreign = is.keys["foreign"]
	delete(is.keys, "foreign")
	for _, kid := range kids {
		is.publish(t, kid)
	}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		is.mu.Lock()
		hold := is.hold
		is.mu.Unlock()
		if hold != nil {
			is.arrived <- struct{}{}
			<-hold
		}
		is.mu.Lock()
		defer is.mu.Unlock()
		if is.fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		set := jose.JSONWebKeySet{}
		for kid, k := range is.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

// publish adds a new key named kid to the JWKS.
func (is *issuer) publish(t *testing.T, kid string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	is.keys[kid] = k
	is.mu.Unlock()
}

// token is a valid JWT signed with the key kid.
func (is *issuer) token(t *testing.T, kid string, now time.Time) string {
	is.mu.Lock()
	k := is.keys[kid]
	is.mu.Unlock()
	return sign(t, jose.RS256, k, map[jose.HeaderKey]any{"kid": kid},
		map[string]any{"iss": "https://id.example", "sub": "u1", "exp": now.Unix() + 3600, "client_id": "c1"})
}

// forged is a JWT naming a kid the issuer never published.
func (is *issuer) forged(t *testing.T, kid string, now time.Time) string {
	return sign(t, jose.RS256, is.foreign, map[jose.HeaderKey]any{"kid": kid},
		map[string]any{"iss": "https://id.example", "sub": "u1", "exp": now.Unix() + 3600, "client_id": "c1"})
}

func newJWKSVerifier(t *testing.T, is *issuer, clock *testClock) *verify.Verifier {
	t.Helper()
	v, err := verify.New(verify.Config{Issuer: "https://id.example", JWKSURL: is.srv.URL,
		VerifyURL: "http://127.0.0.1:1/none", Now: clock.Now, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func verifyBearer(ctx context.Context, v *verify.Verifier, tok string) error {
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	_, err := v.Verify(r)
	return err
}

// TestVerifier_JWKSRotationWithForgedKids: a forged kid makes the verifier
// fetch the JWKS just before the issuer publishes a new key; once the new
// key has been published for JWKSRefreshInterval (tolk publishes for far
// longer before it signs), tokens of it arrive together with forged kids
// from concurrent clients, and every genuine token is accepted, through
// the middleware, at the cost of one fetch.
func TestVerifier_JWKSRotationWithForgedKids(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	is := newIssuer(t, "k1")
	v := newJWKSVerifier(t, is, clock)
	url := serve(t, v, verify.Require{}).URL
	status := func(tok string) int {
		resp, _ := call(t, url, map[string]string{"Authorization": "Bearer " + tok})
		return resp.StatusCode
	}

	if s := status(is.token(t, "k1", clock.Now())); s != 200 {
		t.Fatalf("before the rotation: %d", s)
	}
	clock.Advance(time.Second)
	if s := status(is.forged(t, "forged-before", clock.Now())); s != 401 {
		t.Fatalf("forged kid: %d", s)
	}
	is.publish(t, "k2") // the rotation: published now, signing later
	clock.Advance(time.Second)
	fetches := is.fetches.Load()

	var genuine, fake []string
	for i := range 20 {
		genuine = append(genuine, is.token(t, "k2", clock.Now()))
		fake = append(fake, is.forged(t, fmt.Sprintf("forged-%d", i), clock.Now()))
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	got := make([]int, 40)
	for i := range 20 {
		wg.Go(func() { <-start; got[2*i] = status(genuine[i]) })
		wg.Go(func() { <-start; got[2*i+1] = status(fake[i]) })
	}
	close(start)
	wg.Wait()
	for i, s := range got {
		if want := []int{200, 401}[i%2]; s != want {
			t.Errorf("request %d (%s): %d, want %d", i, []string{"genuine", "forged"}[i%2], s, want)
		}
	}
	if n := is.fetches.Load() - fetches; n != 1 {
		t.Errorf("%d JWKS fetches for 40 concurrent requests, want 1", n)
	}
}

// TestVerifier_JWKSFetchOutlivesItsRequest: the request that caused a
// fetch goes away while the fetch is in flight; the fetch completes for
// the next request, which needs no fetch of its own.
func TestVerifier_JWKSFetchOutlivesItsRequest(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	is := newIssuer(t, "k1")
	v := newJWKSVerifier(t, is, clock)
	tok := is.token(t, "k1", clock.Now())

	release := make(chan struct{})
	is.mu.Lock()
	is.hold = release
	is.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- verifyBearer(ctx, v, tok) }()
	<-is.arrived // the fetch is at the issuer
	cancel()     // the client disconnects
	if err := <-done; !errors.Is(err, verify.ErrUnavailable) {
		t.Fatalf("cancelled request: %v, want ErrUnavailable", err)
	}
	close(release)
	if err := verifyBearer(context.Background(), v, tok); err != nil {
		t.Fatalf("next request: %v", err)
	}
	if n := is.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1", n)
	}
}

// TestVerifier_JWKSFailedFetchRetried: a failed fetch answers 503
// (ErrUnavailable) and is retried JWKSRefreshInterval after it began, not
// later.
func TestVerifier_JWKSFailedFetchRetried(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	is := newIssuer(t, "k1")
	v := newJWKSVerifier(t, is, clock)
	tok := is.token(t, "k1", clock.Now())

	is.mu.Lock()
	is.fail = true
	is.mu.Unlock()
	for range 3 {
		if err := verifyBearer(context.Background(), v, tok); !errors.Is(err, verify.ErrUnavailable) {
			t.Fatalf("issuer failing: %v, want ErrUnavailable", err)
		}
	}
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the interval after a failure, want 1", n)
	}
	is.mu.Lock()
	is.fail = false
	is.mu.Unlock()
	clock.Advance(time.Second)
	if err := verifyBearer(context.Background(), v, tok); err != nil {
		t.Fatalf("an interval after the failure: %v", err)
	}
}

// TestVerifier_JWKSForgedKidsBounded: unknown kids fetch the JWKS only when
// the cached set is older than JWKSRefreshInterval; concurrent ones share
// one fetch; a known kid of a set older than JWKSMaxAge is accepted at once
// and refreshes the set.
func TestVerifier_JWKSForgedKidsBounded(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	is := newIssuer(t, "k1")
	v := newJWKSVerifier(t, is, clock)
	ctx := context.Background()
	if err := verifyBearer(ctx, v, is.token(t, "k1", clock.Now())); err != nil {
		t.Fatal(err)
	}
	check := func(what string, want int32) {
		t.Helper()
		if n := is.fetches.Load(); n != want {
			t.Fatalf("%s: %d fetches, want %d", what, n, want)
		}
	}
	for i := range 20 {
		if err := verifyBearer(ctx, v, is.forged(t, fmt.Sprintf("f%d", i), clock.Now())); !errors.Is(err, verify.ErrInvalid) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	check("20 forged kids within the interval", 1)

	clock.Advance(time.Second)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 20 {
		tok := is.forged(t, fmt.Sprintf("g%d", i), clock.Now())
		wg.Go(func() {
			<-start
			if err := verifyBearer(ctx, v, tok); !errors.Is(err, verify.ErrInvalid) {
				t.Errorf("forged kid: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	check("20 concurrent forged kids after the interval", 2)

	clock.Advance(10 * time.Minute) // JWKSMaxAge
	if err := verifyBearer(ctx, v, is.token(t, "k1", clock.Now())); err != nil {
		t.Fatalf("known kid of an old set: %v", err)
	}
	// The refresh it started is in flight or done; a forged kid waits for
	// it or finds the set fresh, and fetches nothing more.
	if err := verifyBearer(ctx, v, is.forged(t, "h", clock.Now())); !errors.Is(err, verify.ErrInvalid) {
		t.Fatalf("forged kid: %v", err)
	}
	check("a known kid of an old set", 3)
}
