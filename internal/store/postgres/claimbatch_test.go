package postgres_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/postgres"
)

// TestClaimBatch: redemptions run together in one pipeline keep the
// outcomes they have one by one. A code redeemed twice in a batch is
// claimed once; a refresh token rotated twice is rotated once, or twice
// within its grace window; a redemption that fails (a token naming an
// unknown client) fails alone and leaves its code unused, and the rest of
// its batch is stored; a redemption with a self-contained access token (no
// row) stores its refresh token and no access token beside the others.
func TestClaimBatch(t *testing.T) {
	ctx := t.Context()
	s, dsn, org, now := clientsDB(t, "cb-client")
	u := createUser(t, s, org, now, "00000000-0000-4000-8000-0000000000d1", "cb")
	n := 0
	access := func() *store.AccessToken {
		n++
		return &store.AccessToken{Hash: fmt.Sprint("cb-at-", n), ClientID: "cb-client", UserUID: u.UID, OrgUID: org.UID,
			GrantID: "cb-grant", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	refresh := func() *store.RefreshToken {
		n++
		return &store.RefreshToken{Hash: fmt.Sprint("cb-rt-", n), ClientID: "cb-client", UserUID: u.UID, OrgUID: org.UID,
			GrantID: "cb-grant", CreatedAt: now}
	}
	code := func() string {
		n++
		c := store.AuthCode{Hash: fmt.Sprint("cb-code-", n), ClientID: "cb-client", UserUID: u.UID, GrantID: "cb-grant",
			CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.CreateAuthCode(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c.Hash
	}
	// issued makes a refresh token to rotate.
	issued := func() string {
		r := refresh()
		if err := s.RedeemAuthCode(ctx, code(), now, access(), r); err != nil {
			t.Fatal(err)
		}
		return r.Hash
	}
	hasAccess := func(a *store.AccessToken) bool {
		_, err := s.GetAccessToken(ctx, a.Hash)
		return err == nil
	}
	hasRefresh := func(r *store.RefreshToken) bool {
		_, err := s.GetRefreshToken(ctx, r.Hash)
		return err == nil
	}
	check := func(name string, got []error, want ...error) {
		t.Helper()
		for i := range want {
			if !errors.Is(got[i], want[i]) || (want[i] == nil) != (got[i] == nil) {
				t.Errorf("%s: redemption %d: %v, want %v", name, i, got[i], want[i])
			}
		}
	}

	c1, c2 := code(), code()
	rs := []postgres.Redemption{
		{Code: c1, At: now, Access: access()},
		{Code: c1, At: now, Access: access()},
		{Code: c2, At: now, Access: access(), Refresh: refresh()},
		{Code: "cb-no-such-code", At: now, Access: access()},
	}
	check("codes", s.ClaimBatch(ctx, rs), nil, store.ErrAlreadyUsed, nil, store.ErrNotFound)
	if !hasAccess(rs[0].Access) || hasAccess(rs[1].Access) || !hasAccess(rs[2].Access) || !hasRefresh(rs[2].Refresh) || hasAccess(rs[3].Access) {
		t.Errorf("codes: stored %v %v %v+%v %v, want only the first and third", hasAccess(rs[0].Access), hasAccess(rs[1].Access),
			hasAccess(rs[2].Access), hasRefresh(rs[2].Refresh), hasAccess(rs[3].Access))
	}

	old := issued()
	rs = []postgres.Redemption{
		{OldRefresh: old, At: now, Access: access(), Refresh: refresh()},
		{OldRefresh: old, At: now, Access: access(), Refresh: refresh()},
	}
	check("refresh without grace", s.ClaimBatch(ctx, rs), nil, store.ErrAlreadyUsed)
	if !hasRefresh(rs[0].Refresh) || hasRefresh(rs[1].Refresh) {
		t.Errorf("refresh without grace: stored %v %v, want only the first", hasRefresh(rs[0].Refresh), hasRefresh(rs[1].Refresh))
	}

	old = issued()
	rs = []postgres.Redemption{
		{OldRefresh: old, Grace: time.Minute, At: now, Access: access(), Refresh: refresh()},
		{OldRefresh: old, Grace: time.Minute, At: now.Add(time.Second), Access: access(), Refresh: refresh()},
	}
	check("refresh within grace", s.ClaimBatch(ctx, rs), nil, nil)
	if !hasRefresh(rs[0].Refresh) || !hasRefresh(rs[1].Refresh) {
		t.Errorf("refresh within grace: stored %v %v, want both", hasRefresh(rs[0].Refresh), hasRefresh(rs[1].Refresh))
	}
	if rt, err := s.GetRefreshToken(ctx, old); err != nil || !rt.UsedAt.Equal(now) {
		t.Errorf("refresh within grace: old token used at %v (%v), want its first use %v", rt.UsedAt, err, now)
	}

	c3, c4 := code(), code()
	orphan := access()
	orphan.ClientID = "cb-no-such-client"
	rs = []postgres.Redemption{
		{Code: c3, At: now, Access: access()},
		{Code: c4, At: now, Access: orphan},
	}
	errs := s.ClaimBatch(ctx, rs)
	check("a failing redemption", errs[:1], nil)
	if errs[1] == nil || errors.Is(errs[1], store.ErrAlreadyUsed) {
		t.Errorf("a failing redemption: %v, want its own error", errs[1])
	}
	if !hasAccess(rs[0].Access) || hasAccess(rs[1].Access) {
		t.Errorf("a failing redemption: stored %v %v, want only the good one", hasAccess(rs[0].Access), hasAccess(rs[1].Access))
	}
	if c, err := s.GetAuthCode(ctx, c4); err != nil || !c.UsedAt.IsZero() {
		t.Errorf("a failing redemption: its code used at %v (%v), want unused", c.UsedAt, err)
	}

	c5, c6, c7 := code(), code(), code()
	old = issued()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	accessRows := func() (n int) {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM access_tokens`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := accessRows()
	rs = []postgres.Redemption{
		{Code: c5, At: now, Refresh: refresh()},
		{Code: c5, At: now, Refresh: refresh()},
		{Code: c6, At: now},
		{Code: c7, At: now, Access: access(), Refresh: refresh()},
		{OldRefresh: old, At: now, Refresh: refresh()},
		{OldRefresh: old, At: now, Refresh: refresh()},
	}
	check("self-contained", s.ClaimBatch(ctx, rs), nil, store.ErrAlreadyUsed, nil, nil, nil, store.ErrAlreadyUsed)
	if !hasRefresh(rs[0].Refresh) || hasRefresh(rs[1].Refresh) || !hasAccess(rs[3].Access) || !hasRefresh(rs[3].Refresh) ||
		!hasRefresh(rs[4].Refresh) || hasRefresh(rs[5].Refresh) {
		t.Errorf("self-contained: stored %v %v %v+%v %v %v, want all but the replays", hasRefresh(rs[0].Refresh), hasRefresh(rs[1].Refresh),
			hasAccess(rs[3].Access), hasRefresh(rs[3].Refresh), hasRefresh(rs[4].Refresh), hasRefresh(rs[5].Refresh))
	}
	for _, c := range []string{c5, c6} {
		if got, err := s.GetAuthCode(ctx, c); err != nil || !got.UsedAt.Equal(now) {
			t.Errorf("self-contained: code used at %v (%v), want %v", got.UsedAt, err, now)
		}
	}
	if n := accessRows() - before; n != 1 {
		t.Errorf("self-contained: %d access token rows stored, want 1 (the one not self-contained)", n)
	}
}

// TestClaimBatchAnswersAfterCommit: a batch's claims are answered only
// once its transaction has committed. Here each statement succeeds and
// the commit fails (a deferred foreign key): the batch is run again one
// claim at a time, the good one is stored and answered, and the bad one
// gets its error. Answered on the statements' results, both would be
// claimed and neither stored.
func TestClaimBatchAnswersAfterCommit(t *testing.T) {
	ctx := t.Context()
	s, dsn, _, _ := clientsDB(t, "late-client")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE late (client_id text REFERENCES clients (id) DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	const q = `WITH w AS (INSERT INTO late VALUES ($1)) SELECT 1`
	errs := s.RawClaimBatch(ctx, []postgres.RawClaim{postgres.NewRawClaim(q, "late-client"), postgres.NewRawClaim(q, "no-such-client")})
	if errs[0] != nil {
		t.Errorf("good claim: %v, want nil", errs[0])
	}
	if errs[1] == nil {
		t.Errorf("claim whose commit fails: answered nil")
	}
	var rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM late WHERE client_id = 'late-client'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("good claim: %d rows stored, want 1", rows)
	}
}

// TestReadBatch: reads pipelined together each get their own row, or
// pgx.ErrNoRows, whatever the others got; a read that fails (division by
// zero) fails alone.
func TestReadBatch(t *testing.T) {
	ctx := t.Context()
	s, _, _, _ := clientsDB(t, "rb-one", "rb-two")
	const (
		name = `SELECT name FROM clients WHERE id = $1`
		bad  = `SELECT (1 / (length($1) - length($1)))::text`
	)
	for _, tc := range []struct {
		name     string
		qs, keys []string
	}{
		{"good", []string{name, name, name}, []string{"rb-one", "rb-missing", "rb-two"}},
		{"one fails", []string{name, name, bad, name}, []string{"rb-one", "rb-missing", "x", "rb-two"}},
	} {
		keys := tc.keys
		vals, errs := s.ReadBatch(ctx, tc.qs, keys)
		for i, q := range tc.qs {
			switch {
			case q == bad:
				if errs[i] == nil {
					t.Errorf("%s: failing read answered %q", tc.name, vals[i])
				}
			case keys[i] == "rb-missing":
				if !errors.Is(errs[i], pgx.ErrNoRows) {
					t.Errorf("%s: missing row: %v, want pgx.ErrNoRows", tc.name, errs[i])
				}
			default:
				if errs[i] != nil || vals[i] != keys[i] {
					t.Errorf("%s: read %d: %q, %v, want %q", tc.name, i, vals[i], errs[i], keys[i])
				}
			}
		}
	}
}

// TestBatchesAreOneTransaction: the claims of a batch run in one
// transaction (one commit for all), and so do the reads of a batch; one
// by one, each would have a transaction of its own.
func TestBatchesAreOneTransaction(t *testing.T) {
	ctx := t.Context()
	s, dsn, _, _ := clientsDB(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE seen (xid bigint)`); err != nil {
		t.Fatal(err)
	}
	const q = `WITH w AS (INSERT INTO seen VALUES (txid_current())) SELECT 1`
	cs := []postgres.RawClaim{postgres.NewRawClaim(q), postgres.NewRawClaim(q), postgres.NewRawClaim(q)}
	for i, err := range s.RawClaimBatch(ctx, cs) {
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	var rows, xids int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT xid) FROM seen`).Scan(&rows, &xids); err != nil {
		t.Fatal(err)
	}
	if rows != 3 || xids != 1 {
		t.Errorf("claims: %d rows in %d transactions, want 3 in 1", rows, xids)
	}

	const read = `SELECT txid_current()::text || $1`
	vals, errs := s.ReadBatch(ctx, []string{read, read, read}, []string{"", "", ""})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if vals[0] != vals[1] || vals[1] != vals[2] {
		t.Errorf("reads in transactions %v, want one", vals)
	}
}
