package sqlstore

import (
	"context"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- password-reset links (store.PasswordResets) ----

var (
	insertPasswordResetSQL = Q(`INSERT INTO password_resets (hash, user_uid, purpose, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`)
	getPasswordResetSQL = Q(`SELECT hash, user_uid, purpose, created_at, expires_at
		FROM password_resets WHERE hash = ?`)
	// claimPasswordResetSQL is the single use: one DELETE of the link of
	// this user that is still valid, so exactly one of concurrent callers
	// affects the row (SQLite's single writer, PostgreSQL's row lock).
	claimPasswordResetSQL  = Q(`DELETE FROM password_resets WHERE hash = ? AND user_uid = ? AND expires_at > ?`)
	deletePasswordResetSQL = Q(`DELETE FROM password_resets WHERE user_uid = ?`)
	resetPasswordSQL       = Q(`UPDATE users SET password_hash = ?, updated_at = ?, last_invalidate_all = ? WHERE uid = ?`)
	deleteUserPendingSQL   = Q(`DELETE FROM pending_logins WHERE user_uid = ?`)
)

// CreatePasswordReset implements store.PasswordResets.
func (s *Store) CreatePasswordReset(ctx context.Context, r store.PasswordReset) error {
	_, err := s.db.Exec(ctx, insertPasswordResetSQL, r.Hash, r.UserUID, r.Purpose, s.db.Time(r.CreatedAt), s.db.Time(r.ExpiresAt))
	return s.Wrap("create password reset", err)
}

// GetPasswordReset implements store.PasswordResets.
func (s *Store) GetPasswordReset(ctx context.Context, hash string) (store.PasswordReset, error) {
	var r store.PasswordReset
	err := s.db.QueryRow(ctx, getPasswordResetSQL, hash).Scan(&r.Hash, &r.UserUID, &r.Purpose,
		s.db.TimeDest(&r.CreatedAt), s.db.TimeDest(&r.ExpiresAt))
	if err != nil {
		return store.PasswordReset{}, s.Wrap("get password reset", err)
	}
	return r, nil
}

// RedeemPasswordReset implements store.PasswordResets: the link is claimed
// first, so a loser changes nothing; then the password and everything
// that must end with it, in the same transaction.
func (s *Store) RedeemPasswordReset(ctx context.Context, hash, userUID, passwordHash string, at time.Time) error {
	err := s.db.InTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := oneRow(tx.Exec(ctx, claimPasswordResetSQL, hash, userUID, s.db.Time(at))); err != nil {
			return err
		}
		if err := oneRow(tx.Exec(ctx, resetPasswordSQL, passwordHash, s.db.Time(at), s.db.NullTime(at), userUID)); err != nil {
			return err
		}
		for _, q := range []Query{deletePasswordResetSQL, deleteUserSessions, deleteUserPendingSQL, deleteUserAPITokens} {
			if _, err := tx.Exec(ctx, q, userUID); err != nil {
				return err
			}
		}
		return nil
	})
	return s.Wrap("redeem password reset", err)
}

// DeletePasswordResets implements store.PasswordResets.
func (s *Store) DeletePasswordResets(ctx context.Context, userUID string) error {
	_, err := s.db.Exec(ctx, deletePasswordResetSQL, userUID)
	return s.Wrap("delete password resets", err)
}
