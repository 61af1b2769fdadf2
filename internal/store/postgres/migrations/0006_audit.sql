-- The audit log (issue 6): append-only security events, newest first by
-- (time, id). Users are referenced by plain uid, not by foreign key, so
-- that the log outlives what it describes. details is a small JSON object
-- of strings, NULL when empty; never a secret. ids compare bytewise
-- (COLLATE "C") as in SQLite.

CREATE TABLE audit_events (
    id          text        NOT NULL PRIMARY KEY,
    time        timestamptz NOT NULL,
    type        text        NOT NULL,
    actor_uid   text        NOT NULL,
    client_id   text        NOT NULL,
    subject_uid text        NOT NULL,
    org_uid     text        NOT NULL,
    client_addr text        NOT NULL,
    request_id  text        NOT NULL,
    outcome     text        NOT NULL,
    details     text
);

CREATE INDEX audit_events_time ON audit_events (time, id COLLATE "C");
CREATE INDEX audit_events_org ON audit_events (org_uid, time, id COLLATE "C");
CREATE INDEX audit_events_actor ON audit_events (actor_uid, time, id COLLATE "C");
CREATE INDEX audit_events_subject ON audit_events (subject_uid, time, id COLLATE "C");
