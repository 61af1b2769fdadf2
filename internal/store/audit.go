package store

import (
	"context"
	"time"
)

// AuditEvent is one entry of the audit log: a security event (a sign-in,
// a token issued or revoked, an admin action). The log is append-only;
// only retention removes entries (Retention). No field ever holds a secret: tokens,
// passwords, codes and their hashes stay out (internal/core/audit enforces it).
type AuditEvent struct {
	ID   string    // 32 hex characters: a millisecond time stamp, then random
	Time time.Time // when it happened
	Type string    // dotted name, e.g. "login", "oauth.token_issued", "user.deactivated"
	// ActorUID is the user who acted ("" for a client alone, the CLI, or
	// an unknown user); ClientID the OAuth app involved, if any.
	ActorUID string
	ClientID string
	// SubjectUID is the user the event is about when that is not the
	// actor (the deactivated user, the target of loginOther); "" otherwise.
	SubjectUID string
	OrgUID     string // the organization whose admins see it ("" = none)
	ClientAddr string // the client's IP address as tolk saw it
	RequestID  string // the HTTP request's id, to find its access log line
	Outcome    string // "success", "failure", "throttled", "denied", …
	// Details are small, non-secret facts (dialect, grant type, key id).
	// nil and empty round-trip as nil.
	Details map[string]string
}

// AuditFilter selects audit events. Zero fields do not filter.
type AuditFilter struct {
	OrgUID string
	Type   string
	// UserUID matches events whose actor or subject is this user.
	UserUID string
	// Before is a keyset cursor: only events strictly older than
	// (BeforeTime, BeforeID) in the list's order. Zero BeforeTime: from
	// the newest.
	BeforeTime time.Time
	BeforeID   string
	// Limit caps the result; <= 0 means 50, and it is at most 1000.
	Limit int
}

// AuditLog stores the audit log.
type AuditLog interface {
	// AppendAuditEvent stores e; a duplicate ID is ErrConflict.
	AppendAuditEvent(ctx context.Context, e AuditEvent) error
	// AppendAuditEvents stores every event of es in one transaction, or
	// none of them (a duplicate ID is ErrConflict): the writer of
	// high-volume events behind the response uses it to pay for one
	// commit per batch instead of one per event.
	AppendAuditEvents(ctx context.Context, es []AuditEvent) error
	// ListAuditEvents returns the events matching f, newest first (by
	// Time, then by ID descending for events of the same microsecond).
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// AuditLimit normalizes AuditFilter.Limit.
func AuditLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 1000:
		return 1000
	}
	return n
}

// BatchSizes splits n rows into batches whose sizes are powers of two of
// at most max (itself a power of two), largest first: a backend then
// prepares one multi-row statement per size rather than one per count.
func BatchSizes(n, max int) []int {
	var out []int
	for n > 0 {
		c := max
		for c > n {
			c /= 2
		}
		out = append(out, c)
		n -= c
	}
	return out
}
