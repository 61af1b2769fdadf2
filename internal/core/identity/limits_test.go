package identity_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/core/twofactor"
	"github.com/tolk-project/tolk/internal/kit/password"
	"github.com/tolk-project/tolk/internal/kit/seal"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/storeopen"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// limitsBed is one or two identity services ("instances") whose failure
// limits share one backend, over one database, on a clock that stands
// still (no token comes back during a test).
type limitsBed struct {
	svcs []*identity.Service
	now  time.Time
}

// runs is how many argon2id computations the instances ran: one per
// password actually checked.
func (b *limitsBed) runs() int64 {
	var n int64
	for _, s := range b.svcs {
		n += s.Hasher.Runs()
	}
	return n
}

const userBurst, addrBurst = 10, 10

// limitBackends builds a bed on each limiter backend: in process (one
// instance: Memory buckets are per process), on the database (SQLite,
// and two instances on one PostgreSQL database) and on Redis (two
// instances).
var limitBackends = []struct {
	name string
	bed  func(t *testing.T, user, addr int) *limitsBed
}{
	{"Memory", func(t *testing.T, user, addr int) *limitsBed {
		st := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "id.db"))
		return newBed(t, []store.Store{st}, func(store.Store, func() time.Time) ratelimit.Backend { return ratelimit.Memory{} }, user, addr)
	}},
	{"SQLite", func(t *testing.T, user, addr int) *limitsBed {
		st := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "id.db"))
		return newBed(t, []store.Store{st, st}, dbBackend, user, addr)
	}},
	{"Postgres", func(t *testing.T, user, addr int) *limitsBed {
		dsn := pgtest.NewDatabase(t)
		return newBed(t, []store.Store{openStore(t, dsn), openStore(t, dsn)}, dbBackend, user, addr)
	}},
	{"Redis", func(t *testing.T, user, addr int) *limitsBed {
		url, prefix := redisURL(t), randomPrefix()
		st := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "id.db"))
		return newBed(t, []store.Store{st, st}, func(_ store.Store, now func() time.Time) ratelimit.Backend {
			r, err := ratelimit.NewRedis(t.Context(), url, prefix, now)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		}, user, addr)
	}},
}

func dbBackend(st store.Store, now func() time.Time) ratelimit.Backend {
	return &ratelimit.DB{Store: st, Now: now}
}

func openStore(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := storeopen.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// newBed makes one identity service per store, each with its own
// limiter backend (made by backend) and the same sealing key, and
// bootstraps the database through the first.
func newBed(t *testing.T, stores []store.Store, backend func(store.Store, func() time.Time) ratelimit.Backend, user, addr int) *limitsBed {
	t.Helper()
	b := &limitsBed{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return b.now }
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stores {
		be := backend(st, clock)
		b.svcs = append(b.svcs, &identity.Service{
			Store: st, Hasher: password.NewHasher(cheap, 4, nil), Now: clock,
			UserLimit:   be.Limiter(ratelimit.Policy{Name: "login-user", Burst: user, Interval: time.Minute}),
			AddrLimit:   be.Limiter(ratelimit.Policy{Name: "login-addr", Burst: addr, Interval: time.Minute}),
			APITokenTTL: time.Hour, SessionTTL: time.Hour,
			TwoFactor: &twofactor.Service{Store: st, Sealer: sealer, Now: clock},
		})
	}
	if _, _, err := b.svcs[0].Bootstrap(t.Context(), "bootstrap-password"); err != nil {
		t.Fatal(err)
	}
	return b
}

func redisURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("TOLK_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	addr, _, _ := strings.Cut(strings.TrimPrefix(url, "redis://"), "/")
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is required under CI=true but is not reachable at %s: %v", addr, err)
		}
		t.Skipf("Redis not reachable at %s (set TOLK_TEST_REDIS): %v", addr, err)
	}
	c.Close()
	return url
}

func randomPrefix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "tolktest:" + hex.EncodeToString(b) + ":"
}

// enrol turns u's second factor on and returns its base32 secret.
func enrol(t *testing.T, b *limitsBed, u store.User) string {
	t.Helper()
	tf := b.svcs[0].TwoFactor
	e, err := tf.BeginEnrolment(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tf.Enable(t.Context(), u, totpAt(t, e.Secret, b.now)); err != nil {
		t.Fatal(err)
	}
	return e.Secret
}

func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConcurrentGuessesEvaluateAtMostTheBurst: guesses sent at once, over
// two instances where the backend is shared, are evaluated at most as
// many times as the bucket holds tokens: each takes its token before it
// is checked. Counted by evaluations (argon2id runs, codes answered
// "wrong"), not by time.
func TestConcurrentGuessesEvaluateAtMostTheBurst(t *testing.T) {
	type guess func(s *identity.Service, i int) error
	cases := []struct {
		name       string
		user, addr int // bursts
		n          int // concurrent guesses
		setup      func(t *testing.T, b *limitsBed) guess
		// evaluated counts the guesses that were checked
		evaluated func(b *limitsBed, before int64, wrong int32) int64
		want      int64 // exactly this many evaluated
	}{
		{
			name: "wrong passwords for one user from many addresses", user: userBurst, addr: 1000, n: 4 * userBurst,
			setup: func(t *testing.T, b *limitsBed) guess {
				newUser(t, b.svcs[0], "alice")
				return func(s *identity.Service, i int) error {
					_, err := s.Authenticate(context.Background(), "test", "alice", "wrong-password", fmt.Sprintf("10.1.0.%d", i))
					return err
				}
			},
			evaluated: func(b *limitsBed, before int64, _ int32) int64 { return b.runs() - before },
			want:      userBurst,
		},
		{
			name: "wrong passwords for many names from one address", user: 1000, addr: addrBurst, n: 6 * addrBurst,
			setup: func(t *testing.T, b *limitsBed) guess {
				return func(s *identity.Service, i int) error {
					_, err := s.Authenticate(context.Background(), "test", fmt.Sprintf("user%d", i), "wrong-password", "10.2.0.1")
					return err
				}
			},
			evaluated: func(b *limitsBed, before int64, _ int32) int64 { return b.runs() - before },
			want:      addrBurst,
		},
		{
			// The password is right (and costs nothing); the codes are
			// wrong, TOTP and recovery-code shaped alike.
			name: "wrong second-factor codes", user: userBurst, addr: 1000, n: 4 * userBurst,
			setup: func(t *testing.T, b *limitsBed) guess {
				u := newUser(t, b.svcs[0], "carol")
				sec := enrol(t, b, u)
				wrong := "000000"
				for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
					if totpAt(t, sec, b.now.Add(d)) == wrong {
						wrong = "111111"
					}
				}
				return func(s *identity.Service, i int) error {
					code := wrong
					if i%2 == 1 {
						code = "aaaa-bbbb-cccc-dddd"
					}
					_, err := s.AuthenticateOTP(context.Background(), "test", "carol", "password-carol", code, fmt.Sprintf("10.3.0.%d", i))
					return err
				}
			},
			evaluated: func(_ *limitsBed, _ int64, wrong int32) int64 { return int64(wrong) },
			want:      userBurst,
		},
	}
	for _, be := range limitBackends {
		t.Run(be.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					b := be.bed(t, c.user, c.addr)
					g := c.setup(t, b)
					before := b.runs()
					var wrong, throttled atomic.Int32
					var unexpected atomic.Value
					start := make(chan struct{})
					var wg sync.WaitGroup
					for i := range c.n {
						wg.Go(func() {
							<-start
							err := g(b.svcs[i%len(b.svcs)], i)
							var thr *identity.ThrottledError
							switch {
							case errors.Is(err, identity.ErrInvalidCredentials):
								wrong.Add(1)
							case errors.As(err, &thr):
								throttled.Add(1)
							default:
								unexpected.Store(fmt.Sprintf("guess %d: %v", i, err))
							}
						})
					}
					close(start)
					wg.Wait()
					if u := unexpected.Load(); u != nil {
						t.Fatal(u)
					}
					got := c.evaluated(b, before, wrong.Load())
					if got != c.want || int64(wrong.Load()) != c.want {
						t.Fatalf("%d of %d concurrent guesses evaluated, %d answered wrong, %d throttled; want exactly %d evaluated",
							got, c.n, wrong.Load(), throttled.Load(), c.want)
					}
				})
			}
		})
	}
}

func newUser(t *testing.T, s *identity.Service, name string) store.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), identity.NewUser{UserName: name, Email: name + "@example.com", Role: store.RoleLinguist, Password: "password-" + name})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestOneFailureBudgetPerAccount: failures under any name that resolves
// to an account (its user name in any case, its email) and failed codes
// spend the account's one budget, in every dialect (they all sign in
// through Authenticate, AuthenticateOTP or BeginLogin/FinishLogin), and
// so do wrong passwords when changing the second factor. A name that
// resolves to nobody has a budget of its own, as typed (case-folded).
func TestOneFailureBudgetPerAccount(t *testing.T) {
	const burst = 3
	ctx := context.Background()
	type attempt func(t *testing.T, s *identity.Service, u store.User, addr string) error
	login := func(name, pw string) attempt {
		return func(t *testing.T, s *identity.Service, _ store.User, addr string) error {
			_, err := s.AuthenticateOTP(ctx, "test", name, pw, "", addr)
			return err
		}
	}
	web := func(name, pw string) attempt {
		return func(t *testing.T, s *identity.Service, _ store.User, addr string) error {
			_, _, err := s.BeginLogin(ctx, "web", name, pw, addr)
			return err
		}
	}
	disable := func(pw string) attempt {
		return func(t *testing.T, s *identity.Service, u store.User, addr string) error {
			return s.DisableTwoFactor(ctx, u, pw, addr)
		}
	}
	enable := func(pw string) attempt {
		return func(t *testing.T, s *identity.Service, u store.User, addr string) error {
			_, err := s.EnableTwoFactor(ctx, u, pw, "123456", addr)
			return err
		}
	}
	cases := []struct {
		name      string
		failures  []attempt // burst of them, cycled
		then      attempt   // with the right password
		throttled bool
	}{
		{"user name, then email", []attempt{login("alice", "wrong-1")}, login("alice@example.com", "password-alice"), true},
		{"email, then user name", []attempt{login("alice@example.com", "wrong-1")}, login("alice", "password-alice"), true},
		{"mixed names and case, then web", []attempt{login("ALICE", "wrong-1"), web("Alice@Example.com", "wrong-2"), login("alice", "wrong-3")}, web("alice", "password-alice"), true},
		{"user name, then confirming a 2FA change", []attempt{login("alice", "wrong-1")}, disable("password-alice"), true},
		{"confirming a 2FA change, then email", []attempt{enable("wrong-1"), disable("wrong-2")}, login("alice@example.com", "password-alice"), true},
		{"another account's failures", []attempt{login("bob", "wrong-1")}, login("alice", "password-alice"), false},
		{"an unknown name's failures", []attempt{login("alicia", "wrong-1")}, login("alice", "password-alice"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := limitBackends[0].bed(t, burst, 1000)
			s := b.svcs[0]
			alice := newUser(t, s, "alice")
			newUser(t, s, "bob")
			for i := range burst {
				err := c.failures[i%len(c.failures)](t, s, alice, fmt.Sprintf("10.4.0.%d", i))
				if !errors.Is(err, identity.ErrInvalidCredentials) {
					t.Fatalf("failure %d: %v, want ErrInvalidCredentials", i+1, err)
				}
			}
			err := c.then(t, s, alice, "10.4.1.1")
			var thr *identity.ThrottledError
			if got := errors.As(err, &thr); got != c.throttled {
				t.Fatalf("right password after %d failures: %v, want throttled=%v", burst, err, c.throttled)
			}
			if !c.throttled && err != nil && !errors.Is(err, twofactor.ErrNotEnabled) {
				t.Fatalf("right password: %v", err)
			}
		})
	}
	t.Run("second-factor codes by email", func(t *testing.T) {
		b := limitBackends[0].bed(t, burst, 1000)
		s := b.svcs[0]
		u := newUser(t, s, "dave")
		sec := enrol(t, b, u)
		for i := range burst {
			if _, err := s.AuthenticateOTP(ctx, "test", "dave@example.com", "password-dave", "12345x", "10.5.0.1"); !errors.Is(err, identity.ErrInvalidCredentials) {
				t.Fatalf("wrong code %d: %v", i+1, err)
			}
		}
		var thr *identity.ThrottledError
		b.now = b.now.Add(30 * time.Second) // a fresh step: the code is unused
		if _, err := s.AuthenticateOTP(ctx, "test", "DAVE", "password-dave", totpAt(t, sec, b.now), "10.5.0.2"); !errors.As(err, &thr) {
			t.Fatalf("right code by user name after %d wrong codes by email: %v, want throttled", burst, err)
		}
	})
}

// TestAuditRecordsNoTypedName: a failed sign-in is recorded by the
// account its name resolves to, and a name that resolves to nobody (a
// password typed into the user-name field, say) only as a keyed
// fingerprint: neither the audit table nor its log line holds what was
// typed.
func TestAuditRecordsNoTypedName(t *testing.T) {
	ctx := context.Background()
	b := limitBackends[0].bed(t, 100, 100)
	s := b.svcs[0]
	var logs bytes.Buffer
	s.Audit = &audit.Recorder{Store: s.Store, Log: slog.New(slog.NewTextHandler(&logs, nil)), Now: s.Now}
	alice := newUser(t, s, "alice")
	typed := []string{"Tr0ub4dor&3-horse", "tr0ub4dor&3-HORSE", "another-secret-9", "alice@example.com", "ALICE"}
	for _, name := range typed {
		if _, err := s.AuthenticateOTP(ctx, "tms", name, "wrong-password", "", "10.6.0.1"); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, _, err := s.BeginLogin(ctx, "web", "Tr0ub4dor&3-horse", "wrong-password", "10.6.0.1"); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Fatal(err)
	}
	events, err := s.Store.ListAuditEvents(ctx, store.AuditFilter{Type: audit.Login, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != len(typed)+1 {
		t.Fatalf("%d login events, want %d", len(events), len(typed)+1)
	}
	fingerprints := map[string]int{}
	resolved := 0
	for _, e := range events {
		if e.Outcome != audit.Failure {
			t.Errorf("event %+v: outcome %q", e, e.Outcome)
		}
		for k, v := range e.Details {
			if k != "dialect" && k != "unknown_user" {
				t.Errorf("event detail %s=%q", k, v)
			}
		}
		if e.SubjectUID == alice.UID {
			resolved++
			if _, ok := e.Details["unknown_user"]; ok {
				t.Errorf("a resolved name has a fingerprint: %v", e.Details)
			}
			continue
		}
		fp := e.Details["unknown_user"]
		if !strings.HasPrefix(fp, "hmac:") || len(fp) != len("hmac:")+16 || e.SubjectUID != "" {
			t.Errorf("unresolved name recorded as %+v", e)
		}
		fingerprints[fp]++
	}
	if resolved != 2 {
		t.Errorf("%d events name alice's account, want 2 (her email and her name in capitals)", resolved)
	}
	// One name in two cases (three attempts, two dialects) shares one
	// fingerprint; the other name has its own.
	if len(fingerprints) != 2 {
		t.Errorf("fingerprints %v: want 2 distinct", fingerprints)
	}
	table := fmt.Sprint(events)
	for _, name := range typed[:3] {
		for _, v := range []string{name, strings.ToLower(name), hashHex(name), hashHex(strings.ToLower(name))} {
			if strings.Contains(table, v) || strings.Contains(logs.String(), v) {
				t.Errorf("the audit table or log holds %q", v)
			}
		}
	}
	if !strings.Contains(logs.String(), "unknown_user=hmac:") {
		t.Errorf("no fingerprint in the log lines:\n%s", logs.String())
	}
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
