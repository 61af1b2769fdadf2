package sqlstore

import (
	"context"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- the sessions page (store.Sessions) ----

const (
	apiTokenColumns   = `hash, user_uid, created_at, expires_at, last_used_at`
	webSessionColumns = `hash, user_uid, csrf_token, auth_time, created_at, expires_at,
		user_agent, address, last_seen_at`
)

var (
	countWebSessionsSQL = Q(`SELECT count(*) FROM web_sessions WHERE user_uid = ? AND expires_at > ?`)
	listWebSessionsSQL  = Q(`SELECT ` + webSessionColumns + ` FROM web_sessions
		WHERE user_uid = ? AND expires_at > ? ORDER BY created_at DESC, hash COLLATE "C" LIMIT ?`)
	// The touches write only forward, so that two instances touching one
	// session at once never move it back.
	touchWebSessionSQL = Q(`UPDATE web_sessions SET last_seen_at = ?, address = ?, user_agent = ?
		WHERE hash = ? AND (last_seen_at IS NULL OR last_seen_at < ?)`)
	deleteUserWebSessionSQL = Q(`DELETE FROM web_sessions WHERE hash = ? AND user_uid = ?`)

	countAPITokensSQL = Q(`SELECT count(*) FROM api_tokens WHERE user_uid = ? AND expires_at > ?`)
	listAPITokensSQL  = Q(`SELECT ` + apiTokenColumns + ` FROM api_tokens
		WHERE user_uid = ? AND expires_at > ? ORDER BY created_at DESC, hash COLLATE "C" LIMIT ?`)
	touchAPITokenSQL = Q(`UPDATE api_tokens SET last_used_at = ?
		WHERE hash = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
	deleteUserAPITokenSQL = Q(`DELETE FROM api_tokens WHERE hash = ? AND user_uid = ?`)
)

func (s *Store) scanWebSession(r Row) (store.WebSession, error) {
	var ws store.WebSession
	d := s.db
	err := r.Scan(&ws.Hash, &ws.UserUID, &ws.CSRFToken, d.TimeDest(&ws.AuthTime), d.TimeDest(&ws.CreatedAt),
		d.TimeDest(&ws.ExpiresAt), &ws.UserAgent, &ws.Address, d.TimeDest(&ws.LastSeenAt))
	return ws, err
}

func (s *Store) scanAPIToken(r Row) (store.APIToken, error) {
	var t store.APIToken
	d := s.db
	err := r.Scan(&t.Hash, &t.UserUID, d.TimeDest(&t.CreatedAt), d.TimeDest(&t.ExpiresAt), d.TimeDest(&t.LastUsedAt))
	return t, err
}

// ListWebSessions implements store.Sessions. The page and the count are
// two reads, as in ListPATs.
func (s *Store) ListWebSessions(ctx context.Context, userUID string, now time.Time, limit int) ([]store.WebSession, int, error) {
	var total int
	if err := s.db.QueryRow(ctx, countWebSessionsSQL, userUID, s.db.Time(now)).Scan(&total); err != nil {
		return nil, 0, s.Wrap("list web sessions", err)
	}
	rows, err := s.db.Query(ctx, listWebSessionsSQL, userUID, s.db.Time(now), max(limit, 0))
	ws, err := scanAll(rows, err, s.scanWebSession)
	if err != nil {
		return nil, 0, s.Wrap("list web sessions", err)
	}
	return ws, total, nil
}

// TouchWebSession implements store.Sessions.
func (s *Store) TouchWebSession(ctx context.Context, hash string, at time.Time, address, userAgent string) error {
	_, err := s.db.Exec(ctx, touchWebSessionSQL, s.db.Time(at), address, userAgent, hash, s.db.Time(at))
	return s.Wrap("touch web session", err)
}

// DeleteUserWebSession implements store.Sessions: one statement, as
// DeleteWebSession.
func (s *Store) DeleteUserWebSession(ctx context.Context, userUID, hash string) (bool, error) {
	n, err := s.db.Exec(ctx, deleteUserWebSessionSQL, hash, userUID)
	return n == 1, s.Wrap("delete user web session", err)
}

// ListAPITokens implements store.Sessions.
func (s *Store) ListAPITokens(ctx context.Context, userUID string, now time.Time, limit int) ([]store.APIToken, int, error) {
	var total int
	if err := s.db.QueryRow(ctx, countAPITokensSQL, userUID, s.db.Time(now)).Scan(&total); err != nil {
		return nil, 0, s.Wrap("list api tokens", err)
	}
	rows, err := s.db.Query(ctx, listAPITokensSQL, userUID, s.db.Time(now), max(limit, 0))
	ts, err := scanAll(rows, err, s.scanAPIToken)
	if err != nil {
		return nil, 0, s.Wrap("list api tokens", err)
	}
	return ts, total, nil
}

// TouchAPIToken implements store.Sessions.
func (s *Store) TouchAPIToken(ctx context.Context, hash string, at time.Time) error {
	_, err := s.db.Exec(ctx, touchAPITokenSQL, s.db.Time(at), hash, s.db.Time(at))
	return s.Wrap("touch api token", err)
}

// DeleteUserAPIToken implements store.Sessions (see DeleteUserWebSession).
func (s *Store) DeleteUserAPIToken(ctx context.Context, userUID, hash string) (bool, error) {
	n, err := s.db.Exec(ctx, deleteUserAPITokenSQL, hash, userUID)
	return n == 1, s.Wrap("delete user api token", err)
}
