package storetest

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// runAudit checks store.AuditLog and store.UserAdmin.
func runAudit(t *testing.T, open Opener) {
	parallel(t, "AppendList", open, testAuditAppendList)
	parallel(t, "AppendBatch", open, testAuditAppendBatch)
	parallel(t, "Filters", open, testAuditFilters)
	parallel(t, "Paging", open, testAuditPaging)
	parallel(t, "Retention", open, testAuditRetention)
	parallel(t, "ConcurrentAppends", open, testAuditConcurrent)
	parallel(t, "SetUserRole", open, testSetUserRole)
	parallel(t, "SetUserActive", open, testSetUserActive)
}

func newAuditEvent(typ string, when time.Time) store.AuditEvent {
	return store.AuditEvent{
		ID: hexID(), Time: when, Type: typ, ActorUID: "actor-" + shortID(), ClientID: "client-" + shortID(),
		SubjectUID: "subject-" + shortID(), OrgUID: "org-" + shortID(), ClientAddr: "192.0.2.7",
		RequestID: "req-" + shortID(), Outcome: "success",
		Details: map[string]string{"dialect": "tms", "note": "Ünïcode ' OR 1=1--"},
	}
}

func mustAudit(t *testing.T, s store.Store, e store.AuditEvent) store.AuditEvent {
	t.Helper()
	if err := s.AppendAuditEvent(t.Context(), e); err != nil {
		t.Fatalf("AppendAuditEvent: %v", err)
	}
	return e
}

func checkAuditEvent(t *testing.T, got, want store.AuditEvent) {
	t.Helper()
	gt, wt := got.Time, want.Time
	got.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event = %+v, want %+v", got, want)
	}
	checkTime(t, "event time", gt, wt)
}

func listAudit(t *testing.T, s store.Store, f store.AuditFilter) []store.AuditEvent {
	t.Helper()
	es, err := s.ListAuditEvents(t.Context(), f)
	if err != nil {
		t.Fatalf("ListAuditEvents(%+v): %v", f, err)
	}
	return es
}

func auditIDs(es []store.AuditEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func testAuditAppendList(t *testing.T, ctx context.Context, s store.Store) {
	full := mustAudit(t, s, newAuditEvent("login", at(1)))
	bare := mustAudit(t, s, store.AuditEvent{ID: hexID(), Time: at(2), Type: "logout", Outcome: "success"})
	empty := store.AuditEvent{ID: hexID(), Time: at(3), Type: "x", Details: map[string]string{}}
	mustAudit(t, s, empty)
	empty.Details = nil // an empty map comes back nil

	es := listAudit(t, s, store.AuditFilter{})
	if len(es) != 3 {
		t.Fatalf("%d events, want 3", len(es))
	}
	// Newest first.
	checkAuditEvent(t, es[0], empty)
	checkAuditEvent(t, es[1], bare)
	checkAuditEvent(t, es[2], full)
	if es[0].Time.Location() != time.UTC {
		t.Errorf("time not UTC: %v", es[0].Time.Location())
	}

	dup := newAuditEvent("login", at(4))
	dup.ID = full.ID
	checkErrIs(t, "duplicate id", s.AppendAuditEvent(ctx, dup), store.ErrConflict)
}

// testAuditAppendBatch: a batch is stored whole, or not at all when one of
// its events conflicts.
func testAuditAppendBatch(t *testing.T, ctx context.Context, s store.Store) {
	if err := s.AppendAuditEvents(ctx, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	batch := []store.AuditEvent{newAuditEvent("oauth.token_issued", at(1)), newAuditEvent("oauth.token_issued", at(2)),
		{ID: hexID(), Time: at(3), Type: "platform.exchanged", Outcome: "success"}}
	if err := s.AppendAuditEvents(ctx, batch); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	es := listAudit(t, s, store.AuditFilter{})
	if len(es) != 3 {
		t.Fatalf("%d events, want 3", len(es))
	}
	for i, e := range es {
		checkAuditEvent(t, e, batch[2-i])
	}

	fresh := newAuditEvent("oauth.token_issued", at(4))
	dup := newAuditEvent("oauth.token_issued", at(5))
	dup.ID = batch[0].ID
	checkErrIs(t, "batch with a duplicate id", s.AppendAuditEvents(ctx, []store.AuditEvent{fresh, dup}), store.ErrConflict)
	if es := listAudit(t, s, store.AuditFilter{}); len(es) != 3 {
		t.Fatalf("a failed batch left %d events, want the 3 from before", len(es))
	}

	// A batch as large as the background writer's (backends may split
	// it into several statements): whole, every field kept, or nothing.
	big := make([]store.AuditEvent, 150)
	for i := range big {
		big[i] = newAuditEvent("oauth.token_issued", at(10+i))
		big[i].Details = map[string]string{"grant_type": "client_credentials", "n": fmt.Sprint(i)}
	}
	bad := append(slices.Clone(big[:149]), newAuditEvent("oauth.token_issued", at(200)))
	bad[149].ID = batch[1].ID
	checkErrIs(t, "large batch with a duplicate id last", s.AppendAuditEvents(ctx, bad), store.ErrConflict)
	if es := listAudit(t, s, store.AuditFilter{Limit: 1000}); len(es) != 3 {
		t.Fatalf("a failed large batch left %d events, want 3", len(es))
	}
	if err := s.AppendAuditEvents(ctx, big); err != nil {
		t.Fatalf("AppendAuditEvents(150): %v", err)
	}
	es = listAudit(t, s, store.AuditFilter{Limit: 1000})
	if len(es) != 153 {
		t.Fatalf("%d events after a batch of 150, want 153", len(es))
	}
	for i, e := range es[:150] {
		checkAuditEvent(t, e, big[149-i])
	}
}

func testAuditFilters(t *testing.T, ctx context.Context, s store.Store) {
	a := newAuditEvent("login", at(1))
	b := newAuditEvent("logout", at(2))
	b.OrgUID = a.OrgUID
	b.SubjectUID = a.ActorUID // a's actor is b's subject
	c := newAuditEvent("login", at(3))
	for _, e := range []store.AuditEvent{a, b, c} {
		mustAudit(t, s, e)
	}
	tests := []struct {
		name string
		f    store.AuditFilter
		want []store.AuditEvent
	}{
		{"all", store.AuditFilter{}, []store.AuditEvent{c, b, a}},
		{"org", store.AuditFilter{OrgUID: a.OrgUID}, []store.AuditEvent{b, a}},
		{"type", store.AuditFilter{Type: "login"}, []store.AuditEvent{c, a}},
		{"org and type", store.AuditFilter{OrgUID: a.OrgUID, Type: "logout"}, []store.AuditEvent{b}},
		{"user as actor or subject", store.AuditFilter{UserUID: a.ActorUID}, []store.AuditEvent{b, a}},
		{"user as subject only", store.AuditFilter{UserUID: c.SubjectUID}, []store.AuditEvent{c}},
		{"limit", store.AuditFilter{Limit: 2}, []store.AuditEvent{c, b}},
		{"unknown org", store.AuditFilter{OrgUID: "nope"}, nil},
		{"injection", store.AuditFilter{Type: "' OR 1=1--", UserUID: `"; DROP TABLE audit_events; --`}, nil},
		{"before", store.AuditFilter{BeforeTime: c.Time, BeforeID: c.ID}, []store.AuditEvent{b, a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listAudit(t, s, tt.f)
			if fmt.Sprint(auditIDs(got)) != fmt.Sprint(auditIDs(tt.want)) {
				t.Errorf("got %v, want %v", auditIDs(got), auditIDs(tt.want))
			}
		})
	}
	if n := len(listAudit(t, s, store.AuditFilter{})); n != 3 {
		t.Errorf("table damaged: %d events", n)
	}
}

// testAuditPaging walks the log with the keyset cursor, also through
// events of one microsecond, and must see each event exactly once.
func testAuditPaging(t *testing.T, ctx context.Context, s store.Store) {
	want := map[string]bool{}
	for i := range 23 {
		when := at(i / 4) // groups of four share a time
		e := mustAudit(t, s, newAuditEvent("login", when))
		want[e.ID] = true
	}
	seen := map[string]bool{}
	f := store.AuditFilter{Limit: 5}
	var last store.AuditEvent
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging does not end")
		}
		es := listAudit(t, s, f)
		for _, e := range es {
			if seen[e.ID] {
				t.Errorf("event %s seen twice", e.ID)
			}
			seen[e.ID] = true
			if last.ID != "" && (e.Time.After(last.Time) || e.Time.Equal(last.Time) && e.ID > last.ID) {
				t.Errorf("order: %v/%s after %v/%s", e.Time, e.ID, last.Time, last.ID)
			}
			last = e
		}
		if len(es) < f.Limit {
			break
		}
		f.BeforeTime, f.BeforeID = last.Time, last.ID
	}
	if !maps.Equal(seen, want) {
		t.Errorf("saw %d events, want %d", len(seen), len(want))
	}
}

func testAuditRetention(t *testing.T, ctx context.Context, s store.Store) {
	old1 := mustAudit(t, s, newAuditEvent("login", at(1)))
	_ = old1
	mustAudit(t, s, newAuditEvent("login", at(2)))
	keep := mustAudit(t, s, newAuditEvent("login", at(3)))
	n, err := deleteExpired(ctx, s, at(3), store.ExpiredAuditEvents)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpired = %d, %v; want 2", n, err)
	}
	es := listAudit(t, s, store.AuditFilter{})
	if len(es) != 1 || es[0].ID != keep.ID {
		t.Errorf("left %v, want [%s]", auditIDs(es), keep.ID)
	}
}

func testAuditConcurrent(t *testing.T, ctx context.Context, s store.Store) {
	const n = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- s.AppendAuditEvent(ctx, newAuditEvent("login", at(i%3)))
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("append: %v", err)
		}
	}
	if got := len(listAudit(t, s, store.AuditFilter{Limit: 100})); got != n {
		t.Errorf("%d events, want %d", got, n)
	}
}

func testSetUserRole(t *testing.T, ctx context.Context, s store.Store) {
	o := mustOrg(t, s)
	u := mustUser(t, s, newUser(o, "rolf"))
	if err := s.SetUserRole(ctx, u.UID, store.RoleProjectManager, at(5)); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, u.UID)
	if err != nil {
		t.Fatal(err)
	}
	u.Role, u.UpdatedAt = store.RoleProjectManager, at(5)
	checkUser(t, got, u)
	checkErrIs(t, "unknown user", s.SetUserRole(ctx, "no-such-uid", store.RoleAdmin, at(6)), store.ErrNotFound)
}

func testSetUserActive(t *testing.T, ctx context.Context, s store.Store) {
	p := mustParty(t, s)
	other := mustUser(t, s, newUser(p.org, "other-"+shortID()))
	u := p.user

	// Everything the user holds, and the same for another user.
	tok := mustToken(t, s, newToken(u.UID, at(60)))
	otherTok := mustToken(t, s, newToken(other.UID, at(60)))
	sess := mustSession(t, s, newSession(u.UID))
	otherSess := mustSession(t, s, newSession(other.UID))
	rt := mustRefresh(t, s, p, p.refresh("family-"+shortID()))
	// The access token redeemed with rt (mustRefresh) and one more.
	at1 := mustAccess(t, s, p.access(rt.GrantID))
	code := mustCode(t, s, p.code("grant-"+shortID()))
	otherParty := party{org: p.org, user: other, client: p.client}
	otherAT := mustAccess(t, s, otherParty.access("grant-"+shortID()))
	pat := mustPAT(t, s, newPAT(u.UID))

	if err := s.SetUserActive(ctx, u.UID, false, at(10)); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, u.UID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Active {
		t.Error("still active")
	}
	checkTime(t, "UpdatedAt", got.UpdatedAt, at(10))
	checkTime(t, "LastInvalidateAll", got.LastInvalidateAll, at(10))

	gone := []struct {
		what string
		err  error
	}{
		{"api token", errOf(s.GetAPIToken(ctx, tok.Hash))},
		{"web session", errOf(s.GetWebSession(ctx, sess.Hash))},
		{"refresh token", errOf(s.GetRefreshToken(ctx, rt.Hash))},
		{"access token", errOf(s.GetAccessToken(ctx, at1.Hash))},
		{"unused code", errOf(s.GetAuthCode(ctx, code.Hash))},
	}
	for _, g := range gone {
		checkErrIs(t, g.what+" after deactivation", g.err, store.ErrNotFound)
	}
	kept := []struct {
		what string
		err  error
	}{
		{"other's api token", errOf(s.GetAPIToken(ctx, otherTok.Hash))},
		{"other's session", errOf(s.GetWebSession(ctx, otherSess.Hash))},
		{"other's access token", errOf(s.GetAccessToken(ctx, otherAT.Hash))},
		{"the user's PAT (refused by verifiers, restored on reactivation)", errOf(s.GetPAT(ctx, pat.ID))},
	}
	for _, k := range kept {
		if k.err != nil {
			t.Errorf("%s: %v", k.what, k.err)
		}
	}

	// Idempotent, then reactivation.
	if err := s.SetUserActive(ctx, u.UID, false, at(11)); err != nil {
		t.Errorf("deactivate again: %v", err)
	}
	if err := s.SetUserActive(ctx, u.UID, true, at(12)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetUser(ctx, u.UID); !got.Active || !got.UpdatedAt.Equal(at(12)) {
		t.Errorf("reactivated: active=%v updated=%v", got.Active, got.UpdatedAt)
	}
	for _, active := range []bool{true, false} {
		checkErrIs(t, fmt.Sprintf("unknown user (active=%v)", active),
			s.SetUserActive(ctx, "no-such-uid", active, at(13)), store.ErrNotFound)
	}
}

// errOf keeps the error of a two-value call.
func errOf[T any](_ T, err error) error { return err }
