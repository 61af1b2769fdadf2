package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- two-factor authentication ----

// GetTwoFactor implements store.TwoFactors.
func (s *Store) GetTwoFactor(ctx context.Context, userUID string) (store.TwoFactor, error) {
	var (
		t       store.TwoFactor
		enabled sql.NullInt64
		created int64
	)
	err := s.rx.QueryRowContext(ctx, `SELECT user_uid, sealed_secret, enabled_at, last_step, created_at
		FROM two_factor WHERE user_uid = ?`, userUID).Scan(&t.UserUID, &t.SealedSecret, &enabled, &t.LastStep, &created)
	if err != nil {
		return store.TwoFactor{}, wrap("get two-factor", err)
	}
	t.EnabledAt, t.CreatedAt = fromNullMicros(enabled), fromMicros(created)
	return t, nil
}

// BeginTwoFactor implements store.TwoFactors. The upsert's WHERE leaves an
// enabled row alone, which shows as no row affected.
func (s *Store) BeginTwoFactor(ctx context.Context, t store.TwoFactor) error {
	res, err := s.wx.ExecContext(ctx, `INSERT INTO two_factor (user_uid, sealed_secret, enabled_at, last_step, created_at)
		VALUES (?, ?, NULL, ?, ?)
		ON CONFLICT (user_uid) DO UPDATE SET sealed_secret = excluded.sealed_secret,
			last_step = excluded.last_step, created_at = excluded.created_at
		WHERE two_factor.enabled_at IS NULL`,
		t.UserUID, blob(t.SealedSecret), t.LastStep, micros(t.CreatedAt))
	if err != nil {
		return wrap("begin two-factor", err)
	}
	if oneRow(res) != nil {
		return wrap("begin two-factor", store.ErrConflict)
	}
	return nil
}

// EnableTwoFactor implements store.TwoFactors. The conditional UPDATE
// claims the pending enrolment with exactly this secret; the recovery
// codes are replaced in the same transaction.
func (s *Store) EnableTwoFactor(ctx context.Context, userUID string, sealedSecret []byte, step int64, at time.Time, recoveryHashes []string) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE two_factor SET enabled_at = ?, last_step = ?
			WHERE user_uid = ? AND enabled_at IS NULL AND sealed_secret = ?`,
			micros(at), step, userUID, blob(sealedSecret))
		if err != nil {
			return err
		}
		if oneRow(res) != nil {
			var enabled bool
			err := tx.QueryRowContext(ctx,
				`SELECT enabled_at IS NOT NULL FROM two_factor WHERE user_uid = ?`, userUID).Scan(&enabled)
			if err != nil {
				return err // sql.ErrNoRows: no enrolment at all
			}
			if enabled {
				return store.ErrConflict
			}
			return sql.ErrNoRows // pending, but with another secret
		}
		return replaceRecoveryCodes(ctx, tx, userUID, recoveryHashes, at)
	})
	return wrap("enable two-factor", err)
}

func replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, userUID string, hashes []string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_uid = ?`, userUID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_uid, hash, created_at) VALUES (?, ?, ?)`,
			userUID, h, micros(at)); err != nil {
			return err
		}
	}
	return nil
}

// UseTOTPStep implements store.TwoFactors: one conditional UPDATE, so on
// the single writer connection only the first of concurrent callers finds
// the step still ahead of last_step.
func (s *Store) UseTOTPStep(ctx context.Context, userUID string, step int64) (bool, error) {
	res, err := s.wx.ExecContext(ctx, `UPDATE two_factor SET last_step = ?
		WHERE user_uid = ? AND enabled_at IS NOT NULL AND last_step < ?`, step, userUID, step)
	if err != nil {
		return false, wrap("use totp step", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("use totp step", err)
}

// UseRecoveryCode implements store.TwoFactors.
func (s *Store) UseRecoveryCode(ctx context.Context, userUID, hash string) (bool, error) {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_uid = ? AND hash = ?`, userUID, hash)
	if err != nil {
		return false, wrap("use recovery code", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("use recovery code", err)
}

// CountRecoveryCodes implements store.TwoFactors.
func (s *Store) CountRecoveryCodes(ctx context.Context, userUID string) (int, error) {
	var n int
	err := s.rx.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_uid = ?`, userUID).Scan(&n)
	return n, wrap("count recovery codes", err)
}

// DisableTwoFactor implements store.TwoFactors.
func (s *Store) DisableTwoFactor(ctx context.Context, userUID string) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM two_factor WHERE user_uid = ?`, userUID)
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_uid = ?`, userUID)
		return err
	})
	return wrap("disable two-factor", err)
}

// ---- pending second-factor sign-ins ----

// CreatePendingLogin implements store.TwoFactors.
func (s *Store) CreatePendingLogin(ctx context.Context, p store.PendingLogin) error {
	_, err := s.ix.ExecContext(ctx, `INSERT INTO pending_logins (hash, user_uid, created_at, expires_at)
		VALUES (?, ?, ?, ?)`, p.Hash, p.UserUID, micros(p.CreatedAt), micros(p.ExpiresAt))
	return wrap("create pending login", err)
}

// GetPendingLogin implements store.TwoFactors.
func (s *Store) GetPendingLogin(ctx context.Context, hash string) (store.PendingLogin, error) {
	var (
		p                store.PendingLogin
		created, expires int64
	)
	err := s.rx.QueryRowContext(ctx, `SELECT hash, user_uid, created_at, expires_at
		FROM pending_logins WHERE hash = ?`, hash).Scan(&p.Hash, &p.UserUID, &created, &expires)
	if err != nil {
		return store.PendingLogin{}, wrap("get pending login", err)
	}
	p.CreatedAt, p.ExpiresAt = fromMicros(created), fromMicros(expires)
	return p, nil
}

// DeletePendingLogin implements store.TwoFactors.
func (s *Store) DeletePendingLogin(ctx context.Context, hash string) (bool, error) {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM pending_logins WHERE hash = ?`, hash)
	if err != nil {
		return false, wrap("delete pending login", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("delete pending login", err)
}

// DeleteExpiredPendingLogins implements store.TwoFactors.
func (s *Store) DeleteExpiredPendingLogins(ctx context.Context, t time.Time) (int, error) {
	res, err := s.wx.ExecContext(ctx, `DELETE FROM pending_logins WHERE expires_at < ?`, micros(t))
	if err != nil {
		return 0, wrap("delete expired pending logins", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("delete expired pending logins", err)
}
