package store

import (
	"context"
	"time"
)

// TwoFactor is a user's TOTP second factor (RFC 6238). The shared secret is
// sealed by the caller (encrypted at rest, bound to the user); the store
// never sees it in the clear.
type TwoFactor struct {
	UserUID      string
	SealedSecret []byte
	// EnabledAt is when the user confirmed the enrolment with a first
	// code; zero while the enrolment is pending (not yet in force).
	EnabledAt time.Time
	// LastStep is the last TOTP time step accepted for the user: a code of
	// that step or an earlier one is never accepted again (RFC 6238 §5.2).
	LastStep  int64
	CreatedAt time.Time
}

// Enabled reports whether the second factor is in force.
func (t TwoFactor) Enabled() bool { return !t.EnabledAt.IsZero() }

// PendingLogin is a web sign-in whose password was right and which waits
// for the second factor. Only the SHA-256 of its cookie value is stored.
type PendingLogin struct {
	Hash      string // hex SHA-256 of the cookie value
	UserUID   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TwoFactors stores TOTP enrolments, recovery codes and pending
// second-factor sign-ins. Every single-use step is one atomic method.
type TwoFactors interface {
	// GetTwoFactor returns the user's enrolment, pending or enabled;
	// ErrNotFound if there is none.
	GetTwoFactor(ctx context.Context, userUID string) (TwoFactor, error)
	// BeginTwoFactor stores t as the user's pending enrolment, replacing a
	// pending one. It returns ErrConflict, changing nothing, when the
	// user's second factor is already enabled. t.EnabledAt is ignored.
	BeginTwoFactor(ctx context.Context, t TwoFactor) error
	// EnableTwoFactor confirms the pending enrolment whose sealed secret is
	// sealedSecret: it records at as EnabledAt and step as LastStep (the
	// confirming code is thereby used), and replaces the user's recovery
	// codes with recoveryHashes, in one transaction. It returns
	// ErrConflict when the second factor is already enabled, and
	// ErrNotFound when there is no pending enrolment with that secret (it
	// was replaced meanwhile); both change nothing.
	EnableTwoFactor(ctx context.Context, userUID string, sealedSecret []byte, step int64, at time.Time, recoveryHashes []string) error
	// UseTOTPStep accepts the time step step for the user if the second
	// factor is enabled and step is after LastStep, recording it as
	// LastStep. Of concurrent calls with one step exactly one gets true.
	UseTOTPStep(ctx context.Context, userUID string, step int64) (bool, error)
	// UseRecoveryCode deletes the user's recovery code with this hash. Of
	// concurrent calls exactly one gets true; an unknown code is false.
	UseRecoveryCode(ctx context.Context, userUID, hash string) (bool, error)
	// CountRecoveryCodes returns how many unused recovery codes the user has.
	CountRecoveryCodes(ctx context.Context, userUID string) (int, error)
	// DisableTwoFactor removes the enrolment (pending or enabled) and the
	// recovery codes in one transaction; ErrNotFound if there is none.
	DisableTwoFactor(ctx context.Context, userUID string) error

	CreatePendingLogin(ctx context.Context, p PendingLogin) error
	// GetPendingLogin returns the pending sign-in whatever its expiry;
	// callers check it.
	GetPendingLogin(ctx context.Context, hash string) (PendingLogin, error)
	// DeletePendingLogin deletes atomically: of concurrent calls for one
	// pending sign-in exactly one reports deleted=true.
	DeletePendingLogin(ctx context.Context, hash string) (deleted bool, err error)
}
