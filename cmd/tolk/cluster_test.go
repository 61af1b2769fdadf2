package main_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// SPEC §7 and docs/scale-out.md: two real `tolk serve` processes on one
// PostgreSQL database, reached without sticky sessions.

type cluster struct {
	db   string
	env  []string
	a, b string // base URLs of the two instances
}

func newCluster(t *testing.T, extraEnv ...string) cluster {
	t.Helper()
	db := pgtest.NewMigrated(t)
	env := append([]string{"TOLK_SECRET_KEY=" + testSecretKey, "TOLK_ADMIN_PASSWORD=" + adminPassword,
		"TOLK_ISSUER=http://tolk.lb.test"}, extraEnv...)
	pa := start(t, db, env...)
	pb := start(t, db, env...)
	t.Cleanup(func() { pa.stop(t); pb.stop(t) })
	return cluster{db: db, env: env, a: "http://" + pa.addr, b: "http://" + pb.addr}
}

func TestTwoInstances_CredentialsFromOneAcceptedByTheOther(t *testing.T) {
	cl := newCluster(t)
	c := newClient(t, cl.db, cl.env)

	// TMS ApiToken: login at A, whoAmI at B.
	tok := tmsLogin(t, cl.a)
	if r := get(t, cl.b+"/api2/v1/auth/whoAmI", "Authorization", "ApiToken "+tok); r.Status != 200 {
		t.Fatalf("ApiToken from A at B: %d %s", r.Status, r.Raw)
	}
	// client_credentials at A, introspected at B.
	r := mustSend(t, tokenRequest(cl.a, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c))
	if r.Status != 200 || !active(t, cl.b, r.str("access_token"), c) {
		t.Fatalf("client_credentials token from A not active at B: %d %s", r.Status, r.Raw)
	}
	// Authorization code: signed in and consented at A, the code redeemed
	// at B, the bearer token used at /userinfo of both.
	code, v := authCode(t, browser(t, cl.a), c, "openid profile")
	r = mustSend(t, tokenRequest(cl.b, "/oauth/token", codeForm(code, v), c))
	if r.Status != 200 {
		t.Fatalf("code from A redeemed at B: %d %s", r.Status, r.Raw)
	}
	for _, base := range []string{cl.a, cl.b} {
		u := get(t, base+"/userinfo", "Authorization", "Bearer "+r.str("access_token"))
		if u.Status != 200 || u.str("sub") == "" {
			t.Errorf("/userinfo at %s: %d %s", base, u.Status, u.Raw)
		}
	}
	// A web session started at A is valid at B (no sticky sessions), and
	// its CSRF token too: a settings form shown by A is accepted by B.
	br := browser(t, cl.a)
	br.Login(t, "admin", adminPassword)
	pg := at(br, cl.a).Get(t, "/settings/access-tokens")
	if pg.Status != 200 {
		t.Fatalf("settings page at A: %d", pg.Status)
	}
	form := oauthflow.HiddenFields(pg.Body)
	form.Set("name", "made across instances")
	p := at(br, cl.b).Post(t, "/settings/access-tokens", form)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("form from A posted to B: %d", p.Status)
	}
	// Post/redirect/get: the page B redirects to shows the new token once,
	// whichever instance serves it (the flash is sealed with the shared
	// secret key).
	if p := at(br, cl.a).Get(t, p.Location.RequestURI()); p.Status != 200 || !strings.Contains(p.Body, `id="new-token"`) {
		t.Fatalf("the new token, made at B, shown at A: %d", p.Status)
	}
}

func TestTwoInstances_LogoutAtOneRefusedAtTheOtherAtOnce(t *testing.T) {
	cl := newCluster(t)
	t.Run("TMS logout", func(t *testing.T) {
		tok := tmsLogin(t, cl.b)
		req, _ := http.NewRequest(http.MethodPost, cl.a+"/api2/v1/auth/logout", nil)
		req.Header.Set("Authorization", "ApiToken "+tok)
		if r := mustSend(t, req); r.Status != http.StatusNoContent {
			t.Fatalf("logout at A: %d %s", r.Status, r.Raw)
		}
		if r := get(t, cl.b+"/api2/v1/auth/whoAmI", "Authorization", "ApiToken "+tok); r.Status != http.StatusUnauthorized {
			t.Fatalf("ApiToken at B right after logout at A: %d", r.Status)
		}
	})
	t.Run("web sign-out", func(t *testing.T) {
		tok := tmsLogin(t, cl.b)
		br := browser(t, cl.a)
		br.Login(t, "admin", adminPassword)
		if p := at(br, cl.b).Get(t, "/settings/access-tokens"); p.Status != 200 {
			t.Fatalf("session from A at B: %d", p.Status)
		}
		lp := at(br, cl.a).Get(t, "/logout")
		if p := at(br, cl.a).Post(t, "/logout", oauthflow.HiddenFields(lp.Body)); p.Status != http.StatusSeeOther {
			t.Fatalf("sign-out at A: %d", p.Status)
		}
		// Replay the old session cookie at B, as a thief would.
		if p := at(br, cl.b).Get(t, "/settings/access-tokens"); p.Status != http.StatusSeeOther || p.Location == nil || p.Location.Path != "/login" {
			t.Fatalf("session at B right after sign-out at A: %d %v", p.Status, p.Location)
		}
		// Signing out of the web UI ends the user's ApiTokens (TMS), on
		// every instance.
		if r := get(t, cl.b+"/api2/v1/auth/whoAmI", "Authorization", "ApiToken "+tok); r.Status != http.StatusUnauthorized {
			t.Fatalf("ApiToken at B right after web sign-out at A: %d", r.Status)
		}
	})
}

// jwtKid returns the kid of a compact JWS.
func jwtKid(t *testing.T, jwt string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.SplitN(jwt, ".", 2)[0])
	if err != nil {
		t.Fatalf("not a JWT: %.40s", jwt)
	}
	var hdr struct{ Kid string }
	_ = json.Unmarshal(h, &hdr)
	return hdr.Kid
}

var newTokenRE = regexp.MustCompile(`<input id="new-token"[^>]* value="([^"]*)"`)

func TestTwoInstances_KeyRotationSeenByTheOtherWithinTheBound(t *testing.T) {
	// A rotated key signs 3 s after it is published, by which time both
	// instances have loaded it (they reload every second).
	cl := newCluster(t, "TOLK_KEY_CACHE_INTERVAL=1s", "TOLK_KEY_PUBLISH_DELAY=3s")
	// A Platform API token to exchange (token exchange signs with ES256).
	br := browser(t, cl.a)
	br.Login(t, "admin", adminPassword)
	pg := br.Get(t, "/settings/access-tokens")
	form := oauthflow.HiddenFields(pg.Body)
	form.Set("name", "rotation")
	made := br.Post(t, "/settings/access-tokens", form)
	if made.Status == http.StatusSeeOther { // post/redirect/get
		made = br.Get(t, made.Location.RequestURI())
	}
	m := newTokenRE.FindStringSubmatch(made.Body)
	if m == nil {
		t.Fatal("no Platform API token created")
	}
	exchange := func(base string) string {
		t.Helper()
		r := mustSend(t, tokenRequest(base, "/oauth/token", url.Values{
			"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {m[1]}}, testClient{}))
		if r.Status != 200 {
			t.Fatalf("exchange at %s: %d %s", base, r.Status, r.Raw)
		}
		return r.str("access_token")
	}
	old := exchange(cl.b)
	oldKid := jwtKid(t, old)

	// Rotate from outside both instances (the CLI on the shared database).
	var keys []map[string]any
	if err := json.Unmarshal(tolkCLI(t, cl.db, cl.env, "keys", "rotate", "--alg", "ES256"), &keys); err != nil {
		t.Fatal(err)
	}
	newKid := ""
	for _, k := range keys {
		if k["alg"] == "ES256" && k["kid"] != oldKid && k["active"] == true {
			newKid, _ = k["kid"].(string)
		}
	}
	if newKid == "" {
		t.Fatalf("no new active ES256 key in %v", keys)
	}
	// Both instances sign with the new key once key_publish_delay has
	// passed; the deadline is generous, the test asserts no timing.
	for _, base := range []string{cl.a, cl.b} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			jwt := exchange(base)
			if jwtKid(t, jwt) == newKid {
				// A JWT of the new key verifies at the other instance at
				// once: it was published there before anyone signed with it.
				other := cl.a
				if base == cl.a {
					other = cl.b
				}
				if r := get(t, other+"/api2/v1/auth/whoAmI", "Authorization", "Bearer "+jwt); r.Status != 200 {
					t.Fatalf("JWT of the new key from %s refused at %s: %d %s", base, other, r.Status, r.Raw)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still signs with %s, not the rotated key %s", base, jwtKid(t, jwt), newKid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The old key's JWT still verifies everywhere, and JWKS publishes both.
	for _, base := range []string{cl.a, cl.b} {
		if r := get(t, base+"/api2/v1/auth/whoAmI", "Authorization", "Bearer "+old); r.Status != 200 {
			t.Errorf("JWT of the old key at %s: %d", base, r.Status)
		}
		jwks := get(t, base+"/.well-known/jwks.json", "", "")
		if !strings.Contains(jwks.Raw, `"`+oldKid+`"`) || !strings.Contains(jwks.Raw, `"`+newKid+`"`) {
			t.Errorf("JWKS at %s lacks the old or the new kid: %s", base, jwks.Raw)
		}
	}
}

// TestT20_OneRedemptionAcrossInstances: of 10 concurrent redemptions of one
// authorization code (or one refresh token), half sent to each instance,
// exactly one succeeds.
func TestT20_OneRedemptionAcrossInstances(t *testing.T) {
	cl := newCluster(t)
	br := browser(t, cl.a)
	// A fresh client per round: the 9 losers of a round are failed
	// attempts that the per-client abuse limit counts (on both instances).
	var c testClient
	race := func(t *testing.T, form url.Values) {
		t.Helper()
		const workers = 10
		reqs := make([]*http.Request, workers)
		for i := range reqs {
			base := cl.a
			if i%2 == 1 {
				base = cl.b
			}
			reqs[i] = tokenRequest(base, "/oauth/token", form, c)
		}
		results := make([]reply, workers)
		errs := make([]error, workers)
		barrier := make(chan struct{})
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-barrier
				results[i], errs[i] = send(reqs[i])
			}()
		}
		close(barrier)
		wg.Wait()
		ok := 0
		for i, r := range results {
			switch {
			case errs[i] != nil:
				t.Fatal(errs[i])
			case r.Status == 200 && r.str("access_token") != "":
				ok++
			case r.Status == 400 && r.str("error") == "invalid_grant":
			default:
				t.Errorf("worker %d: want 200 or 400 invalid_grant, got %d %s", i, r.Status, r.Raw)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent redemptions across two instances succeeded, want exactly 1", ok, workers)
		}
	}
	const rounds = 3 // a lost race is likely, not certain, in one round
	t.Run("authorization code", func(t *testing.T) {
		for range rounds {
			c = newClient(t, cl.db, cl.env)
			code, v := authCode(t, br, c, "openid offline_access")
			race(t, codeForm(code, v))
		}
	})
	t.Run("refresh token", func(t *testing.T) {
		for range rounds {
			c = newClient(t, cl.db, cl.env)
			code, v := authCode(t, br, c, "openid offline_access")
			r := mustSend(t, tokenRequest(cl.b, "/oauth/token", codeForm(code, v), c))
			if r.Status != 200 || r.str("refresh_token") == "" {
				t.Fatalf("redeem: %d %s", r.Status, r.Raw)
			}
			race(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}})
		}
	})
}
