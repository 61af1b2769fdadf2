-- The audit log (issue 6): append-only security events, newest first by
-- (time, id). Times are INTEGER microseconds since the Unix epoch, UTC.
-- Users are referenced by plain uid, not by foreign key, so that the log
-- outlives what it describes. details is a small JSON object of strings,
-- NULL when empty; never a secret.

CREATE TABLE audit_events (
    id          TEXT    NOT NULL PRIMARY KEY,
    time        INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    actor_uid   TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    subject_uid TEXT    NOT NULL,
    org_uid     TEXT    NOT NULL,
    client_addr TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    details     TEXT
) STRICT;

CREATE INDEX audit_events_time ON audit_events (time, id);
CREATE INDEX audit_events_org ON audit_events (org_uid, time, id);
CREATE INDEX audit_events_actor ON audit_events (actor_uid, time, id);
CREATE INDEX audit_events_subject ON audit_events (subject_uid, time, id);
