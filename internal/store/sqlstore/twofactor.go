package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- two-factor authentication ----

var (
	getTwoFactorSQL = Q(`SELECT user_uid, sealed_secret, enabled_at, last_step, created_at
		FROM two_factor WHERE user_uid = ?`)
	beginTwoFactorSQL = Q(`INSERT INTO two_factor (user_uid, sealed_secret, enabled_at, last_step, created_at)
		VALUES (?, ?, NULL, ?, ?)
		ON CONFLICT (user_uid) DO UPDATE SET sealed_secret = excluded.sealed_secret,
			last_step = excluded.last_step, created_at = excluded.created_at
		WHERE two_factor.enabled_at IS NULL`)
	enableTwoFactorSQL = Q(`UPDATE two_factor SET enabled_at = ?, last_step = ?
			WHERE user_uid = ? AND enabled_at IS NULL AND sealed_secret = ?`)
	twoFactorEnabledSQL = Q(`SELECT enabled_at IS NOT NULL FROM two_factor WHERE user_uid = ?`)
	deleteRecoverySQL   = Q(`DELETE FROM recovery_codes WHERE user_uid = ?`)
	insertRecoverySQL   = Q(`INSERT INTO recovery_codes (user_uid, hash, created_at) VALUES (?, ?, ?)`)
	useTOTPStepSQL      = Q(`UPDATE two_factor SET last_step = ?
		WHERE user_uid = ? AND enabled_at IS NOT NULL AND last_step < ?`)
	useRecoveryCodeSQL = Q(`DELETE FROM recovery_codes WHERE user_uid = ? AND hash = ?`)
	countRecoverySQL   = Q(`SELECT count(*) FROM recovery_codes WHERE user_uid = ?`)
	deleteTwoFactorSQL = Q(`DELETE FROM two_factor WHERE user_uid = ?`)
	insertPendingSQL   = Q(`INSERT INTO pending_logins (hash, user_uid, created_at, expires_at) VALUES (?, ?, ?, ?)`)
	getPendingSQL      = Q(`SELECT hash, user_uid, created_at, expires_at FROM pending_logins WHERE hash = ?`)
	deletePendingSQL   = Q(`DELETE FROM pending_logins WHERE hash = ?`)
	getRateLimitSQL    = Q(`SELECT tat FROM rate_limits WHERE key = ?`)
)

// GetTwoFactor implements store.TwoFactors.
func (s *Store) GetTwoFactor(ctx context.Context, userUID string) (store.TwoFactor, error) {
	var t store.TwoFactor
	err := s.db.QueryRow(ctx, getTwoFactorSQL, userUID).Scan(&t.UserUID, &t.SealedSecret,
		s.db.TimeDest(&t.EnabledAt), &t.LastStep, s.db.TimeDest(&t.CreatedAt))
	if err != nil {
		return store.TwoFactor{}, s.Wrap("get two-factor", err)
	}
	return t, nil
}

// BeginTwoFactor implements store.TwoFactors. The upsert's WHERE leaves an
// enabled row alone, which shows as no row affected.
func (s *Store) BeginTwoFactor(ctx context.Context, t store.TwoFactor) error {
	n, err := s.db.Exec(ctx, beginTwoFactorSQL, t.UserUID, Blob(t.SealedSecret), t.LastStep, s.db.Time(t.CreatedAt))
	if err != nil {
		return s.Wrap("begin two-factor", err)
	}
	if n == 0 {
		return s.Wrap("begin two-factor", store.ErrConflict)
	}
	return nil
}

// EnableTwoFactor implements store.TwoFactors. The conditional UPDATE
// claims the pending enrolment with exactly this secret (a concurrent
// caller then finds it enabled); the recovery codes are replaced in the
// same transaction.
func (s *Store) EnableTwoFactor(ctx context.Context, userUID string, sealedSecret []byte, step int64, at time.Time, recoveryHashes []string) error {
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		n, err := tx.Exec(ctx, enableTwoFactorSQL, s.db.Time(at), step, userUID, Blob(sealedSecret))
		if err != nil {
			return err
		}
		if n == 0 {
			var enabled bool
			if err := tx.QueryRow(ctx, twoFactorEnabledSQL, userUID).Scan(&enabled); err != nil {
				return err // no rows: no enrolment at all
			}
			if enabled {
				return store.ErrConflict
			}
			return errNoRows // pending, but with another secret
		}
		if _, err := tx.Exec(ctx, deleteRecoverySQL, userUID); err != nil {
			return err
		}
		for _, h := range recoveryHashes {
			if _, err := tx.Exec(ctx, insertRecoverySQL, userUID, h, s.db.Time(at)); err != nil {
				return err
			}
		}
		return nil
	})
	return s.Wrap("enable two-factor", err)
}

// UseTOTPStep implements store.TwoFactors: one conditional UPDATE, so
// exactly one of concurrent callers finds the step still ahead of
// last_step (SQLite's single writer; PostgreSQL re-checks it after the
// row lock).
func (s *Store) UseTOTPStep(ctx context.Context, userUID string, step int64) (bool, error) {
	n, err := s.db.Exec(ctx, useTOTPStepSQL, step, userUID, step)
	return n == 1, s.Wrap("use totp step", err)
}

// UseRecoveryCode implements store.TwoFactors.
func (s *Store) UseRecoveryCode(ctx context.Context, userUID, hash string) (bool, error) {
	n, err := s.db.Exec(ctx, useRecoveryCodeSQL, userUID, hash)
	return n == 1, s.Wrap("use recovery code", err)
}

// CountRecoveryCodes implements store.TwoFactors.
func (s *Store) CountRecoveryCodes(ctx context.Context, userUID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, countRecoverySQL, userUID).Scan(&n)
	return n, s.Wrap("count recovery codes", err)
}

// DisableTwoFactor implements store.TwoFactors.
func (s *Store) DisableTwoFactor(ctx context.Context, userUID string) error {
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := oneRow(tx.Exec(ctx, deleteTwoFactorSQL, userUID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, deleteRecoverySQL, userUID)
		return err
	})
	return s.Wrap("disable two-factor", err)
}

// ---- pending second-factor sign-ins ----

// CreatePendingLogin implements store.TwoFactors.
func (s *Store) CreatePendingLogin(ctx context.Context, p store.PendingLogin) error {
	err := s.db.Issue(ctx, insertPendingSQL, p.Hash, p.UserUID, s.db.Time(p.CreatedAt), s.db.Time(p.ExpiresAt))
	return s.Wrap("create pending login", err)
}

// GetPendingLogin implements store.TwoFactors.
func (s *Store) GetPendingLogin(ctx context.Context, hash string) (store.PendingLogin, error) {
	var p store.PendingLogin
	err := s.db.QueryRow(ctx, getPendingSQL, hash).Scan(&p.Hash, &p.UserUID, s.db.TimeDest(&p.CreatedAt), s.db.TimeDest(&p.ExpiresAt))
	if err != nil {
		return store.PendingLogin{}, s.Wrap("get pending login", err)
	}
	return p, nil
}

// DeletePendingLogin implements store.TwoFactors.
func (s *Store) DeletePendingLogin(ctx context.Context, hash string) (bool, error) {
	n, err := s.db.Exec(ctx, deletePendingSQL, hash)
	return n == 1, s.Wrap("delete pending login", err)
}

// ---- rate limits (the take and refund differ per engine) ----

// GetRateLimit implements store.RateLimits.
func (s *Store) GetRateLimit(ctx context.Context, key string) (time.Time, error) {
	var tat time.Time
	err := s.db.QueryRow(ctx, getRateLimitSQL, key).Scan(s.db.TimeDest(&tat))
	if errors.Is(err, errNoRows) {
		return time.Time{}, nil
	}
	return tat, s.Wrap("get rate limit", err)
}
