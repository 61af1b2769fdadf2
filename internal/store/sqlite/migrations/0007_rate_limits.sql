-- Abuse limits shared by every process on the database: one token bucket
-- per key, stored as its theoretical arrival time (GCRA), the instant at
-- which the bucket is full again (INTEGER microseconds since the Unix
-- epoch, UTC). A row whose instant has passed equals no row and is swept.
-- Keys are limiter names plus a user name, client id or address, bounded
-- in length by the application (long keys are hashed).
CREATE TABLE rate_limits (
    key TEXT    NOT NULL PRIMARY KEY,
    tat INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX rate_limits_tat ON rate_limits (tat);
