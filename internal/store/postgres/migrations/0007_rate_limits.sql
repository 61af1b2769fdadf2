-- Abuse limits shared by every tolk instance on the database: one token
-- bucket per key, stored as its theoretical arrival time (GCRA), the
-- instant at which the bucket is full again. A row whose instant has
-- passed equals no row and is swept. Keys are limiter names plus a user
-- name, client id or address, bounded in length by the application.
CREATE TABLE rate_limits (
    key text        NOT NULL PRIMARY KEY,
    tat timestamptz NOT NULL
);

CREATE INDEX rate_limits_tat ON rate_limits (tat);
