package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// The audited entry points of the service: each runs its unexported
// counterpart and records the outcome (internal/core/audit). Only ids and the
// dialect are recorded; never a password, code, ticket or token, nor a
// name typed at sign-in: people type their password into the user-name
// field, and that would land in the audit log and its log line in clear
// text (docs/limits.md, "What the audit log records").

// auditLogin records a sign-in attempt. Unexpected errors (the database)
// are not sign-in outcomes and are left to the caller's error log.
func (s *Service) auditLogin(ctx context.Context, dialect, userName string, u store.User, err error) {
	if s.Audit == nil {
		return
	}
	e := audit.Event{Type: audit.Login, ActorUID: u.UID, OrgUID: u.OrgUID, Details: map[string]string{"dialect": dialect}}
	if u.UID == "" && userName != "" {
		// A name that resolves is recorded as its account (the subject),
		// so that the organization's admins see failures against their
		// users; any other name only as a keyed fingerprint.
		if v, err := s.lookupUser(ctx, userName); err == nil {
			e.SubjectUID, e.OrgUID = v.UID, v.OrgUID
		} else {
			e.Details["unknown_user"] = s.nameFingerprint(userName)
			if o, err := s.Store.DefaultOrganization(ctx); err == nil {
				e.OrgUID = o.UID
			}
		}
	}
	var thr *ThrottledError
	switch {
	case err == nil:
		e.Outcome = audit.Success
	case errors.Is(err, ErrOTPRequired):
		e.Outcome = audit.SecondFactor
	case errors.As(err, &thr):
		e.Outcome = audit.Throttled
	case errors.Is(err, ErrInvalidCredentials), errors.Is(err, ErrInvalidToken):
		e.Outcome = audit.Failure
	default:
		return
	}
	s.Audit.Record(ctx, e)
}

// nameFingerprint is the audit log's stand-in for a typed name that
// resolves to no account: "hmac:" and 16 hex digits of HMAC-SHA-256 of
// the case-folded name under a key made at random when the process
// starts and kept nowhere else. Repeated attempts with one name show the
// same fingerprint (at one instance, until it restarts), and no one, not
// even with the database and every key file, can tell what was typed.
func (s *Service) nameFingerprint(name string) string {
	s.nameKeyOnce.Do(func() {
		// crypto/rand, not Gen: a key from a test's fixed source would
		// make fingerprints predictable. (rand.Read does not fail.)
		s.nameKey = make([]byte, 32)
		_, _ = rand.Read(s.nameKey)
	})
	m := hmac.New(sha256.New, s.nameKey)
	m.Write([]byte(strings.ToLower(name)))
	return "hmac:" + hex.EncodeToString(m.Sum(nil)[:8])
}

// clipName bounds a name an admin typed (a form may carry a mebibyte).
func clipName(n string) string {
	if len(n) > 64 {
		return n[:64] + "…"
	}
	return n
}

// BeginLogin is the first step of a sign-in that may need a second
// factor (beginLogin), audited.
func (s *Service) BeginLogin(ctx context.Context, dialect, userName, pw, addr string) (store.User, string, error) {
	u, ticket, err := s.beginLogin(ctx, dialect, userName, pw, addr)
	s.auditLogin(ctx, dialect, userName, u, err)
	return u, ticket, err
}

// FinishLogin completes a pending sign-in with the second-factor code
// (finishLogin), audited.
func (s *Service) FinishLogin(ctx context.Context, dialect, ticket, code, addr string) (store.User, error) {
	u, err := s.finishLogin(ctx, dialect, ticket, code, addr)
	s.auditLogin(ctx, dialect, "", u, err)
	return u, err
}

// CreateUser validates and stores a new, active user (createUser),
// audited. OrgUID empty means the default organization.
func (s *Service) CreateUser(ctx context.Context, n NewUser) (store.User, error) {
	u, err := s.createUser(ctx, n)
	if err == nil {
		s.Audit.Record(ctx, audit.Event{Type: audit.UserCreated, SubjectUID: u.UID, OrgUID: u.OrgUID,
			Details: map[string]string{"user_name": u.UserName, "role": string(u.Role)}})
	}
	return u, err
}

// LoginOther lets an ADMIN obtain a user of the same organization
// (loginOther), audited as an admin action, refusals included.
func (s *Service) LoginOther(ctx context.Context, admin store.User, userName string) (store.User, error) {
	u, err := s.loginOther(ctx, admin, userName)
	e := audit.Event{Type: audit.LoginOther, ActorUID: admin.UID, SubjectUID: u.UID, OrgUID: admin.OrgUID}
	switch {
	case err == nil:
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrNotFound):
		e.Outcome = audit.Denied
		e.Details = map[string]string{"user_name": clipName(userName)}
	default:
		return u, err
	}
	s.Audit.Record(ctx, e)
	return u, err
}

// RevokeAPIToken invalidates one ApiToken (TMS logout), audited with the
// token's user.
func (s *Service) RevokeAPIToken(ctx context.Context, token string) error {
	var owner string
	if s.Audit != nil && plausibleAPIToken(token) {
		if t, err := s.Store.GetAPIToken(ctx, secret.Hash(token)); err == nil {
			owner = t.UserUID
		}
	}
	err := s.revokeAPIToken(ctx, token)
	if err == nil {
		s.Audit.Record(ctx, audit.Event{Type: audit.APITokenLogout, ActorUID: owner})
	}
	return err
}
