package identity

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/password"
	"github.com/tolk-project/tolk/internal/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/twofactor"
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

// userLimitKey is the user failure limit's key of a canonical user name.
func userLimitKey(userName string) string {
	k := strings.ToLower(userName)
	if len(k) > 64 {
		// Bound the memory a limiter key takes: a login body may carry a
		// user name of up to a mebibyte.
		k = "#" + secret.Hash(k)
	}
	return "u:" + k
}

// authenticateOTP is AuthenticateOTP that also returns the user with
// ErrOTPRequired (the password was right), for BeginLogin.
func (s *Service) authenticateOTP(ctx context.Context, dialect, userName, pw, code, addr string) (store.User, error) {
	u, err := s.Authenticate(ctx, dialect, userName, pw, addr)
	if err != nil {
		return store.User{}, err
	}
	if err := s.secondFactor(ctx, dialect, u, code, addr, userLimitKey(userName)); err != nil {
		return u, err
	}
	return u, nil
}

// secondFactor checks code for u if u has the second factor on. extraKey
// is another user-limit key the attempt counts against (the name as the
// client typed it, which may be the email).
func (s *Service) secondFactor(ctx context.Context, dialect string, u store.User, code, addr, extraKey string) error {
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
	keys := []string{userLimitKey(u.UserName)}
	if extraKey != keys[0] {
		keys = append(keys, extraKey)
	}
	addrKey := "a:" + addr
	if err := s.checkLogin(ctx, dialect, "", addrKey, keys...); err != nil {
		return err
	}
	err = s.TwoFactor.Verify(ctx, u.UID, code)
	if errors.Is(err, twofactor.ErrInvalidCode) {
		if err := s.failLogin(ctx, "", addrKey, keys...); err != nil {
			return err
		}
		s.outcome(dialect, "failure")
		return ErrInvalidCredentials
	}
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
	if err := s.secondFactor(ctx, dialect, u, code, addr, userLimitKey(u.UserName)); err != nil {
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

// DisableTwoFactor turns u's second factor off after checking u's
// password: a stolen session alone cannot remove the second factor. A
// wrong password counts toward the user's failure limit and is
// ErrInvalidCredentials; too many, ThrottledError.
func (s *Service) DisableTwoFactor(ctx context.Context, u store.User, pw string) error {
	if s.TwoFactor == nil {
		return twofactor.ErrNotEnabled
	}
	key := userLimitKey(u.UserName)
	if err := checkLimits(ctx, s.UserLimit, key); err != nil {
		return err
	}
	if len(pw) > MaxPasswordLen {
		if err := failLimits(ctx, s.UserLimit, key); err != nil {
			return err
		}
		return ErrInvalidCredentials
	}
	cur, err := s.Store.GetUser(ctx, u.UID)
	if err != nil {
		return err
	}
	_, err = s.Hasher.Verify(ctx, pw, cur.PasswordHash)
	if errors.Is(err, password.ErrMismatch) || errors.Is(err, password.ErrMalformed) {
		if err := failLimits(ctx, s.UserLimit, key); err != nil {
			return err
		}
		return ErrInvalidCredentials
	}
	if err != nil {
		return err
	}
	return s.TwoFactor.Disable(ctx, u.UID)
}
