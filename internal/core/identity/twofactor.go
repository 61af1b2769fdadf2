package identity

import (
	"context"
	"errors"
	"time"

	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/core/twofactor"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// The second factor at sign-in. A wrong or replayed code is a failed login
// like a wrong password: it spends a token of the user's and of the client
// address's failure limits (SECURITY.md T37, T39: 6 digits are only ~20
// bits, so guessing must be throttled), and it gets the same
// ErrInvalidCredentials. A missing code after a right password is
// ErrOTPRequired and costs nothing: the client simply did not know yet
// that it needs one.

// PendingLoginTTL is how long a web sign-in waits for its second factor.
const PendingLoginTTL = 5 * time.Minute

// pendingCookieLen is the length of a pending sign-in's cookie value
// (~256 bits of [A-Za-z0-9]).
const pendingCookieLen = 43

// authenticateOTP is AuthenticateOTP that also returns the user with
// ErrOTPRequired (the password was right), for BeginLogin.
func (s *Service) authenticateOTP(ctx context.Context, dialect, userName, pw, code, addr string) (store.User, error) {
	u, err := s.Authenticate(ctx, dialect, userName, pw, addr)
	if err != nil {
		return store.User{}, err
	}
	if err := s.secondFactor(ctx, dialect, u, code, addr); err != nil {
		return u, err
	}
	return u, nil
}

// secondFactor checks code for u if u has the second factor on, under
// the failure limits of u's account and of addr: a code is a guess like
// a password, and its tokens are taken before it is checked.
func (s *Service) secondFactor(ctx context.Context, dialect string, u store.User, code, addr string) error {
	if s.TwoFactor == nil {
		return nil
	}
	on, err := s.TwoFactor.Enabled(ctx, u.UID)
	if err != nil || !on {
		return err
	}
	if code == "" {
		return ErrOTPRequired
	}
	var res ratelimit.Reservation
	if err := s.reserveAccount(ctx, dialect, &res, u.UID, addr); err != nil {
		return err
	}
	err = s.TwoFactor.Verify(ctx, u.UID, code)
	if errors.Is(err, twofactor.ErrInvalidCode) {
		err = ErrInvalidCredentials
		s.outcome(dialect, "failure")
	}
	settle(ctx, &res, err)
	return err
}

// beginLogin (BeginLogin without the audit) is the first step of a sign-in that may need a second factor
// (the web UI): it checks the password under the failure limits like
// Authenticate. Without a second factor it returns the user. With one, it
// returns ErrOTPRequired and a ticket, the secret value of a pending
// sign-in stored (hashed) in the database for PendingLoginTTL, which
// FinishLogin completes with the code. The password itself is kept
// nowhere.
func (s *Service) beginLogin(ctx context.Context, dialect, userName, pw, addr string) (u store.User, ticket string, err error) {
	u, err = s.authenticateOTP(ctx, dialect, userName, pw, "", addr)
	if !errors.Is(err, ErrOTPRequired) {
		if err != nil {
			return store.User{}, "", err
		}
		return u, "", nil
	}
	ticket, err = s.Gen.Alphanumeric(pendingCookieLen)
	if err != nil {
		return store.User{}, "", err
	}
	now := s.now()
	if err := s.Store.CreatePendingLogin(ctx, store.PendingLogin{
		Hash: secret.Hash(ticket), UserUID: u.UID, CreatedAt: now, ExpiresAt: now.Add(PendingLoginTTL),
	}); err != nil {
		return store.User{}, "", err
	}
	return store.User{}, ticket, ErrOTPRequired
}

// finishLogin (FinishLogin without the audit) completes a pending sign-in with the second-factor code.
// An unknown, expired or already finished ticket is ErrInvalidToken (sign
// in again); an empty code ErrOTPRequired; a wrong code
// ErrInvalidCredentials, counted as a failed login, and the ticket stays
// usable until it expires (the limits bound the guesses). On success the
// ticket is used up.
func (s *Service) finishLogin(ctx context.Context, dialect, ticket, code, addr string) (store.User, error) {
	if len(ticket) != pendingCookieLen {
		return store.User{}, ErrInvalidToken
	}
	h := secret.Hash(ticket)
	p, err := s.Store.GetPendingLogin(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrInvalidToken
	}
	if err != nil {
		return store.User{}, err
	}
	if !s.now().Before(p.ExpiresAt) {
		return store.User{}, ErrInvalidToken
	}
	u, err := s.activeUser(ctx, p.UserUID)
	if err != nil {
		return store.User{}, err
	}
	if err := s.secondFactor(ctx, dialect, u, code, addr); err != nil {
		return store.User{}, err
	}
	// Single use: of two concurrent finishes only one signs in.
	deleted, err := s.Store.DeletePendingLogin(ctx, h)
	if err != nil {
		return store.User{}, err
	}
	if !deleted {
		return store.User{}, ErrInvalidToken
	}
	s.outcome(dialect, "success")
	return u, nil
}

// CancelLogin forgets a pending sign-in (the user went back).
func (s *Service) CancelLogin(ctx context.Context, ticket string) {
	if len(ticket) == pendingCookieLen {
		_, _ = s.Store.DeletePendingLogin(ctx, secret.Hash(ticket))
	}
}

// confirmPassword checks pw against u's stored password for a change of
// u's own account under the failure limits, like a sign-in: a stolen
// session alone cannot change what protects the account. A wrong
// password is ErrInvalidCredentials and counts toward the account's and
// addr's limits; too many, ThrottledError.
func (s *Service) confirmPassword(ctx context.Context, u store.User, pw, addr string) error {
	var res ratelimit.Reservation
	if err := s.reserveAccount(ctx, "", &res, u.UID, addr); err != nil {
		return err
	}
	cur, err := s.Store.GetUser(ctx, u.UID)
	if err == nil {
		_, err = s.checkPassword(ctx, cur, true, pw)
	}
	settle(ctx, &res, err)
	return err
}

// EnableTwoFactor confirms u's pending enrolment with a code from the
// authenticator app (twofactor.Service.Enable) after checking u's
// password (confirmPassword), and returns the recovery codes: a stolen
// session alone cannot enrol the thief's authenticator and lock the owner
// out (ASVS 7.5.1). A wrong password changes nothing.
func (s *Service) EnableTwoFactor(ctx context.Context, u store.User, pw, code, addr string) ([]string, error) {
	if s.TwoFactor == nil {
		return nil, twofactor.ErrNotEnrolling
	}
	if err := s.confirmPassword(ctx, u, pw, addr); err != nil {
		return nil, err
	}
	return s.TwoFactor.Enable(ctx, u, code)
}

// DisableTwoFactor turns u's second factor off after checking u's
// password (confirmPassword): a stolen session alone cannot remove the
// second factor.
func (s *Service) DisableTwoFactor(ctx context.Context, u store.User, pw, addr string) error {
	if s.TwoFactor == nil {
		return twofactor.ErrNotEnabled
	}
	if err := s.confirmPassword(ctx, u, pw, addr); err != nil {
		return err
	}
	return s.TwoFactor.Disable(ctx, u.UID)
}
