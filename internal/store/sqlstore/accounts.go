package sqlstore

import (
	"context"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- accounts (store.Accounts) ----

var (
	changePasswordSQL = Q(`UPDATE users SET password_hash = ?, updated_at = ?, last_invalidate_all = ? WHERE uid = ?`)
	// changePasswordEnds end what a password change ends: every other
	// web session, every pending sign-in and every ApiToken.
	deleteOtherSessionsSQL  = Q(`DELETE FROM web_sessions WHERE user_uid = ? AND hash <> ?`)
	deletePendingOfUserSQL  = Q(`DELETE FROM pending_logins WHERE user_uid = ?`)
	updateProfileSQL        = Q(`UPDATE users SET first_name = ?, last_name = ?, email = ?, email_key = ?, language = ?, updated_at = ? WHERE uid = ?`)
	lockEnabledTwoFactorSQL = Q(`UPDATE two_factor SET last_step = last_step WHERE user_uid = ? AND enabled_at IS NOT NULL`)
)

// ChangePassword implements store.Accounts. The user row first: an
// unknown user fails before anything is deleted, and on PostgreSQL the
// row lock orders concurrent changes and sign-outs of one user.
func (s *Store) ChangePassword(ctx context.Context, uid, hash, keepSession string, at time.Time) error {
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := oneRow(tx.Exec(ctx, changePasswordSQL, hash, s.db.Time(at), s.db.NullTime(at), uid)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteOtherSessionsSQL, uid, keepSession); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deletePendingOfUserSQL, uid); err != nil {
			return err
		}
		// An outstanding reset or invitation link would set the password
		// again behind the change.
		if _, err := tx.Exec(ctx, deletePasswordResetSQL, uid); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, deleteUserAPITokens, uid)
		return err
	})
	return s.Wrap("change password", err)
}

// UpdateProfile implements store.Accounts; a taken email is the unique
// index's violation (ErrConflict).
func (s *Store) UpdateProfile(ctx context.Context, uid string, p store.Profile, at time.Time) error {
	return s.Wrap("update profile", oneRow(s.db.Exec(ctx, updateProfileSQL,
		p.FirstName, p.LastName, p.Email, FoldKey(p.Email), p.Language, s.db.Time(at), uid)))
}

// ReplaceRecoveryCodes implements store.Accounts. The two_factor row is
// locked first (an UPDATE that changes nothing), so a concurrent disable
// either runs before (and nothing is replaced) or after (and removes the
// new codes with the factor).
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userUID string, hashes []string, at time.Time) error {
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := oneRow(tx.Exec(ctx, lockEnabledTwoFactorSQL, userUID)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteRecoverySQL, userUID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.Exec(ctx, insertRecoverySQL, userUID, h, s.db.Time(at)); err != nil {
				return err
			}
		}
		return nil
	})
	return s.Wrap("replace recovery codes", err)
}
