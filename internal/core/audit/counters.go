package audit

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- issuance counted, not stored a row per token (issue 20, point 2) ----

// counted lists the event types whose successes are counted per (type,
// client, grant, organization, minute) instead of stored one row each:
// they come with every issued token, and a row per token was most of
// what the audit log cost under load and most of its rows. Their
// failures, and every other event, stay one row each, with their user.
// An exchange has no grant_type detail: its client id
// (platform-api-token:<token id>) names the Platform token it came from.
var counted = map[string]bool{TokenIssued: true, PlatformExchanged: true}

// DefaultMaxCounters is Recorder.MaxCounters' default: about 2 MB of
// counters, far more clients and grants than one minute sees.
const DefaultMaxCounters = 10000

// counterTick is how often the background writer looks for minutes that
// have passed; their records are stored at most this late.
const counterTick = time.Second

// writeBatch bounds the events of one AppendAuditEvents call.
const writeBatch = 512

type counterKey struct {
	typ, client, grant, org string
	minute                  int64 // minuteOf the issuance
}

type counter struct {
	n           int64
	first, last time.Time
}

type counters struct {
	mu     sync.Mutex
	open   map[counterKey]*counter
	oldest int64 // the earliest minute in open, when open is not empty
	// due is a full set of counters set aside at MaxCounters for the
	// background writer.
	due map[counterKey]*counter
	// stop, done and wake belong to the background writer (Start).
	stop, done chan struct{}
	wake       chan struct{}
	// writing serializes the writers of counter records, so that Flush
	// returns only after a write begun elsewhere has ended.
	writing sync.Mutex
}

// count adds the successful issuance ev to its counter. A new key beyond
// MaxCounters writes all counters at once (early, never dropped): the
// background writer takes them, or, if it has not yet taken the previous
// set, the caller writes them (backpressure rather than unbounded
// memory). Counters of minutes that have passed are written by the
// background writer, or without Start by the caller.
func (r *Recorder) count(ev store.AuditEvent) {
	limit := r.MaxCounters
	if limit <= 0 {
		limit = DefaultMaxCounters
	}
	k := counterKey{typ: ev.Type, client: ev.ClientID, grant: ev.Details["grant_type"], org: ev.OrgUID,
		minute: minuteOf(ev.Time)}
	c := &r.counters
	c.mu.Lock()
	n := c.open[k]
	var full map[counterKey]*counter
	if n == nil {
		if len(c.open) >= limit {
			full, c.open = c.open, nil
		}
		if len(c.open) == 0 || k.minute < c.oldest {
			c.oldest = k.minute
		}
		if c.open == nil {
			c.open = map[counterKey]*counter{}
		}
		n = &counter{first: ev.Time, last: ev.Time}
		c.open[k] = n
	}
	n.add(&counter{n: 1, first: ev.Time, last: ev.Time})
	background := c.stop != nil
	if full != nil && background && c.due == nil {
		c.due, full = full, nil
	}
	wake := background && (c.oldest < k.minute || c.due != nil)
	passed := !background && c.oldest < k.minute
	c.mu.Unlock()

	if full != nil {
		c.writing.Lock()
		r.writeRecords(r.counterRecords(full))
		c.writing.Unlock()
	}
	switch {
	case wake:
		select {
		case c.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	case passed:
		r.writeCounters(false)
	}
}

// add counts o's issuances in n too.
func (n *counter) add(o *counter) {
	n.n += o.n
	if o.first.Before(n.first) {
		n.first = o.first
	}
	if o.last.After(n.last) {
		n.last = o.last
	}
}

// minuteOf numbers t's minute (UTC; Unix time over 60, floored).
func minuteOf(t time.Time) int64 { return t.Truncate(time.Minute).Unix() / 60 }

// runCounters is the background writer: every counterTick, or when
// count asks, it writes the counters that are due.
func (r *Recorder) runCounters(stop, done, wake chan struct{}) {
	defer close(done)
	t := time.NewTicker(counterTick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-wake:
		}
		r.writeCounters(false)
	}
}

// writeCounters writes the counters set aside at MaxCounters and those of
// the minutes that have passed, or, with all, every counter.
func (r *Recorder) writeCounters(all bool) {
	c := &r.counters
	c.writing.Lock()
	defer c.writing.Unlock()
	minute := minuteOf(r.now())
	c.mu.Lock()
	taken := c.due
	c.due = nil
	if len(c.open) > 0 && (all || c.oldest < minute) {
		if taken == nil {
			taken = map[counterKey]*counter{}
		}
		oldest := int64(0)
		for k, n := range c.open {
			if all || k.minute < minute {
				if prev := taken[k]; prev != nil {
					// Set aside at the cap and counted again since: one
					// record for the key.
					prev.add(n)
				} else {
					taken[k] = n
				}
				delete(c.open, k)
			} else if oldest == 0 || k.minute < oldest {
				oldest = k.minute
			}
		}
		c.oldest = oldest
	}
	c.mu.Unlock()
	r.writeRecords(r.counterRecords(taken))
}

// counterRecords turns counters into audit events, oldest minute first,
// and logs each at Info. The per-issuance line that was logged at Debug
// is gone: one Info line per stored record keeps the log and the table
// one to one (every stored event has one line with its id), and puts the
// issuance volume in an Info log, which the Debug lines did not, at the
// cost of a line per client and minute rather than per token.
func (r *Recorder) counterRecords(cs map[counterKey]*counter) []store.AuditEvent {
	if len(cs) == 0 {
		return nil
	}
	keys := make([]counterKey, 0, len(cs))
	for k := range cs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b counterKey) int {
		return cmp.Or(cmp.Compare(a.minute, b.minute), cmp.Compare(a.typ, b.typ), cmp.Compare(a.org, b.org),
			cmp.Compare(a.client, b.client), cmp.Compare(a.grant, b.grant))
	})
	evs := make([]store.AuditEvent, 0, len(keys))
	for _, k := range keys {
		n := cs[k]
		ev := store.AuditEvent{
			Time: time.Unix(k.minute*60, 0).UTC(), Type: k.typ, ClientID: k.client, OrgUID: k.org, Outcome: Success,
			Details: cleanDetails(map[string]string{
				"grant_type": k.grant, "count": strconv.FormatInt(n.n, 10),
				"first": n.first.Format(time.RFC3339Nano), "last": n.last.Format(time.RFC3339Nano),
			}),
		}
		id, err := r.Gen.StampedHex(ev.Time, 10)
		if err != nil {
			if r.Log != nil {
				r.Log.Error("audit: store event", "type", ev.Type, "count", n.n, "err", err)
			}
			continue
		}
		ev.ID = id
		r.logEvent(context.Background(), ev)
		evs = append(evs, ev)
	}
	return evs
}

// writeRecords stores evs in batches; what the unavailable database
// refuses is held and written when it returns, behind the events held
// before (as every event is).
func (r *Recorder) writeRecords(evs []store.AuditEvent) {
	for batch := range slices.Chunk(evs, writeBatch) {
		if r.holding() {
			r.hold(batch)
		} else if rest := r.write(context.Background(), batch); len(rest) > 0 {
			r.hold(rest)
		}
	}
}
