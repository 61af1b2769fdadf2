-- Retention (SPEC §9): the sweeper finds expired web sessions by their
-- expiry, as it does every other expiring table, and one process at a
-- time sweeps: it holds the lease named 'sweep' until expires_at
-- (INTEGER microseconds since the Unix epoch, UTC), renewing it while it
-- works; another holder may take it only once it has run out.
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);

CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
