package main_test

import (
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// TestT47_TokensAnsweredSurviveSIGKILL is SPEC §7's "a token that tolk
// returned to a client survives a crash of the process the moment after"
// and SECURITY.md T47: 8 clients ask for tokens (client_credentials,
// authorization-code redemption and refresh rotation) while tolk is killed
// with SIGKILL; after a restart on the same database every token a client
// received with 200 is still active, and no code that was redeemed can be
// redeemed again.
func TestT47_TokensAnsweredSurviveSIGKILL(t *testing.T) {
	for _, backend := range []struct {
		name string
		db   func(t *testing.T) string
		env  []string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "tolk.db") }, nil},
		{"postgres", func(t *testing.T) string { return pgtest.NewMigrated(t) }, []string{"TOLK_SECRET_KEY=" + testSecretKey}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			db := backend.db(t)
			// The per-client request limit is raised: this is a load of one
			// client, and the test is about durability, not limits.
			env := append([]string{"TOLK_ADMIN_PASSWORD=" + adminPassword, "TOLK_CLIENT_REQUEST_BURST=1000000"}, backend.env...)
			p := start(t, db, env...)
			base := "http://" + p.addr
			c := newClient(t, db, env)

			// Codes to redeem during the load (code_ttl is 30 s), and the
			// refresh token that starts a rotation chain.
			b := browser(t, base)
			type pending struct{ code, verifier string }
			codes := make([]pending, 12)
			for i := range codes {
				codes[i].code, codes[i].verifier = authCode(t, b, c, "openid offline_access")
			}
			first := mustSend(t, tokenRequest(base, "/oauth/token", codeForm(codes[0].code, codes[0].verifier), c))
			if first.Status != http.StatusOK || first.str("refresh_token") == "" {
				t.Fatalf("redeeming a code: %d %s", first.Status, first.Raw)
			}
			codes = codes[1:]

			var (
				mu       sync.Mutex
				received []string  // access tokens answered with 200
				redeemed []pending // codes answered with 200
				stop     atomic.Bool
				n        atomic.Int64
				nCodes   atomic.Int64
				wg       sync.WaitGroup
			)
			keep := func(r reply, err error) bool {
				if err != nil || r.Status != http.StatusOK || r.str("access_token") == "" {
					return false
				}
				mu.Lock()
				received = append(received, r.str("access_token"))
				mu.Unlock()
				n.Add(1)
				return true
			}
			// 6 × client_credentials.
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						keep(send(tokenRequest(base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c)))
					}
				}()
			}
			// 1 × code redemption, spread over the load.
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, pc := range codes {
					if stop.Load() {
						return
					}
					if keep(send(tokenRequest(base, "/oauth/token", codeForm(pc.code, pc.verifier), c))) {
						mu.Lock()
						redeemed = append(redeemed, pc)
						mu.Unlock()
						nCodes.Add(1)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			// 1 × refresh rotation chain.
			wg.Add(1)
			go func() {
				defer wg.Done()
				rt := first.str("refresh_token")
				for !stop.Load() {
					r, err := send(tokenRequest(base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c))
					if !keep(r, err) {
						return // the server is gone, or the answer was lost with it
					}
					rt = r.str("refresh_token")
				}
			}()

			// Kill mid-load: once a good number of tokens were answered,
			// a code redemption among them (client_credentials alone can
			// reach 300 before the first redemption is answered).
			deadline := time.Now().Add(30 * time.Second)
			for (n.Load() < 300 || nCodes.Load() == 0) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if err := p.cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			<-p.done
			stop.Store(true)
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if len(received) < 300 || len(redeemed) == 0 {
				t.Fatalf("only %d tokens and %d code redemptions before the kill", len(received), len(redeemed))
			}

			p2 := start(t, db, env...)
			base2 := "http://" + p2.addr
			var lost int
			for _, tok := range received {
				if !active(t, base2, tok, c) {
					lost++
				}
			}
			if lost > 0 {
				t.Fatalf("%d of %d tokens answered before SIGKILL are not active after the restart", lost, len(received))
			}
			// A redeemed code stays redeemed (and its replay is refused).
			for _, pc := range redeemed {
				r := mustSend(t, tokenRequest(base2, "/oauth/token", codeForm(pc.code, pc.verifier), c))
				if r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
					t.Errorf("replaying a code redeemed before the crash: %d %s", r.Status, r.Raw)
				}
			}
			t.Logf("%d tokens (%d code redemptions) checked after SIGKILL and restart", len(received), len(redeemed))
			p2.stop(t)
		})
	}
}
