package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tolk-project/tolk/internal/store"
)

// gate makes the store's fsync wait while held, so a test can see which
// writes are answered before their fsync. It is installed before the
// store's first write, so the committer only ever sees it.
type gate struct {
	held    atomic.Bool
	release chan struct{}
}

func installGate(s *Store) *gate {
	g := &gate{release: make(chan struct{})}
	real := s.c.sync
	s.c.sync = func() error {
		if g.held.Load() {
			<-g.release
		}
		return real()
	}
	return g
}

type durabilityStore struct {
	*Store
	gate   *gate
	user   store.User
	client store.Client
}

func openDurability(t *testing.T, o Options) durabilityStore {
	t.Helper()
	ctx := context.Background()
	s, err := OpenWith(ctx, filepath.Join(t.TempDir(), "d.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	g := installGate(s)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	org := store.Organization{UID: uuid.NewString(), Name: "Org", CreatedAt: now}
	u := store.User{UID: uuid.NewString(), ID: "u1", OrgUID: org.UID, UserName: "ana", Email: "ana@example.com",
		Role: store.RoleLinguist, PasswordHash: "x", Active: true, CreatedAt: now, UpdatedAt: now}
	c := store.Client{ID: "client-1", OrgUID: org.UID, Name: "App", SecretHash: "h", GrantTypes: []string{"client_credentials"},
		CreatedAt: now, UpdatedAt: now}
	for _, err := range []error{s.CreateOrganization(ctx, org), s.CreateUser(ctx, u), s.CreateClient(ctx, c)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return durabilityStore{Store: s, gate: g, user: u, client: c}
}

// TestIssuanceIsAnsweredAtCommit pins which writes are answered before
// their fsync: new tokens, codes, sessions and audit batches (whose loss
// in a power failure fails closed), and not revocations or anything else.
// With SyncIssuance every write waits.
func TestIssuanceIsAnsweredAtCommit(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	// Each write runs on a fresh store with its user and client.
	writes := []struct {
		name  string
		early bool
		setup func(t *testing.T, s durabilityStore) // before the fsync is held
		write func(s durabilityStore) func(context.Context) error
	}{
		{"CreateAccessToken", true, nil, func(s durabilityStore) func(context.Context) error {
			return func(ctx context.Context) error {
				return s.CreateAccessToken(ctx, store.AccessToken{Hash: "k1", ClientID: s.client.ID, OrgUID: s.user.OrgUID,
					GrantID: "g1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			}
		}},
		{"CreateAuthCode", true, nil, func(s durabilityStore) func(context.Context) error {
			return func(ctx context.Context) error {
				return s.CreateAuthCode(ctx, store.AuthCode{Hash: "c1", ClientID: s.client.ID, UserUID: s.user.UID,
					GrantID: "g1", AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Minute)})
			}
		}},
		{"CreateAPIToken", true, nil, func(s durabilityStore) func(context.Context) error {
			return func(ctx context.Context) error {
				return s.CreateAPIToken(ctx, store.APIToken{Hash: "a1", UserUID: s.user.UID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			}
		}},
		{"CreateWebSession", true, nil, func(s durabilityStore) func(context.Context) error {
			return func(ctx context.Context) error {
				return s.CreateWebSession(ctx, store.WebSession{Hash: "w1", UserUID: s.user.UID, CSRFToken: "x",
					AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			}
		}},
		{"AppendAuditEvents", true, nil, func(s durabilityStore) func(context.Context) error {
			return func(ctx context.Context) error {
				return s.AppendAuditEvents(ctx, []store.AuditEvent{{ID: uuid.NewString(), Time: now, Type: "oauth.token_issued"}})
			}
		}},
		{"AppendAuditEvent (in the request)", false, nil, func(s durabilityStore) func(context.Context) error {
			return func(ctx context.Context) error {
				return s.AppendAuditEvent(ctx, store.AuditEvent{ID: uuid.NewString(), Time: now, Type: "login"})
			}
		}},
		{"RevokeAccessToken", false, func(t *testing.T, s durabilityStore) {
			if err := s.CreateAccessToken(context.Background(), store.AccessToken{Hash: "r1", ClientID: s.client.ID,
				OrgUID: s.user.OrgUID, GrantID: "g2", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}, func(s durabilityStore) func(context.Context) error {
			return func(ctx context.Context) error { _, err := s.RevokeAccessToken(ctx, "r1"); return err }
		}},
		{"DeleteAPIToken (logout)", false, func(t *testing.T, s durabilityStore) {
			if err := s.CreateAPIToken(context.Background(), store.APIToken{Hash: "d1", UserUID: s.user.UID, CreatedAt: now,
				ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}, func(s durabilityStore) func(context.Context) error {
			return func(ctx context.Context) error { _, err := s.DeleteAPIToken(ctx, "d1"); return err }
		}},
		{"RevokeGrant", false, nil, func(s durabilityStore) func(context.Context) error {
			return func(ctx context.Context) error { return s.RevokeGrant(ctx, "g9") }
		}},
	}
	for _, sync := range []bool{false, true} {
		for _, w := range writes {
			name := w.name
			if sync {
				name += "/sync_issuance"
			}
			t.Run(name, func(t *testing.T) {
				st := openDurability(t, Options{SyncIssuance: sync})
				if w.setup != nil {
					w.setup(t, st)
				}
				st.gate.held.Store(true)
				done := make(chan error, 1)
				go func() { done <- w.write(st)(context.Background()) }()
				var answered bool
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
					answered = true
				case <-time.After(300 * time.Millisecond):
				}
				st.gate.held.Store(false)
				close(st.gate.release)
				if !answered {
					if err := <-done; err != nil {
						t.Fatal(err)
					}
				}
				if want := w.early && !sync; answered != want {
					t.Fatalf("answered before its fsync: %v, want %v", answered, want)
				}
			})
		}
	}
}

// TestWriteOutlivesItsContextOnceRunning: a request's context that ends
// while its write is running does not interrupt the write (which, in a
// shared transaction, would roll back the other callers' writes too): the
// write commits and reports success.
func TestWriteOutlivesItsContextOnceRunning(t *testing.T) {
	st := openDurability(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	err := st.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		cancel() // the client went away after the write started
		_, err := tx.ExecContext(ctx, `UPDATE users SET first_name = 'Ana' WHERE uid = ?`, st.user.UID)
		return err
	})
	if err != nil {
		t.Fatalf("write whose context ended while it ran: %v", err)
	}
	u, err := st.GetUser(context.Background(), st.user.UID)
	if err != nil || u.FirstName != "Ana" {
		t.Fatalf("write not committed: %+v %v", u, err)
	}
	// A context that ended before the write's turn still skips it.
	if err := st.inTx(ctx, func(context.Context, *sql.Tx) error { return nil }); err == nil {
		t.Fatal("write with an ended context ran")
	}
}
