package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tolk-project/tolk/internal/store"
)

// ---- audit log (store.AuditLog) ----

const auditColumns = `id, time, type, actor_uid, client_id, subject_uid, org_uid, client_addr, request_id, outcome, details`

// detailsJSON encodes details as a JSON object, NULL when empty.
func detailsJSON(d map[string]string) (sql.NullString, error) {
	if len(d) == 0 {
		return sql.NullString{}, nil
	}
	v, err := detailsObject(d)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: v, Valid: true}, nil
}

func parseDetails(v sql.NullString) (map[string]string, error) {
	if !v.Valid {
		return nil, nil
	}
	var d map[string]string
	if err := json.Unmarshal([]byte(v.String), &d); err != nil {
		return nil, fmt.Errorf("decode audit details: %w", err)
	}
	if len(d) == 0 {
		return nil, nil
	}
	return d, nil
}

func scanAuditEvent(r interface{ Scan(...any) error }) (store.AuditEvent, error) {
	var (
		e       store.AuditEvent
		t       int64
		details sql.NullString
	)
	if err := r.Scan(&e.ID, &t, &e.Type, &e.ActorUID, &e.ClientID, &e.SubjectUID, &e.OrgUID,
		&e.ClientAddr, &e.RequestID, &e.Outcome, &details); err != nil {
		return store.AuditEvent{}, err
	}
	e.Time = fromMicros(t)
	d, err := parseDetails(details)
	if err != nil {
		return store.AuditEvent{}, err
	}
	e.Details = d
	return e, nil
}

// AppendAuditEvent implements store.AuditLog.
func (s *Store) AppendAuditEvent(ctx context.Context, e store.AuditEvent) error {
	details, err := detailsJSON(e.Details)
	if err != nil {
		return wrap("append audit event", err)
	}
	_, err = s.wx.ExecContext(ctx, insertAuditEvent,
		e.ID, micros(e.Time), e.Type, e.ActorUID, e.ClientID, e.SubjectUID, e.OrgUID,
		e.ClientAddr, e.RequestID, e.Outcome, details)
	return wrap("append audit event", err)
}

// AppendAuditEvents implements store.AuditLog: one savepoint in the group
// commit for the whole batch. Only the high-volume events written behind
// the response come here, so it is an issuance write (inIssueTx). The
// events go in multi-row INSERTs of up to maxAuditRows rows, in sizes that
// are powers of two (so at most a few statements are ever prepared): one
// statement per row cost a statement's setup per issued token.
func (s *Store) AppendAuditEvents(ctx context.Context, es []store.AuditEvent) error {
	if len(es) == 0 {
		return nil
	}
	// Prepare before queueing: the writer is busy inside the batch.
	sizes := store.BatchSizes(len(es), maxAuditRows)
	stmts := make([]*sql.Stmt, len(sizes)) // stmts[i] inserts sizes[i] rows
	for i, n := range sizes {
		st, err := s.ws.get(ctx, auditInserts[n])
		if err != nil {
			return wrap("append audit events", err)
		}
		stmts[i] = st
	}
	args := make([]any, 0, auditCols*min(len(es), maxAuditRows))
	err := s.inIssueTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rest := es
		for i, n := range sizes {
			args = args[:0]
			for _, e := range rest[:n] {
				details, err := detailsJSON(e.Details)
				if err != nil {
					return err
				}
				args = append(args, e.ID, micros(e.Time), e.Type, e.ActorUID, e.ClientID, e.SubjectUID,
					e.OrgUID, e.ClientAddr, e.RequestID, e.Outcome, details)
			}
			if _, err := tx.StmtContext(ctx, stmts[i]).ExecContext(ctx, args...); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
	return wrap("append audit events", err)
}

// maxAuditRows bounds one INSERT of audit events (11 parameters a row,
// far below SQLite's limit of 32766).
const (
	maxAuditRows = 64
	auditCols    = 11
)

// auditRow is the placeholders of one event.
const auditRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

const insertAuditEvent = `INSERT INTO audit_events (` + auditColumns + `) VALUES ` + auditRow

// auditInserts[n] inserts n events, for every size store.BatchSizes makes
// (powers of two up to maxAuditRows), built once.
var auditInserts = func() map[int]string {
	m := map[int]string{}
	for n := 1; n <= maxAuditRows; n *= 2 {
		m[n] = `INSERT INTO audit_events (` + auditColumns + `) VALUES ` + strings.Repeat(auditRow+", ", n-1) + auditRow
	}
	return m
}()

// listAuditEvents is planned once, as a scan of audit_events_time that
// filters as it goes (TestAuditListPlan), whatever the filters.
const listAuditEvents = `SELECT ` + auditColumns + ` FROM audit_events
		WHERE (?1 = '' OR org_uid = ?1)
		  AND (?2 = '' OR type = ?2)
		  AND (?3 = '' OR actor_uid = ?3 OR subject_uid = ?3)
		  AND (?4 IS NULL OR time < ?4 OR (time = ?4 AND id < ?5))
		ORDER BY time DESC, id DESC
		LIMIT ?6`

// ListAuditEvents implements store.AuditLog with one static, parameterized
// query whose empty filters match everything.
func (s *Store) ListAuditEvents(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	rows, err := s.rx.QueryContext(ctx, listAuditEvents,
		f.OrgUID, f.Type, f.UserUID, nullMicros(f.BeforeTime), f.BeforeID, store.AuditLimit(f.Limit))
	if err != nil {
		return nil, wrap("list audit events", err)
	}
	defer rows.Close()
	var es []store.AuditEvent
	for rows.Next() {
		e, err := scanAuditEvent(rows)
		if err != nil {
			return nil, wrap("list audit events", err)
		}
		es = append(es, e)
	}
	return es, wrap("list audit events", rows.Err())
}
