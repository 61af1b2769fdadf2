package audit_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/reqctx"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// minute0 is 12:00 of a day: the tests' issuances happen in the minute
// from there, and the next.
var minute0 = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func at(sec float64) time.Time {
	return minute0.Add(time.Duration(math.Round(sec*1000)) * time.Millisecond)
}

// issue is an event recorded at a time (seconds after minute0).
type issue struct {
	sec float64
	ev  audit.Event
}

func tokenIssued(client, grant, org string) audit.Event {
	return audit.Event{Type: audit.TokenIssued, ActorUID: "user-1", ClientID: client, OrgUID: org,
		Details: map[string]string{"grant_type": grant}}
}

// row is what a test checks of a stored event: a counter record's count,
// first and last are its details.
func row(e store.AuditEvent) string {
	return fmt.Sprintf("%s %s %s client=%s org=%s actor=%s grant=%s count=%s first=%s last=%s",
		e.Time.UTC().Format("15:04:05.000000"), e.Type, e.Outcome, e.ClientID, e.OrgUID, e.ActorUID,
		e.Details["grant_type"], e.Details["count"], e.Details["first"], e.Details["last"])
}

func (o *outageLog) events() []store.AuditEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.stored)
}

func (o *outageLog) rows() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var rs []string
	for _, e := range o.stored {
		rs = append(rs, row(e))
	}
	slices.Sort(rs)
	return rs
}

// TestIssuanceCounted: the successful issuances and exchanges of a
// minute are one record per (type, client, grant, organization, minute)
// with their count and the times of the first and last; the next minute
// is another record; failures of those types and every other event stay
// one row each, with their user.
func TestIssuanceCounted(t *testing.T) {
	exchanged := audit.Event{Type: audit.PlatformExchanged, ActorUID: "user-2", ClientID: "platform:p1", OrgUID: "org-1",
		Details: map[string]string{"token_id": "p1", "audience": "tms", "scope": "tms"}}
	for _, tc := range []struct {
		name   string
		issues []issue
		want   []string
	}{{
		name: "two clients and grants in one minute",
		issues: []issue{
			{5, tokenIssued("a", "client_credentials", "org-1")},
			{10.5, tokenIssued("a", "client_credentials", "org-1")},
			{7, tokenIssued("b", "authorization_code", "org-1")},
			{20, tokenIssued("a", "client_credentials", "org-1")},
			{21, tokenIssued("a", "refresh_token", "org-1")},
			{30, tokenIssued("b", "authorization_code", "org-1")},
			{40, tokenIssued("a", "client_credentials", "org-2")},
			{41, exchanged},
			{42, exchanged},
		},
		want: []string{
			"12:00:00.000000 oauth.token_issued success client=a org=org-1 actor= grant=client_credentials count=3 first=2026-03-04T12:00:05Z last=2026-03-04T12:00:20Z",
			"12:00:00.000000 oauth.token_issued success client=a org=org-1 actor= grant=refresh_token count=1 first=2026-03-04T12:00:21Z last=2026-03-04T12:00:21Z",
			"12:00:00.000000 oauth.token_issued success client=a org=org-2 actor= grant=client_credentials count=1 first=2026-03-04T12:00:40Z last=2026-03-04T12:00:40Z",
			"12:00:00.000000 oauth.token_issued success client=b org=org-1 actor= grant=authorization_code count=2 first=2026-03-04T12:00:07Z last=2026-03-04T12:00:30Z",
			"12:00:00.000000 platform_token.exchanged success client=platform:p1 org=org-1 actor= grant= count=2 first=2026-03-04T12:00:41Z last=2026-03-04T12:00:42Z",
		},
	}, {
		name: "a minute boundary splits",
		issues: []issue{
			{1, tokenIssued("a", "client_credentials", "org-1")},
			{59.999, tokenIssued("a", "client_credentials", "org-1")},
			{60, tokenIssued("a", "client_credentials", "org-1")},
			{119, tokenIssued("a", "client_credentials", "org-1")},
		},
		want: []string{
			"12:00:00.000000 oauth.token_issued success client=a org=org-1 actor= grant=client_credentials count=2 first=2026-03-04T12:00:01Z last=2026-03-04T12:00:59.999Z",
			"12:01:00.000000 oauth.token_issued success client=a org=org-1 actor= grant=client_credentials count=2 first=2026-03-04T12:01:00Z last=2026-03-04T12:01:59Z",
		},
	}, {
		name: "failures and other events stay rows",
		issues: []issue{
			{1, tokenIssued("a", "client_credentials", "org-1")},
			{2, audit.Event{Type: audit.TokenIssued, ActorUID: "user-1", ClientID: "a", OrgUID: "org-1", Outcome: audit.Failure}},
			{3, audit.Event{Type: audit.TokenIssued, ActorUID: "user-1", ClientID: "a", OrgUID: "org-1", Outcome: audit.Failure}},
			{4, audit.Event{Type: audit.PlatformExchanged, ActorUID: "user-2", ClientID: "platform:p1", OrgUID: "org-1", Outcome: audit.Denied}},
			{5, audit.Event{Type: audit.Login, ActorUID: "user-1", OrgUID: "org-1"}},
			{6, audit.Event{Type: audit.Login, ActorUID: "user-1", OrgUID: "org-1"}},
			{7, audit.Event{Type: audit.RefreshReuse, ActorUID: "user-1", ClientID: "a", OrgUID: "org-1", Outcome: audit.Denied}},
		},
		want: []string{
			"12:00:00.000000 oauth.token_issued success client=a org=org-1 actor= grant=client_credentials count=1 first=2026-03-04T12:00:01Z last=2026-03-04T12:00:01Z",
			"12:00:02.000000 oauth.token_issued failure client=a org=org-1 actor=user-1 grant= count= first= last=",
			"12:00:03.000000 oauth.token_issued failure client=a org=org-1 actor=user-1 grant= count= first= last=",
			"12:00:04.000000 platform_token.exchanged denied client=platform:p1 org=org-1 actor=user-2 grant= count= first= last=",
			"12:00:05.000000 login success client= org=org-1 actor=user-1 grant= count= first= last=",
			"12:00:06.000000 login success client= org=org-1 actor=user-1 grant= count= first= last=",
			"12:00:07.000000 oauth.refresh_reuse denied client=a org=org-1 actor=user-1 grant= count= first= last=",
		},
	}} {
		for _, started := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/start=%v", tc.name, started), func(t *testing.T) {
				st := &outageLog{}
				clock := &testClock{}
				r := &audit.Recorder{Store: st, Now: clock.Now}
				if started {
					r.Start()
				}
				t.Cleanup(r.Close)
				for _, is := range tc.issues {
					clock.Set(at(is.sec))
					r.Record(t.Context(), is.ev)
				}
				r.Flush()
				if got := st.rows(); !slices.Equal(got, tc.want) {
					t.Errorf("stored\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
			})
		}
	}
}

// TestCounterRecordFields: a counter record has no user, address or
// request (it stands for many), a fresh id stamped with its minute, and
// only the details it is made of.
func TestCounterRecordFields(t *testing.T) {
	st := &outageLog{}
	clock := &testClock{t: at(30)}
	r := &audit.Recorder{Store: st, Now: clock.Now, Gen: secret.Generator{}}
	ctx := reqctx.WithInfo(t.Context(), reqctx.Info{ClientIP: "192.0.2.1", RequestID: "req-1"})
	ev := tokenIssued("a", "implicit", "org-1")
	ev.Details["response_type"] = "id_token token"
	r.Record(ctx, ev)
	r.Record(ctx, ev)
	r.Flush()
	es := st.events()
	if len(es) != 1 {
		t.Fatalf("stored %d records, want 1", len(es))
	}
	e := es[0]
	want := map[string]string{"grant_type": "implicit", "count": "2", "first": "2026-03-04T12:00:30Z", "last": "2026-03-04T12:00:30Z"}
	if e.ActorUID != "" || e.SubjectUID != "" || e.ClientAddr != "" || e.RequestID != "" || len(e.ID) != 32 ||
		!e.Time.Equal(minute0) || fmt.Sprint(e.Details) != fmt.Sprint(want) {
		t.Errorf("record %+v, want details %v", e, want)
	}
}

// TestFlushWritesOpenMinute: the counters of the minute that has not
// ended are not stored until Flush (or Close) writes them.
func TestFlushWritesOpenMinute(t *testing.T) {
	st := &outageLog{}
	clock := &testClock{t: at(10)}
	r := &audit.Recorder{Store: st, Now: clock.Now}
	r.Start()
	t.Cleanup(r.Close)
	r.Record(t.Context(), tokenIssued("a", "client_credentials", "org-1"))
	clock.Set(at(50))
	r.Record(t.Context(), tokenIssued("a", "client_credentials", "org-1"))
	if n := len(st.rows()); n != 0 {
		t.Fatalf("%d records stored within the minute, want none", n)
	}
	r.Flush()
	if got := st.rows(); len(got) != 1 || !strings.Contains(got[0], "count=2 ") {
		t.Fatalf("after Flush: %v", got)
	}
	// Close writes what came after the Flush.
	r.Record(t.Context(), tokenIssued("a", "client_credentials", "org-1"))
	r.Close()
	if got := st.rows(); len(got) != 2 || !strings.Contains(got[0], "count=1 first=2026-03-04T12:00:50Z ") {
		t.Fatalf("after Close: %v", got)
	}
}

// TestPassedMinuteWritten: once its minute has passed, a counter is
// written without Flush: by the background writer, or without Start by
// the next Record; the open minute's counters wait.
func TestPassedMinuteWritten(t *testing.T) {
	for _, started := range []bool{false, true} {
		t.Run(fmt.Sprintf("start=%v", started), func(t *testing.T) {
			st := &outageLog{}
			clock := &testClock{t: at(10)}
			r := &audit.Recorder{Store: st, Now: clock.Now}
			if started {
				r.Start()
			}
			t.Cleanup(r.Close)
			r.Record(t.Context(), tokenIssued("a", "client_credentials", "org-1"))
			clock.Set(at(61))
			r.Record(t.Context(), tokenIssued("b", "client_credentials", "org-1"))
			// The background writer is woken by that Record, and looks
			// every second anyway; the deadline only bounds a failure.
			for deadline := time.Now().Add(30 * time.Second); started && len(st.rows()) == 0 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			got := st.rows()
			if len(got) != 1 || !strings.HasPrefix(got[0], "12:00:00.000000 oauth.token_issued success client=a ") {
				t.Fatalf("stored %v, want the record of 12:00 alone", got)
			}
		})
	}
}

// TestCountersHeldThroughOutage: counter records that meet an unavailable
// database are held, as events are, and written with their counts when
// it returns.
func TestCountersHeldThroughOutage(t *testing.T) {
	st := &outageLog{}
	m := &holdMetrics{}
	clock := &testClock{t: at(10)}
	r := &audit.Recorder{Store: st, Now: clock.Now, Gen: secret.Generator{}, Metrics: m}
	t.Cleanup(r.Close)
	st.down.Store(true)
	for range 5 {
		r.Record(t.Context(), tokenIssued("a", "client_credentials", "org-1"))
	}
	r.Record(t.Context(), tokenIssued("b", "client_credentials", "org-1"))
	clock.Set(at(70))
	r.Record(t.Context(), tokenIssued("a", "client_credentials", "org-1")) // writes 12:00's two records
	if got := m.held.Load(); got != 2 {
		t.Fatalf("held %d records during the outage, want 2", got)
	}
	if n := len(st.rows()); n != 0 {
		t.Fatalf("%d records stored during the outage", n)
	}
	st.down.Store(false)
	r.Flush()
	want := []string{
		"12:00:00.000000 oauth.token_issued success client=a org=org-1 actor= grant=client_credentials count=5 first=2026-03-04T12:00:10Z last=2026-03-04T12:00:10Z",
		"12:00:00.000000 oauth.token_issued success client=b org=org-1 actor= grant=client_credentials count=1 first=2026-03-04T12:00:10Z last=2026-03-04T12:00:10Z",
		"12:01:00.000000 oauth.token_issued success client=a org=org-1 actor= grant=client_credentials count=1 first=2026-03-04T12:01:10Z last=2026-03-04T12:01:10Z",
	}
	if got := st.rows(); !slices.Equal(got, want) {
		t.Errorf("stored\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := m.held.Load(); got != 0 {
		t.Errorf("held %d after the outage, want 0", got)
	}
}

// TestCountersCapFlushesEarly: a new key beyond MaxCounters writes the
// counters kept so far at once, within their minute, and counting goes
// on; nothing is dropped.
func TestCountersCapFlushesEarly(t *testing.T) {
	for _, started := range []bool{false, true} {
		t.Run(fmt.Sprintf("start=%v", started), func(t *testing.T) {
			st := &outageLog{}
			clock := &testClock{t: at(10)}
			r := &audit.Recorder{Store: st, Now: clock.Now, MaxCounters: 3}
			if started {
				r.Start()
			}
			t.Cleanup(r.Close)
			for _, c := range []string{"a", "b", "c", "a", "b", "c"} {
				r.Record(t.Context(), tokenIssued(c, "client_credentials", "org-1"))
			}
			if n := len(st.rows()); n != 0 {
				t.Fatalf("%d records stored below the cap", n)
			}
			r.Record(t.Context(), tokenIssued("d", "client_credentials", "org-1"))
			for deadline := time.Now().Add(30 * time.Second); started && len(st.rows()) < 3 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond) // the background writer takes them
			}
			if got := st.rows(); len(got) != 3 || !strings.Contains(strings.Join(got, "\n"), "client=c org=org-1 actor= grant=client_credentials count=2 ") {
				t.Fatalf("at the cap, stored %v, want a, b and c with 2 each", got)
			}
			r.Record(t.Context(), tokenIssued("a", "client_credentials", "org-1"))
			r.Flush()
			counts := map[string]int{}
			for _, e := range st.events() {
				var n int
				fmt.Sscan(e.Details["count"], &n)
				counts[e.ClientID] += n
			}
			if fmt.Sprint(counts) != "map[a:3 b:2 c:2 d:1]" {
				t.Errorf("counts %v, want a:3 b:2 c:2 d:1", counts)
			}
		})
	}
}

// TestCountersConcurrent: issuances recorded from many goroutines while
// minutes pass and the cap is hit are all in the records' counts.
func TestCountersConcurrent(t *testing.T) {
	st := &outageLog{}
	clock := &testClock{t: at(0)}
	r := &audit.Recorder{Store: st, Now: clock.Now, MaxCounters: 2}
	r.Start()
	t.Cleanup(r.Close)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				if g == 0 && i%100 == 0 {
					clock.Set(at(float64(i) / 2)) // minutes 12:00 to 12:03
				}
				r.Record(t.Context(), tokenIssued(fmt.Sprint("client-", i%3), "client_credentials", "org-1"))
			}
		})
	}
	wg.Wait()
	r.Flush()
	total := 0
	for _, e := range st.events() {
		var n int
		fmt.Sscan(e.Details["count"], &n)
		total += n
	}
	if total != 8*500 {
		t.Errorf("records count %d issuances, want %d", total, 8*500)
	}
}
