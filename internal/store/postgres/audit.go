package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlstore"
)

// ---- audit log (store.AuditLog) ----

const auditColumns = `id, time, type, actor_uid, client_id, subject_uid, org_uid, client_addr, request_id, outcome, details`

// detailsJSON encodes details as a JSON object, NULL when empty.
func detailsJSON(d map[string]string) (*string, error) {
	if len(d) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

func scanAuditEvent(r sqlstore.Row) (store.AuditEvent, error) {
	var (
		e       store.AuditEvent
		details *string
	)
	if err := r.Scan(&e.ID, &e.Time, &e.Type, &e.ActorUID, &e.ClientID, &e.SubjectUID, &e.OrgUID,
		&e.ClientAddr, &e.RequestID, &e.Outcome, &details); err != nil {
		return store.AuditEvent{}, err
	}
	e.Time = e.Time.UTC()
	if details != nil {
		if err := json.Unmarshal([]byte(*details), &e.Details); err != nil {
			return store.AuditEvent{}, fmt.Errorf("decode audit details: %w", err)
		}
		if len(e.Details) == 0 {
			e.Details = nil
		}
	}
	return e, nil
}

// AppendAuditEvent implements store.AuditLog.
func (s *Store) AppendAuditEvent(ctx context.Context, e store.AuditEvent) error {
	details, err := detailsJSON(e.Details)
	if err != nil {
		return wrap("append audit event", err)
	}
	// A fresh random id: the insert may run again after an attempt whose
	// answer was lost (insertOp).
	err = s.health.do(ctx, insertOp, func() error {
		_, err := s.pool.Exec(ctx, insertAuditEvent,
			e.ID, e.Time, e.Type, e.ActorUID, e.ClientID, e.SubjectUID, e.OrgUID,
			e.ClientAddr, e.RequestID, e.Outcome, details)
		return err
	})
	return wrap("append audit event", err)
}

const insertAuditEvent = `INSERT INTO audit_events (` + auditColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

// AppendAuditEvents implements store.AuditLog: multi-row INSERTs of
// power-of-two sizes (auditInserts), sent as one pipelined batch inside
// one transaction, one round trip and one commit for the whole batch. Only
// the high-volume events written behind the response come here, so it is
// an issuance write.
func (s *Store) AppendAuditEvents(ctx context.Context, es []store.AuditEvent) error {
	if len(es) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	rest := es
	for _, n := range store.BatchSizes(len(es), maxAuditRows) {
		args := make([]any, 0, n*auditCols)
		for _, e := range rest[:n] {
			details, err := detailsJSON(e.Details)
			if err != nil {
				return wrap("append audit events", err)
			}
			args = append(args, e.ID, e.Time, e.Type, e.ActorUID, e.ClientID, e.SubjectUID, e.OrgUID,
				e.ClientAddr, e.RequestID, e.Outcome, details)
		}
		b.Queue(auditInserts[n], args...)
		rest = rest[n:]
	}
	err := s.inIssueTx(ctx, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	return wrap("append audit events", err)
}

// maxAuditRows bounds one INSERT of audit events (11 parameters a row,
// far below PostgreSQL's 65535).
const (
	maxAuditRows = 64
	auditCols    = 11
)

// auditInserts[n] inserts n events, for every size store.BatchSizes makes
// (powers of two up to maxAuditRows), built once: one statement per size
// to prepare, where one per event cost an executor start per event.
var auditInserts = func() map[int]string {
	m := map[int]string{}
	for n := 1; n <= maxAuditRows; n *= 2 {
		m[n] = insertRows("audit_events", auditColumns, n, auditCols)
	}
	return m
}()

// ListAuditEvents implements store.AuditLog with one static, parameterized
// query whose empty filters match everything. Ids compare bytewise, as in
// SQLite.
func (s *Store) ListAuditEvents(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_events
		WHERE ($1::text = '' OR org_uid = $1)
		  AND ($2::text = '' OR type = $2)
		  AND ($3::text = '' OR actor_uid = $3 OR subject_uid = $3)
		  AND ($4::timestamptz IS NULL OR time < $4 OR (time = $4 AND id COLLATE "C" < $5::text))
		ORDER BY time DESC, id COLLATE "C" DESC
		LIMIT $6`,
		f.OrgUID, f.Type, f.UserUID, nullTime(f.BeforeTime), f.BeforeID, store.AuditLimit(f.Limit))
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
