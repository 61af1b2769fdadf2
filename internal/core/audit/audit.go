// Package audit records tolk's security events (issue 6, point 3): sign-ins
// and their failures, tokens issued and revoked, app, key and 2FA changes,
// admin actions. Each event is one row of the audit log in the database
// (store.AuditLog, shown to admins at /settings/audit) and one structured
// log line at info level with the same fields — except successful token
// issuance and exchange, the events of every token, which are counted per
// client, grant, organization and minute and stored as one row per count
// (counters.go; docs/limits.md, "Issuance audit").
//
// Never a secret: events carry ids, names and outcomes only. Record drops
// any detail whose key names a secret (token, secret, password, code,
// hash, …) and bounds every value, so a careless call site cannot leak one.
//
// A nil *Recorder records nothing, so services take an optional
// `Audit *audit.Recorder` field and call it unconditionally.
package audit

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tolk-project/tolk/internal/kit/reqctx"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// Event types. The set is open; these are the ones tolk records.
const (
	Login          = "login"           // a password (+ second factor) check; Details["dialect"]
	Logout         = "logout"          // web sign-out: every session and ApiToken of the user end
	APITokenLogout = "apitoken.logout" // TMS auth/logout of one ApiToken
	LoginOther     = "user.login_other"

	TokenIssued  = "oauth.token_issued"  // Details["grant_type"]
	TokenRevoked = "oauth.token_revoked" // RFC 7009
	RefreshReuse = "oauth.refresh_reuse" // a rotated refresh token came back: family revoked
	CodeReplay   = "oauth.code_replay"   // a used code came back: its tokens revoked

	ConsentGiven   = "oauth.consent_given"
	ConsentRevoked = "oauth.consent_revoked"

	AppCreated = "oauth_app.created"
	AppUpdated = "oauth_app.updated"
	AppDeleted = "oauth_app.deleted"
	// AppSecretRotated: an admin gave a confidential app a new secret;
	// the old one stopped.
	AppSecretRotated = "oauth_app.secret_rotated"

	SigningKeyRotated = "signing_key.rotated"

	TwoFactorEnabled  = "two_factor.enabled"
	TwoFactorDisabled = "two_factor.disabled"
	RecoveryCodeUsed  = "two_factor.recovery_code_used"
	PATCreated        = "pat.created"
	PATUpdated        = "pat.updated"
	PATDeleted        = "pat.deleted"
	APIKeyCreated     = "api_key.created"
	APIKeyRevoked     = "api_key.revoked"
	PlatformCreated   = "platform_token.created"
	PlatformRevoked   = "platform_token.revoked"
	PlatformExchanged = "platform_token.exchanged"
	UserCreated       = "user.created"
	UserDeactivated   = "user.deactivated"
	UserReactivated   = "user.reactivated"
	UserRoleChanged   = "user.role_changed"

	// The sessions page (SPEC §8): a user ends one of their web sessions
	// or ApiTokens (Details["session_id"], ["token_id"]: the first 12 hex
	// digits of its hash), or every web session and ApiToken at once.
	SessionRevoked      = "session.revoked"
	APITokenRevoked     = "apitoken.revoked"
	SignedOutEverywhere = "session.signed_out_everywhere"
)

// Types lists the event types above, for the admin page's filter.
var Types = []string{
	Login, Logout, APITokenLogout, LoginOther,
	TokenIssued, TokenRevoked, RefreshReuse, CodeReplay, ConsentGiven, ConsentRevoked,
	AppCreated, AppUpdated, AppDeleted, AppSecretRotated, SigningKeyRotated,
	TwoFactorEnabled, TwoFactorDisabled, RecoveryCodeUsed,
	PATCreated, PATUpdated, PATDeleted, APIKeyCreated, APIKeyRevoked,
	PlatformCreated, PlatformRevoked, PlatformExchanged,
	UserCreated, UserDeactivated, UserReactivated, UserRoleChanged,
	SessionRevoked, APITokenRevoked, SignedOutEverywhere,
}

// Outcomes.
const (
	Success   = "success"
	Failure   = "failure"
	Throttled = "throttled"
	Denied    = "denied"
	// SecondFactor: the password was right and a second factor is asked.
	SecondFactor = "second_factor_required"
)

// Event is what a call site knows; the Recorder adds the id, the time, the
// client address and request id of the request ctx carries (reqctx) and,
// when ActorUID is empty, the actor it names (reqctx.SetActor).
type Event struct {
	Type       string
	ActorUID   string
	ClientID   string
	SubjectUID string
	OrgUID     string
	Outcome    string // "" = Success
	Details    map[string]string
}

// Recorder writes events to the store and the log.
type Recorder struct {
	closeOnce sync.Once

	Store store.AuditLog
	Log   *slog.Logger     // nil: no log line
	Now   func() time.Time // nil: time.Now
	Gen   secret.Generator
	// Users, if set, fills an event's organization from its actor or
	// subject when the call site left it empty.
	Users interface {
		GetUser(ctx context.Context, uid string) (store.User, error)
	}
	// Hold bounds the events kept in memory while the database is
	// unavailable (store.ErrUnavailable), written in order when it
	// returns; 0 means DefaultHold. What exceeds it is counted in
	// Metrics and logged once per outage.
	Hold int
	// Metrics, if set, counts held and dropped events (internal/kit/metrics).
	Metrics Metrics
	// MaxCounters bounds the issuance counters kept in memory (one per
	// type, client, grant, organization and minute); when a new one would
	// exceed it, all are written at once. 0 means DefaultMaxCounters.
	MaxCounters int

	held     held
	counters counters
}

// Metrics receives the counts of events held through an outage.
type Metrics interface {
	// AuditHeld sets how many events wait in memory for the database.
	AuditHeld(n int)
	// AuditDropped counts n events lost because the hold was full.
	AuditDropped(n int)
}

// DefaultHold is Recorder.Hold's default: about 5 MB of events. Issuance
// is counted, one record per client, grant, organization and minute, not
// one per token, so an outage fills it far more slowly than when it held
// the token events of a few seconds at full load.
const DefaultHold = 10000

// Limits on details, so that an event stays small.
const (
	maxDetails   = 16
	maxDetailLen = 200
	maxFieldLen  = 255
)

// secretWords are key fragments that mark a detail as secret; such a
// detail is dropped, whatever its value.
var secretWords = []string{"token", "secret", "password", "passwd", "code", "hash", "key", "otp", "cookie", "authorization", "assertion", "verifier", "jti"}

// allowedKeys are detail keys that contain a secret word but name ids or
// kinds, not secrets.
var allowedKeys = map[string]bool{
	"token_id": true, "key_id": true, "token_type": true, "grant_type": true, "pat_id": true, "api_key_id": true,
	"last_eight": true, "kid": true,
}

// SecretKey reports whether a detail key would be dropped as secret.
func SecretKey(k string) bool {
	k = strings.ToLower(k)
	if allowedKeys[k] {
		return false
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}

// Record stores e and logs it. A failure to store is logged, not
// returned: the operation it describes has already happened. A successful
// token issuance or exchange is not stored by itself but counted (see
// counters.go).
func (r *Recorder) Record(ctx context.Context, e Event) {
	if r == nil {
		return
	}
	req := reqctx.From(ctx)
	if e.ActorUID == "" {
		e.ActorUID = reqctx.Actor(ctx)
	}
	if e.Outcome == "" {
		e.Outcome = Success
	}
	if e.OrgUID == "" && r.Users != nil {
		for _, uid := range []string{e.SubjectUID, e.ActorUID} {
			if uid == "" {
				continue
			}
			if u, err := r.Users.GetUser(context.WithoutCancel(ctx), uid); err == nil {
				e.OrgUID = u.OrgUID
				break
			}
		}
	}
	ev := store.AuditEvent{
		Time: r.now().UTC().Truncate(time.Microsecond), Type: clip(e.Type, maxFieldLen),
		ActorUID: clip(e.ActorUID, maxFieldLen), ClientID: clip(e.ClientID, maxFieldLen),
		SubjectUID: clip(e.SubjectUID, maxFieldLen), OrgUID: clip(e.OrgUID, maxFieldLen),
		ClientAddr: clip(req.ClientIP, maxFieldLen), RequestID: clip(req.RequestID, maxFieldLen),
		Outcome: clip(e.Outcome, maxFieldLen), Details: cleanDetails(e.Details),
	}
	if counted[ev.Type] && ev.Outcome == Success {
		r.count(ev)
		return
	}
	// 32 hex digits as before, the first 12 the time: ids of new events
	// sort last, so their primary-key inserts append (secret.StampedHex).
	id, err := r.Gen.StampedHex(ev.Time, 10)
	if err == nil {
		ev.ID = id
		// The event outlives a canceled request: it already happened.
		err = r.Store.AppendAuditEvent(context.WithoutCancel(ctx), ev)
		if errors.Is(err, store.ErrUnavailable) {
			r.hold([]store.AuditEvent{ev}) // written when the database returns
			err = nil
		}
	}
	r.logEvent(ctx, ev)
	if err != nil && r.Log != nil {
		r.Log.ErrorContext(ctx, "audit: store event", "type", ev.Type, "err", err)
	}
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// cleanDetails drops the details whose key names a secret, and the empty
// ones, and bounds the rest.
func cleanDetails(in map[string]string) map[string]string {
	var out map[string]string
	for k, v := range in {
		if len(out) == maxDetails {
			break
		}
		if SecretKey(k) || v == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[clip(k, 64)] = clip(v, maxDetailLen)
	}
	return out
}

// logEvent writes ev's log line, at Info: one line per stored event, with
// its id.
func (r *Recorder) logEvent(ctx context.Context, ev store.AuditEvent) {
	if r.Log == nil || !r.Log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := []any{
		slog.String("audit_id", ev.ID), slog.String("type", ev.Type), slog.String("outcome", ev.Outcome),
		slog.String("actor", ev.ActorUID), slog.String("client_id", ev.ClientID), slog.String("subject", ev.SubjectUID),
		slog.String("org", ev.OrgUID), slog.String("addr", ev.ClientAddr), slog.String("request_id", ev.RequestID),
	}
	if len(ev.Details) > 0 {
		keys := slices.Sorted(maps.Keys(ev.Details))
		ds := make([]any, 0, len(keys))
		for _, k := range keys {
			ds = append(ds, slog.String(k, ev.Details[k]))
		}
		attrs = append(attrs, slog.Group("details", ds...))
	}
	r.Log.Log(ctx, slog.LevelInfo, "audit", attrs...)
}

// Start begins writing, in the background, the counters of the minutes
// that have passed (see counters.go). Call Close to write what is left at
// shutdown. Without Start, Record writes them itself when it sees their
// minute has passed, and Flush and Close write the rest.
func (r *Recorder) Start() {
	c := &r.counters
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		return
	}
	c.stop, c.done, c.wake = make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	go r.runCounters(c.stop, c.done, c.wake)
}

// Flush writes every counter, the open minute's included, and waits until
// the events held through an outage are stored (for at most a minute).
func (r *Recorder) Flush() {
	if r != nil {
		r.writeCounters(true)
		r.waitHeld(time.Minute)
	}
}

// Events returns the stored events f selects, as the audit log page shows
// them; a nil Recorder has none.
func (r *Recorder) Events(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	if r == nil {
		return nil, nil
	}
	return r.Store.ListAuditEvents(ctx, f)
}

// closeHeldWait bounds how long Close waits for the events held through an
// outage.
const closeHeldWait = 5 * time.Second

// Close stops the background writer and writes every counter; Record must
// not be called afterwards.
func (r *Recorder) Close() {
	if r == nil {
		return
	}
	r.closeOnce.Do(func() {
		c := &r.counters
		c.mu.Lock()
		stop, done := c.stop, c.done
		c.mu.Unlock()
		if stop != nil {
			close(stop)
			<-done
		}
		r.writeCounters(true)
		// Events held through an outage get a last chance, bounded: a
		// shutdown must not wait for a database that does not return.
		if n := r.waitHeld(closeHeldWait); n > 0 && r.Log != nil {
			r.Log.Error("audit: events held for the unavailable database are lost at shutdown", "lost", n)
		}
	})
}

// ---- events held through a database outage ----

// held keeps, oldest first, the events that could not be stored because
// the database was unavailable, and writes them when it returns.
type held struct {
	mu      sync.Mutex
	events  []store.AuditEvent
	running bool // a writer goroutine is at work on events
	dropped int  // events lost in this outage; logged once
	done    chan struct{}
}

// holding reports whether events are held: new ones queue behind them.
func (r *Recorder) holding() bool {
	r.held.mu.Lock()
	defer r.held.mu.Unlock()
	return len(r.held.events) > 0
}

// write stores batch, one by one when the batch fails (one bad event must
// not take the others with it), and returns the events that the
// unavailable database refused, in order. Other failures are logged.
func (r *Recorder) write(ctx context.Context, batch []store.AuditEvent) []store.AuditEvent {
	err := r.Store.AppendAuditEvents(ctx, batch)
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrUnavailable) {
		return batch
	}
	var rest []store.AuditEvent
	for i, e := range batch {
		err := r.Store.AppendAuditEvent(ctx, e)
		switch {
		case errors.Is(err, store.ErrUnavailable):
			return append(rest, batch[i:]...)
		case errors.Is(err, store.ErrConflict):
			// Stored already: an attempt whose answer the outage lost.
		case err != nil && r.Log != nil:
			r.Log.Error("audit: store event", "type", e.Type, "err", err)
		}
	}
	return rest
}

// hold keeps evs for the writer, as far as Hold allows; the rest are
// counted and logged once per outage.
func (r *Recorder) hold(evs []store.AuditEvent) {
	limit := r.Hold
	if limit <= 0 {
		limit = DefaultHold
	}
	h := &r.held
	h.mu.Lock()
	defer h.mu.Unlock()
	room := max(limit-len(h.events), 0)
	keep := evs[:min(len(evs), room)]
	h.events = append(h.events, keep...)
	if lost := len(evs) - len(keep); lost > 0 {
		if h.dropped == 0 && r.Log != nil {
			r.Log.Error("audit: the database is unavailable and the events held for it fill audit_hold; further events of this outage are lost (counted in tolk_audit_events_dropped_total)",
				"held", len(h.events), "audit_hold", limit)
		}
		h.dropped += lost
		if r.Metrics != nil {
			r.Metrics.AuditDropped(lost)
		}
	}
	if r.Metrics != nil {
		r.Metrics.AuditHeld(len(h.events))
	}
	if !h.running && len(h.events) > 0 {
		h.running = true
		h.done = make(chan struct{})
		go r.writeHeld(h.done)
	}
}

// writeHeld writes the held events, oldest first, retrying with growing
// pauses while the database stays unavailable, and ends when none is left.
func (r *Recorder) writeHeld(done chan struct{}) {
	defer close(done)
	h := &r.held
	pause := 100 * time.Millisecond
	written := 0
	for {
		h.mu.Lock()
		n := min(len(h.events), writeBatch)
		if n == 0 {
			h.running = false
			dropped := h.dropped
			h.dropped = 0
			h.mu.Unlock()
			if r.Log != nil {
				r.Log.Info("audit: events held through a database outage are stored", "stored", written, "lost", dropped)
			}
			return
		}
		batch := slices.Clone(h.events[:n])
		h.mu.Unlock()

		rest := r.write(context.Background(), batch)
		stored := n - len(rest)
		h.mu.Lock()
		// Only this goroutine removes events, and hold only appends: the
		// first n are still batch.
		h.events = slices.Delete(h.events, 0, stored)
		if len(h.events) == 0 {
			h.events = nil // let a large outage's array go
		}
		if r.Metrics != nil {
			r.Metrics.AuditHeld(len(h.events))
		}
		h.mu.Unlock()
		written += stored
		if len(rest) == 0 {
			pause = 100 * time.Millisecond
			continue
		}
		time.Sleep(pause)
		pause = min(2*pause, 2*time.Second)
	}
}

// waitHeld waits at most d for the held events to be written, and reports
// how many are still held.
func (r *Recorder) waitHeld(d time.Duration) int {
	r.held.mu.Lock()
	done := r.held.done
	running := r.held.running
	r.held.mu.Unlock()
	if running {
		select {
		case <-done:
		case <-time.After(d):
		}
	}
	r.held.mu.Lock()
	defer r.held.mu.Unlock()
	return len(r.held.events)
}
