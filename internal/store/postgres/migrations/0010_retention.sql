-- Retention (SPEC §9): the sweeper finds expired web sessions by their
-- expiry, as it does every other expiring table, and one instance at a
-- time sweeps: it holds the lease named 'sweep' until expires_at,
-- renewing it while it works; another holder may take it only once it
-- has run out. A lease row rather than an advisory lock, so that SQLite
-- shares the mechanism and leadership stays with one instance between
-- sweeps.
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);

CREATE TABLE leases (
    name       text        NOT NULL PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);
