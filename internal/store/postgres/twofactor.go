package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- two-factor authentication ----

// GetTwoFactor implements store.TwoFactors.
func (s *Store) GetTwoFactor(ctx context.Context, userUID string) (store.TwoFactor, error) {
	var (
		t       store.TwoFactor
		enabled *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT user_uid, sealed_secret, enabled_at, last_step, created_at
		FROM two_factor WHERE user_uid = $1`, userUID).Scan(&t.UserUID, &t.SealedSecret, &enabled, &t.LastStep, &t.CreatedAt)
	if err != nil {
		return store.TwoFactor{}, wrap("get two-factor", err)
	}
	t.EnabledAt, t.CreatedAt = fromNullTime(enabled), t.CreatedAt.UTC()
	return t, nil
}

// BeginTwoFactor implements store.TwoFactors. The upsert's WHERE leaves an
// enabled row alone, which shows as no row affected.
func (s *Store) BeginTwoFactor(ctx context.Context, t store.TwoFactor) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO two_factor (user_uid, sealed_secret, enabled_at, last_step, created_at)
		VALUES ($1, $2, NULL, $3, $4)
		ON CONFLICT (user_uid) DO UPDATE SET sealed_secret = excluded.sealed_secret,
			last_step = excluded.last_step, created_at = excluded.created_at
		WHERE two_factor.enabled_at IS NULL`,
		t.UserUID, blob(t.SealedSecret), t.LastStep, t.CreatedAt)
	if err != nil {
		return wrap("begin two-factor", err)
	}
	if tag.RowsAffected() == 0 {
		return wrap("begin two-factor", store.ErrConflict)
	}
	return nil
}

// EnableTwoFactor implements store.TwoFactors. The conditional UPDATE
// claims the pending enrolment with exactly this secret (its row lock
// makes concurrent callers wait and then find it enabled); the recovery
// codes are replaced in the same transaction.
func (s *Store) EnableTwoFactor(ctx context.Context, userUID string, sealedSecret []byte, step int64, at time.Time, recoveryHashes []string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE two_factor SET enabled_at = $1, last_step = $2
			WHERE user_uid = $3 AND enabled_at IS NULL AND sealed_secret = $4`,
			at, step, userUID, blob(sealedSecret))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var enabled bool
			err := tx.QueryRow(ctx,
				`SELECT enabled_at IS NOT NULL FROM two_factor WHERE user_uid = $1`, userUID).Scan(&enabled)
			if err != nil {
				return err // pgx.ErrNoRows: no enrolment at all
			}
			if enabled {
				return store.ErrConflict
			}
			return pgx.ErrNoRows // pending, but with another secret
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_uid = $1`, userUID); err != nil {
			return err
		}
		for _, h := range recoveryHashes {
			if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_uid, hash, created_at) VALUES ($1, $2, $3)`,
				userUID, h, at); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("enable two-factor", err)
}

// UseTOTPStep implements store.TwoFactors: one conditional UPDATE; the row
// lock makes a concurrent caller re-check last_step after the first
// commits, so exactly one succeeds.
func (s *Store) UseTOTPStep(ctx context.Context, userUID string, step int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE two_factor SET last_step = $1
		WHERE user_uid = $2 AND enabled_at IS NOT NULL AND last_step < $1`, step, userUID)
	if err != nil {
		return false, wrap("use totp step", err)
	}
	return tag.RowsAffected() == 1, nil
}

// UseRecoveryCode implements store.TwoFactors.
func (s *Store) UseRecoveryCode(ctx context.Context, userUID, hash string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM recovery_codes WHERE user_uid = $1 AND hash = $2`, userUID, hash)
	if err != nil {
		return false, wrap("use recovery code", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CountRecoveryCodes implements store.TwoFactors.
func (s *Store) CountRecoveryCodes(ctx context.Context, userUID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_uid = $1`, userUID).Scan(&n)
	return n, wrap("count recovery codes", err)
}

// DisableTwoFactor implements store.TwoFactors.
func (s *Store) DisableTwoFactor(ctx context.Context, userUID string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM two_factor WHERE user_uid = $1`, userUID)
		if err != nil {
			return err
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_uid = $1`, userUID)
		return err
	})
	return wrap("disable two-factor", err)
}

// ---- pending second-factor sign-ins ----

// CreatePendingLogin implements store.TwoFactors.
func (s *Store) CreatePendingLogin(ctx context.Context, p store.PendingLogin) error {
	_, err := s.issue.Exec(ctx, `INSERT INTO pending_logins (hash, user_uid, created_at, expires_at)
		VALUES ($1, $2, $3, $4)`, p.Hash, p.UserUID, p.CreatedAt, p.ExpiresAt)
	return wrap("create pending login", err)
}

// GetPendingLogin implements store.TwoFactors.
func (s *Store) GetPendingLogin(ctx context.Context, hash string) (store.PendingLogin, error) {
	var p store.PendingLogin
	err := s.pool.QueryRow(ctx, `SELECT hash, user_uid, created_at, expires_at
		FROM pending_logins WHERE hash = $1`, hash).Scan(&p.Hash, &p.UserUID, &p.CreatedAt, &p.ExpiresAt)
	if err != nil {
		return store.PendingLogin{}, wrap("get pending login", err)
	}
	p.CreatedAt, p.ExpiresAt = p.CreatedAt.UTC(), p.ExpiresAt.UTC()
	return p, nil
}

// DeletePendingLogin implements store.TwoFactors.
func (s *Store) DeletePendingLogin(ctx context.Context, hash string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM pending_logins WHERE hash = $1`, hash)
	if err != nil {
		return false, wrap("delete pending login", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteExpiredPendingLogins implements store.TwoFactors.
func (s *Store) DeleteExpiredPendingLogins(ctx context.Context, t time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM pending_logins WHERE expires_at < $1`, t)
	if err != nil {
		return 0, wrap("delete expired pending logins", err)
	}
	return int(tag.RowsAffected()), nil
}
